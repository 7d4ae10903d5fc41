"""Mail last week's first-response SLA summary to the managers."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tickets.reports import send_weekly_summary
from tickets.sla_calendar import sla_time_zone


class Command(BaseCommand):
    help = (
        "Mail the SLA summary of the last full week (Monday to Sunday, SLA time zone) to every "
        "active user holding the 'Receives SLA breach alerts and the weekly SLA summary' "
        "permission."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--week-of",
            default="",
            help="Any date (YYYY-MM-DD) in the week to report; default: last week.",
        )

    def handle(self, *args: Any, week_of: str, **options: Any) -> None:
        now = timezone.now()
        if week_of:
            try:
                day = datetime.strptime(week_of, "%Y-%m-%d").date()
            except ValueError as error:
                raise CommandError(f"--week-of {week_of!r} is invalid; use YYYY-MM-DD.") from error
            # The summary covers the week before "now", so pretend it is the next week's Monday.
            now = datetime.combine(day + timedelta(days=7), time(8), tzinfo=sla_time_zone())
        count = send_weekly_summary(now=now)
        self.stdout.write(f"Weekly SLA summary sent to {count} manager(s).")
