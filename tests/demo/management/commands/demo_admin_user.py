import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create (or reset) the demo's superuser: demo, password from DJANGO_SUPERUSER_PASSWORD (default demo)."

    def handle(self, *args: Any, **options: Any) -> None:
        user, created = get_user_model().objects.get_or_create(
            username="demo", defaults={"email": "demo@example.com", "is_staff": True, "is_superuser": True}
        )
        user.is_staff = user.is_superuser = True
        user.set_password(os.environ.get("DJANGO_SUPERUSER_PASSWORD", "demo"))
        user.save()
        self.stdout.write(f"{'created' if created else 'reset'} the demo login: demo")
