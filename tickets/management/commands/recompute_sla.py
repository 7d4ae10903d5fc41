"""Recompute stored SLA timers from the tickets' history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tickets.models import Ticket
from tickets.sla_calendar import invalidate_calendar
from tickets.sla_scheduler import recompute_open_timers
from tickets.sla_sync import refresh_tickets_sla


class Command(BaseCommand):
    help = (
        "Recompute every SLA timer that has not stopped (running, paused, breached without a "
        "reply), or the given tickets. Stopped timers keep their stored outcome."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tickets", nargs="*", help="Ticket numbers such as 1042 or IL-1042.")

    def handle(self, *args: Any, tickets: list[str], **options: Any) -> None:
        invalidate_calendar()
        now = timezone.now()
        if not tickets:
            count = recompute_open_timers(now=now)
            self.stdout.write(f"Recomputed {count} open SLA timer(s).")
            return
        ids = [_ticket_id(value) for value in tickets]
        found = list(Ticket.objects.filter(pk__in=ids))
        missing = sorted(set(ids) - {ticket.pk for ticket in found})
        if missing:
            raise CommandError(f"Tickets not found: {', '.join(f'IL-{pk}' for pk in missing)}.")
        report = refresh_tickets_sla(found, now=now)
        self.stdout.write(
            f"Recomputed {report.evaluated} ticket(s); {len(found) - report.evaluated} had "
            "stopped timers and were kept."
        )


def _ticket_id(value: str) -> int:
    text = value.strip().upper().removeprefix("IL-")
    if not text.isdigit():
        raise CommandError(f"Ticket {value!r} is invalid; write a number such as 1042 or IL-1042.")
    return int(text)
