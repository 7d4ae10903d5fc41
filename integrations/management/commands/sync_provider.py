"""Poll one desk or chat connection now, or backfill it from a date."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from integrations.models import Connection
from integrations.sync import SyncReport, sync_connection


class Command(BaseCommand):
    help = (
        "Fetch the tickets a desk or chat connection changed since its saved cursor, or since "
        "--since, and apply them to the queue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "name", help="Connection name, or a provider name when it has one connection."
        )
        parser.add_argument(
            "--since",
            help="Backfill from this date or time (ISO 8601; a date means its midnight in "
            "TIME_ZONE) instead of the saved cursor.",
        )
        parser.add_argument(
            "--max-pages", type=int, default=None, help="Stop after this many pages (default: all)."
        )

    def handle(
        self, *args: Any, name: str, since: str | None, max_pages: int | None, **options: Any
    ) -> None:
        connection = self._connection(name)
        if not connection.enabled:
            raise CommandError(
                f"Connection {connection.name!r} is disabled; enable it in admin first."
            )
        start = _parse_since(since) if since else None
        where = f"from {start.isoformat()}" if start else "from the saved cursor"
        self.stdout.write(f"Polling {connection.name} ({connection.provider}) {where}…")

        report = sync_connection(
            connection, since=start, max_pages=max_pages, progress=self._progress
        )

        if report.busy:
            raise CommandError(f"{connection.name}: another poll is running; try again later.")
        self.stdout.write(report.summary())
        if report.error:
            raise CommandError(f"{connection.name}: the poll stopped: {report.error}")

    def _progress(self, report: SyncReport) -> None:
        self.stdout.write(
            f"  page {report.pages}: {report.seen} seen, {report.fetched} fetched, "
            f"{report.applied} applied, {report.unchanged} unchanged, {report.failed} failed"
        )

    def _connection(self, name: str) -> Connection:
        found = Connection.objects.filter(name=name).first()
        if found is not None:
            return found
        by_provider = list(Connection.objects.filter(provider=name))
        if len(by_provider) == 1:
            return by_provider[0]
        if by_provider:
            names = ", ".join(sorted(c.name for c in by_provider))
            raise CommandError(f"{name!r} has several connections ({names}); give one name.")
        raise CommandError(
            f"No connection or provider is named {name!r}; see Sources → Connections in admin."
        )


def _parse_since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(
                f"--since {value!r} is invalid; use 2025-03-10 or 2025-03-10T08:00:00+02:00."
            )
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
