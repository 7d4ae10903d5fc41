"""Run the SLA scheduler once: re-evaluate due timers, record alerts and send them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tickets.sla_scheduler import run_sla_scheduler


class Command(BaseCommand):
    help = "Run the SLA scheduler once, as Celery beat does every minute."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-send",
            action="store_true",
            help="Record alerts and escalations but leave the sending to the next run.",
        )
        parser.add_argument(
            "--at",
            default="",
            help="Evaluate at this ISO 8601 instant with offset instead of now (for rehearsals).",
        )

    def handle(self, *args: Any, no_send: bool, at: str, **options: Any) -> None:
        now = timezone.now()
        if at:
            try:
                now = datetime.fromisoformat(at)
            except ValueError as error:
                raise CommandError(
                    f"--at {at!r} is invalid; use e.g. 2026-12-04T10:00:00+02:00."
                ) from error
            if now.utcoffset() is None:
                raise CommandError(f"--at {at!r} has no UTC offset; add one such as +02:00.")
        report = run_sla_scheduler(now=now, deliver=not no_send)
        self.stdout.write(f"SLA scheduler: {report.summary()}.")
