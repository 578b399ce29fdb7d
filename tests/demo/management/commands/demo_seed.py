from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from users.models import User

from demo.seed import seed


class Command(BaseCommand):
    help = "Load the demo data set into the test project (once; a second call keeps what is there)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=2000, help="scale: about 55 rows per user")

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.exists():
            self.stdout.write("demo data already loaded")
            return
        created = seed(users=options["users"])
        self.stdout.write(f"loaded {sum(created.values()):,} rows")
