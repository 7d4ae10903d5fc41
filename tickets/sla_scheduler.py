"""The SLA scheduler run: re-evaluate the tickets whose next check has come, then send alerts.

Celery beat runs it every minute (`tickets.tasks.sla_tick`); `manage.py sla_tick` runs it once.
Two runs at the same time share the work: on PostgreSQL each locks its batch of tickets with
SKIP LOCKED, and every alert is a unique (ticket, kind, level) row claimed once for sending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from tickets.models import SlaState, Ticket
from tickets.notifications import DeliveryReport, deliver_due_notifications
from tickets.sla_sync import RefreshReport, refresh_tickets_sla

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
# Fields the evaluation reads; the rest of the ticket row stays in the database.
_TICKET_FIELDS = (
    "id",
    "channel",
    "category",
    "status",
    "assignee_id",
    "escalation_level",
    "tags",
    "created_in_source_at",
    "received_at",
    "updated_at",
    "sla_policy",
    "sla_state",
    "sla_started_at",
    "sla_due_at",
    "sla_warning_at",
    "sla_responded_at",
    "sla_business_minutes",
    "sla_next_check_at",
    "sla_stopped_at",
    "sla_alert_step",
)


@dataclass
class SchedulerReport:
    batches: int = 0
    refresh: RefreshReport = field(default_factory=RefreshReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def summary(self) -> str:
        refresh, delivery = self.refresh, self.delivery
        return (
            f"checked {refresh.evaluated} ticket(s) in {self.batches} batch(es), "
            f"{refresh.changed} changed, {refresh.alerts_recorded} alert(s) recorded, "
            f"{refresh.escalated} escalated; sent {delivery.sent}, failed {delivery.failed}, "
            f"abandoned {delivery.abandoned}, skipped {delivery.skipped}"
        )


def run_sla_scheduler(
    *, now: datetime, batch_size: int = BATCH_SIZE, deliver: bool = True
) -> SchedulerReport:
    """Re-evaluate every ticket due for a check at `now`, record its alerts, then send them."""
    report = SchedulerReport()
    while True:
        processed = check_due_tickets(now=now, limit=batch_size, report=report.refresh)
        if processed:
            report.batches += 1
        if processed < batch_size:
            break
    if deliver:
        report.delivery = deliver_due_notifications(now=now)
    if report.refresh.evaluated or report.delivery.claimed:
        logger.info("sla scheduler at %s: %s", now.isoformat(), report.summary())
    return report


def check_due_tickets(*, now: datetime, limit: int, report: RefreshReport) -> int:
    """Lock and refresh up to `limit` tickets whose next check is at or before `now`.

    Returns how many were taken. Each refreshed ticket's next check moves past `now` (or is
    cleared), so a following call takes the next ones.
    """
    with transaction.atomic():
        due = (
            Ticket.objects.filter(sla_next_check_at__lte=now)
            .order_by("sla_next_check_at", "id")
            .only(*_TICKET_FIELDS)
        )
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True, of=("self",))
        tickets = list(due[:limit])
        if not tickets:
            return 0
        batch = refresh_tickets_sla(tickets, now=now, record_alerts=True)
    for name in ("evaluated", "changed", "stopped", "alerts_recorded", "escalated"):
        setattr(report, name, getattr(report, name) + getattr(batch, name))
    return len(tickets)


def recompute_open_timers(*, now: datetime, batch_size: int = BATCH_SIZE) -> int:
    """Recompute every timer that has not stopped (after a holiday edit); returns the count.

    Running, paused and breached-but-unanswered timers follow the new calendar. Stopped
    timers keep the figures stored when they stopped.
    """
    done = 0
    last_id = 0
    open_states = [SlaState.RUNNING, SlaState.PAUSED, SlaState.BREACHED]
    while True:
        with transaction.atomic():
            batch_query = (
                Ticket.objects.filter(
                    sla_state__in=open_states, sla_stopped_at__isnull=True, id__gt=last_id
                )
                .order_by("id")
                .only(*_TICKET_FIELDS)
            )
            if connection.vendor == "postgresql":
                batch_query = batch_query.select_for_update(of=("self",))
            tickets = list(batch_query[:batch_size])
            if not tickets:
                return done
            refresh_tickets_sla(tickets, now=now)
        done += len(tickets)
        last_id = tickets[-1].pk
