"""Mail the unsent retention alerts to ADMINS, and mark them sent.

Each alert is locked, mailed and marked in one transaction: a failed mail leaves it unsent for the
next call, a concurrent call skips it (SKIP LOCKED), so an alert is neither lost nor sent twice.
"""

from __future__ import annotations

from typing import Any

from django.core.mail import mail_admins
from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from django_pg_retention import config
from django_pg_retention.models import RetentionAlert


class Command(BaseCommand):
    help = "Mail unsent retention alerts (failed, timed-out or large runs) to ADMINS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if not config.cleanup_config().enable_notifications:
            self.stdout.write("enable_notifications is False: nothing sent")
            return
        sent = 0
        while True:
            with transaction.atomic(using=using):
                alert = (
                    RetentionAlert.objects.using(using)
                    .select_for_update(skip_locked=True)
                    .filter(sent_at__isnull=True)
                    .order_by("id")
                    .first()
                )
                if alert is None:
                    break
                mail_admins(f"[retention] {alert.kind.replace('_', ' ')}: run {alert.run_id}", alert.message)
                alert.sent_at = timezone.now()
                alert.save(using=using, update_fields=["sent_at"])
                sent += 1
        self.stdout.write(f"{sent} alert(s) sent")
