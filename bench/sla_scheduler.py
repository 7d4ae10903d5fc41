"""Measure one SLA scheduler run over 100,000 open tickets in PostgreSQL.

Run from the repository root, under the test servers (PostgreSQL on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/sla_scheduler.py [--tickets 100000]

The script migrates the throwaway database and bulk-inserts open tickets, each with one
customer message and two history events, and four escalation levels with one address each.
All tickets are running BH timers. For each share of due tickets (1 % and 2 % by default), the
due ones started 100 business minutes before the run, so their at-risk warning has passed
and each gets one alert. The others started 20 minutes before the run and are not due.
Each measured run happens in a transaction that is rolled back, so every repeat starts from
the same data.

It prints the wall time of the two phases and their sum, and the SQL queries of each,
counted with django.test.utils.CaptureQueriesContext. "evaluate" is what the beat task
sla_tick does: lock the due tickets, re-evaluate them, store the timers and record one alert
row each. "deliver" is the separate delivery task: claim the rows and send one e-mail each
to Django's in-memory backend, so it leaves out any mail server's latency.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAST = ZoneInfo("Africa/Johannesburg")
# Wednesday 2 Dec 2026, 13:00 SAST: business hours, no public holiday that week.
NOW = datetime(2026, 12, 2, 13, 0, tzinfo=SAST)
DUE_START = NOW - timedelta(minutes=100)
FRESH_START = NOW - timedelta(minutes=20)


class Rollback(Exception):
    """Raised to undo a measured run."""


def populate(tickets: int, due_pool: int) -> list[int]:
    """Insert open tickets; the first `due_pool` ids may be made due. Returns those ids."""
    from django.db import connection

    from tickets.models import (
        AuthorKind,
        Channel,
        Contact,
        Direction,
        EscalationLevelConfig,
        Message,
        SlaState,
        Source,
        Status,
        Ticket,
        TicketEvent,
    )

    for level in (1, 2, 3, 4):
        EscalationLevelConfig.objects.create(
            level=level, name=f"L{level}", extra_addresses=f"level{level}@impactlink.org"
        )
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Donor {n}", email=f"donor{n}@example.org") for n in range(1000)]
    )
    pool: list[int] = []
    for start in range(0, tickets, 5000):
        batch = []
        for number in range(start, min(start + 5000, tickets)):
            started = DUE_START if number < due_pool else FRESH_START
            batch.append(
                Ticket(
                    source=Source.EMAIL,
                    channel=Channel.EMAIL,
                    subject=f"Debit order ran twice {number}",
                    status=Status.OPEN,
                    contact=contacts[number % len(contacts)],
                    created_in_source_at=started,
                    received_at=started,
                    last_message_at=started,
                    message_count=1,
                    sla_policy="BH",
                    sla_state=SlaState.RUNNING,
                    sla_started_at=started,
                    sla_due_at=started + timedelta(minutes=120),
                    sla_warning_at=started + timedelta(minutes=90),
                    sla_business_minutes=0,
                    sla_next_check_at=started + timedelta(minutes=90, microseconds=1),
                )
            )
        created = Ticket.objects.bulk_create(batch)
        pool += [ticket.pk for ticket in created[: max(0, due_pool - start)]]
        Message.objects.bulk_create(
            [
                Message(
                    ticket=ticket,
                    source=Source.EMAIL,
                    direction=Direction.INBOUND,
                    author_kind=AuthorKind.CUSTOMER,
                    author_contact_id=ticket.contact_id,
                    subject=ticket.subject,
                    body_text="My R250 debit order ran twice this month.",
                    sent_at=ticket.received_at,
                    received_at=ticket.received_at,
                )
                for ticket in created
            ]
        )
        TicketEvent.objects.bulk_create(
            [
                TicketEvent(
                    ticket=ticket, kind=kind, actor_label="bench", occurred_at=ticket.received_at
                )
                for ticket in created
                for kind in (TicketEvent.Kind.CREATED, TicketEvent.Kind.CATEGORY)
            ]
        )
        print(f"  inserted {start + len(batch)} tickets", end="\r", flush=True)
    print()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return pool


def measured_run(due_ids: list[int], *, count_queries: bool) -> dict[str, float]:
    """Make `due_ids` due, run the scheduler once and roll everything back."""
    from django.core import mail
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tickets.models import Ticket
    from tickets.notifications import deliver_due_notifications
    from tickets.sla_scheduler import BATCH_SIZE, check_due_tickets
    from tickets.sla_sync import RefreshReport

    figures: dict[str, float] = {}
    try:
        with transaction.atomic():
            # Tickets outside the due set keep their future check.
            Ticket.objects.filter(pk__in=due_ids).update(
                sla_next_check_at=DUE_START + timedelta(minutes=90, microseconds=1)
            )
            Ticket.objects.exclude(pk__in=due_ids).filter(sla_started_at=DUE_START).update(
                sla_next_check_at=NOW + timedelta(days=1)
            )
            report = RefreshReport()
            with CaptureQueriesContext(connection) as evaluation_queries:
                begin = time.perf_counter()
                while check_due_tickets(now=NOW, limit=BATCH_SIZE, report=report) == BATCH_SIZE:
                    pass
                evaluated = time.perf_counter()
            with CaptureQueriesContext(connection) as delivery_queries:
                delivery = deliver_due_notifications(now=NOW)
                delivered = time.perf_counter()
            if report.evaluated != len(due_ids) or delivery.sent != len(due_ids):
                raise SystemExit(
                    f"error: expected {len(due_ids)} tickets and alerts, got "
                    f"{report.evaluated} evaluated and {delivery.sent} sent"
                )
            figures = {
                "evaluate_s": evaluated - begin,
                "deliver_s": delivered - evaluated,
                "total_s": delivered - begin,
                "evaluate_queries": len(evaluation_queries.captured_queries),
                "deliver_queries": len(delivery_queries.captured_queries),
            }
            raise Rollback
    except Rollback:
        pass
    mail.outbox.clear()
    if not count_queries:
        figures.pop("evaluate_queries")
        figures.pop("deliver_queries")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="Open tickets to insert.")
    parser.add_argument(
        "--due", type=float, nargs="+", default=[1.0, 2.0], help="Due shares in percent."
    )
    parser.add_argument("--repeats", type=int, default=5, help="Timed runs per due share.")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("error: DATABASE_URL must name PostgreSQL; run under `python -m tests.servers`.")
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impactsupport.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from tickets.sla_calendar import current_calendar

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # One INFO line per sent alert would time the terminal, not the scheduler.
    logging.getLogger("tickets").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    largest = max(round(args.tickets * share / 100) for share in args.due)
    print(f"Inserting {args.tickets} open tickets…")
    pool = populate(args.tickets, largest)
    current_calendar()

    print(
        f"\nPython {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
        f"PostgreSQL on loopback; {args.tickets} open tickets; median of {args.repeats} runs\n"
    )
    print(f"{'due':>6} {'tickets':>8} {'evaluate s':>11} {'deliver s':>10} {'total s':>8} "
          f"{'queries (evaluate + deliver)':>30}")
    for share in args.due:
        due_ids = pool[: round(args.tickets * share / 100)]
        counted = measured_run(due_ids, count_queries=True)
        runs = [measured_run(due_ids, count_queries=False) for _ in range(args.repeats)]
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{share:>5g}% {len(due_ids):>8} {median['evaluate_s']:>11.3f} "
            f"{median['deliver_s']:>10.3f} {median['total_s']:>8.3f} "
            f"{counted['evaluate_queries']:>14.0f} + {counted['deliver_queries']:.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
