"""Purge chat transcripts older than the retention period, keeping tombstones in the chain."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chat.transcripts import purge_expired_transcripts


class Command(BaseCommand):
    help = (
        "Empty the text and JSON of chat transcripts older than CHAT_TRANSCRIPT_RETENTION_DAYS "
        "(or --days). Their rows and hashes stay, so verify_transcripts still passes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Retention in days; defaults to CHAT_TRANSCRIPT_RETENTION_DAYS (0 keeps all).",
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        retention = settings.CHAT_TRANSCRIPT_RETENTION_DAYS if days is None else days
        if retention < 0:
            raise CommandError(f"--days={retention} is invalid; use a positive number of days.")
        if retention == 0:
            self.stdout.write(
                "Retention is 0 days, which keeps transcripts for ever; nothing purged."
            )
            return
        purged = purge_expired_transcripts(retention_days=retention)
        self.stdout.write(f"Purged {purged} transcript(s) older than {retention} days.")
