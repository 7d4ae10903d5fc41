"""Two scheduler runs at the same instant on PostgreSQL send each alert exactly once."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.db import connection

from tests.tickets.sla_helpers import fresh_calendar, open_ticket, sast
from tickets.models import EscalationLevelConfig, SlaNotification, Ticket, TicketEvent
from tickets.sla_scheduler import SchedulerReport, run_sla_scheduler

__all__ = ["fresh_calendar"]

TICKETS = 40


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_send_once(requires_postgres: None) -> None:
    for level in (1, 2):
        EscalationLevelConfig.objects.create(
            level=level, name=f"L{level}", extra_addresses=f"level{level}@impactlink.org"
        )
    for _ in range(TICKETS):
        open_ticket("2026-12-01 10:00")
    now = sast("2026-12-01 13:01")
    start = threading.Barrier(2)
    reports: list[SchedulerReport] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            # Small batches make the two runs interleave batch by batch.
            reports.append(run_sla_scheduler(now=now, batch_size=7))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(reports) == 2
    assert sum(report.refresh.evaluated for report in reports) == TICKETS
    # Per ticket: the warning is skipped (it passed with the breach), breach and L2 are sent.
    assert SlaNotification.objects.count() == 3 * TICKETS
    assert SlaNotification.objects.filter(state="sent").count() == 2 * TICKETS
    assert len(mail.outbox) == 2 * TICKETS
    subjects = sorted(message.subject for message in mail.outbox)
    assert len(set(subjects)) == len(subjects)
    assert sum(report.delivery.sent for report in reports) == 2 * TICKETS
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.ESCALATION).count() == TICKETS
    assert set(Ticket.objects.values_list("escalation_level", flat=True)) == {2}
