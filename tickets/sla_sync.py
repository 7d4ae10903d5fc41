"""Keep each ticket's stored SLA timer in step with its history.

`refresh_ticket_sla` is called by tickets.services after every message and status change;
the scheduler calls `refresh_tickets_sla` for the tickets whose next check has come. Both
replay the ticket's messages and status events through the pure `tickets.sla.evaluate_sla`
and store the result on the Ticket. A timer that stops is stored once more as an SlaOutcome
and never recomputed afterwards.

Alerts and escalations are recorded only by the scheduler (`record_alerts=True`). A refresh
from services that finds a threshold already passed sets the next check to now, so the
scheduler's next run records the alert.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from tickets import escalation
from tickets.bulk_writes import update_rows
from tickets.business_calendar import to_microseconds
from tickets.models import (
    AuthorKind,
    Direction,
    Message,
    MessageKind,
    SlaNotification,
    SlaOutcome,
    Status,
    Ticket,
    TicketEvent,
)
from tickets.sla import STATE_BREACHED, STATE_CANCELLED, SlaEvent, SlaResult, evaluate_sla
from tickets.sla_calendar import current_calendar, current_sla_settings, local_date

logger = logging.getLogger(__name__)

# Sources put this tag on tickets from a history import. Their alerts for thresholds that had
# passed before the hub stored the ticket (Ticket.received_at) are recorded as suppressed.
BACKFILL_TAG = "backfill"

# Addresses of automated senders: their "replies" are never a first response.
_AUTOMATED_SENDER = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|notifications?|automation)"
    r"([+@]|$)",
    re.IGNORECASE,
)

# The ticket status each status event leaves behind, as an SLA event kind. A move back to
# open from solved or closed is a reopen.
_STATUS_EVENT_KIND: dict[str, str] = {
    Status.PENDING_CUSTOMER: "pending",
    Status.ON_HOLD: "on_hold",
    Status.SOLVED: "solved",
    Status.CLOSED: "closed",
    Status.OPEN: "open",
    Status.NEW: "open",
}
_STOPPED_STATUSES = {Status.SOLVED, Status.CLOSED}

_SLA_FIELDS = [
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
]


@dataclass
class TicketHistory:
    """A ticket's SLA events, and who sent each message that could be the first response."""

    events: list[SlaEvent] = field(default_factory=list)
    # Response instant (epoch microseconds) -> the agent user who sent it, if known.
    responders: dict[int, int | None] = field(default_factory=dict)
    cancelled_at: list[datetime] = field(default_factory=list)


@dataclass
class RefreshReport:
    """Counts from one refresh pass, for logs and tests."""

    evaluated: int = 0
    changed: int = 0
    stopped: int = 0
    alerts_recorded: int = 0
    escalated: int = 0


def refresh_ticket_sla(
    ticket: Ticket, *, now: datetime, history: TicketHistory | None = None
) -> None:
    """Recompute one ticket's timer from its history and store it; updates `ticket` in place.

    history, when given, replaces reading the ticket's history from the database.
    """
    refresh_tickets_sla(
        [ticket], now=now, histories={ticket.pk: history} if history is not None else None
    )


def opening_history(ticket: Ticket, message: Message) -> TicketHistory:
    """Return the history of a ticket opened in this transaction with `message` its only one.

    Such a ticket has no status events, so this equals what load_histories would read.
    """
    history = _new_history(ticket)
    _add_message(
        history,
        sent_at=message.sent_at,
        direction=message.direction,
        author_kind=message.author_kind,
        is_public=message.is_public,
        kind=message.kind,
        author_email=message.author_email,
        author_user_id=message.author_user_id,
        channel=message.channel,
    )
    _add_initial_status(history, ticket, ticket.status)
    return history


def refresh_tickets_sla(
    tickets: Sequence[Ticket],
    *,
    now: datetime,
    record_alerts: bool = False,
    histories: dict[int, TicketHistory] | None = None,
) -> RefreshReport:
    """Recompute the timers of `tickets` at `now` in a fixed number of queries.

    Reads the messages and the status events of all tickets in one query each, unless
    `histories` contains each ticket's history, then writes the changed tickets in one bulk
    update. Stopped timers are skipped. With `record_alerts`,
    it also records an SlaNotification row for each newly passed threshold and raises the
    escalation level. The caller must then hold the tickets' rows locked, as the scheduler does.
    """
    report = RefreshReport()
    todo = [ticket for ticket in tickets if _needs_evaluation(ticket, record_alerts=record_alerts)]
    if not todo:
        return report

    if histories is None:
        histories = load_histories(todo)
    calendar = current_calendar()
    settings = current_sla_settings()
    changed: list[Ticket] = []
    stopping: list[tuple[Ticket, SlaResult, TicketHistory]] = []
    events: list[TicketEvent] = []
    alerts: list[tuple[Ticket, list[escalation.AlertPlan]]] = []

    for ticket in todo:
        history = histories[ticket.pk]
        try:
            result = evaluate_sla(
                created_at=ticket.created_in_source_at,
                channel=ticket.channel,
                events=history.events,
                calendar=calendar,
                settings=settings,
                now=now,
            )
        except ValueError:
            # The rules reject this stored history. Clearing the next check stops the
            # scheduler from retrying it every minute.
            logger.exception("sla evaluation failed for ticket %s; stored timer kept", ticket.pk)
            if ticket.sla_next_check_at is not None:
                ticket.sla_next_check_at = None
                changed.append(ticket)
            continue
        report.evaluated += 1
        before = [getattr(ticket, name) for name in _SLA_FIELDS]
        thresholds = escalation.passed_thresholds(result)

        if ticket.sla_stopped_at is None:
            old_state = ticket.sla_state
            _apply_result(ticket, result, history, thresholds, now=now, record_alerts=record_alerts)
            if ticket.sla_state != old_state:
                events.append(_state_event(ticket, result, old_state, now=now))
            if ticket.sla_stopped_at is not None:
                stopping.append((ticket, result, history))
        else:
            # Stopped before the scheduler recorded its last alerts: its figures stay frozen.
            ticket.sla_next_check_at = None

        if record_alerts:
            plans = escalation.plan_alerts(
                thresholds,
                recorded_step=ticket.sla_alert_step,
                imported_at=ticket.received_at if BACKFILL_TAG in (ticket.tags or []) else None,
                stopped=ticket.sla_stopped_at is not None,
            )
            if plans:
                alerts.append((ticket, plans))
                ticket.sla_alert_step = escalation.last_step(thresholds)

        if [getattr(ticket, name) for name in _SLA_FIELDS] != before:
            changed.append(ticket)

    if alerts:
        _record_alerts(alerts, events, now=now, report=report)
    if changed:
        update_rows(changed, _SLA_FIELDS)
    if stopping:
        outcomes = [_outcome(ticket, result, history) for ticket, result, history in stopping]
        SlaOutcome.objects.bulk_create(outcomes, ignore_conflicts=True)
    if events:
        TicketEvent.objects.bulk_create(events)
    report.changed = len(changed)
    report.stopped = len(stopping)
    return report


def _needs_evaluation(ticket: Ticket, *, record_alerts: bool) -> bool:
    """Return whether to evaluate: a stopped timer only while it has alerts to record."""
    if ticket.sla_stopped_at is None:
        return True
    return record_alerts and ticket.sla_next_check_at is not None


# ---------------------------------------------------------------- history


def load_histories(tickets: Sequence[Ticket]) -> dict[int, TicketHistory]:
    """Return each ticket's SLA events, reading messages and status events in one query each."""
    by_id = {ticket.pk: ticket for ticket in tickets}
    histories = {ticket.pk: _new_history(ticket) for ticket in tickets}

    messages = (
        Message.objects.filter(ticket_id__in=list(by_id))
        .order_by("sent_at", "id")
        .values_list(
            "ticket_id", "sent_at", "direction", "author_kind", "is_public", "kind",
            "author_email", "author_user_id", "channel",
        )
    )
    for ticket_id, sent_at, direction, author, public, kind, email, user_id, channel in messages:
        _add_message(
            histories[ticket_id],
            sent_at=sent_at,
            direction=direction,
            author_kind=author,
            is_public=public,
            kind=kind,
            author_email=email,
            author_user_id=user_id,
            channel=channel,
        )

    status_rows = (
        TicketEvent.objects.filter(
            Q(kind__in=[TicketEvent.Kind.STATUS, TicketEvent.Kind.MERGED, TicketEvent.Kind.SPAM]),
            ticket_id__in=list(by_id),
        )
        .order_by("occurred_at", "id")
        .values_list("ticket_id", "kind", "old_value", "new_value", "occurred_at")
    )
    first_status: dict[int, str] = {}
    for ticket_id, kind, old_value, new_value, occurred_at in status_rows:
        history = histories[ticket_id]
        if kind == TicketEvent.Kind.STATUS:
            first_status.setdefault(ticket_id, old_value)
            status_kind = status_event_kind(old_value, new_value)
            if status_kind is not None:
                history.events.append(SlaEvent(status_kind, occurred_at))
        else:
            cancel_kind = "merged" if kind == TicketEvent.Kind.MERGED else "spam"
            history.events.append(SlaEvent(cancel_kind, occurred_at))
            history.cancelled_at.append(occurred_at)

    for pk, ticket in by_id.items():
        _add_initial_status(histories[pk], ticket, first_status.get(pk, ticket.status))
    return histories


def _new_history(ticket: Ticket) -> TicketHistory:
    return TicketHistory(events=[SlaEvent("received", ticket.received_at)])


def _add_message(
    history: TicketHistory,
    *,
    sent_at: datetime,
    direction: str,
    author_kind: str,
    is_public: bool,
    kind: str,
    author_email: str,
    author_user_id: int | None,
    channel: str,
) -> None:
    for event_kind in message_event_kinds(
        direction=direction,
        author_kind=author_kind,
        is_public=is_public,
        kind=kind,
        author_email=author_email,
    ):
        history.events.append(SlaEvent(event_kind, sent_at, channel))
        if event_kind in ("agent_public_reply", "agent_call"):
            history.responders.setdefault(to_microseconds(sent_at), author_user_id)


def _add_initial_status(history: TicketHistory, ticket: Ticket, first_status: str) -> None:
    # A ticket may be stored already pending or solved (a desk import) with no status
    # event. That status applies from creation, after the customer's opening message,
    # which would otherwise end the pause. Appended last, it sorts after events at that
    # instant.
    initial_kind = _STATUS_EVENT_KIND.get(first_status)
    if initial_kind is not None and initial_kind != "open":
        opening = [event.at for event in history.events if event.kind == "customer_reply"]
        since = max([ticket.created_in_source_at, *opening[:1]])
        history.events.append(SlaEvent(initial_kind, since))


def message_event_kinds(
    *, direction: str, author_kind: str, is_public: bool, kind: str, author_email: str
) -> list[str]:
    """Return the SLA event kinds one stored message stands for (often one, sometimes none)."""
    human = author_kind in (AuthorKind.AGENT, AuthorKind.CUSTOMER)
    if kind == MessageKind.CALL and human:
        # A connected call is a first response. An inbound call answered live is also the
        # customer's message, so it both starts the clock and answers it.
        if direction == Direction.INBOUND and author_kind == AuthorKind.CUSTOMER:
            return ["customer_reply", "agent_call"]
        return ["agent_call"]
    if not is_public:
        return ["internal_note"]
    if direction == Direction.INBOUND:
        if author_kind == AuthorKind.CUSTOMER and kind == MessageKind.NORMAL:
            return ["customer_reply"]
        # Out-of-office replies, bounces and list mail neither end a pause nor count.
        return []
    if kind == MessageKind.AUTO_ACK:
        return ["auto_ack"]
    if kind != MessageKind.NORMAL or author_kind != AuthorKind.AGENT:
        return ["bot_reply"]
    if _AUTOMATED_SENDER.match(author_email.strip()):
        return ["bot_reply"]
    return ["agent_public_reply"]


def status_event_kind(old_status: str, new_status: str) -> str | None:
    kind = _STATUS_EVENT_KIND.get(new_status)
    if kind == "open" and old_status in _STOPPED_STATUSES:
        return "reopened"
    return kind


# ---------------------------------------------------------------- storing the result


def _apply_result(
    ticket: Ticket,
    result: SlaResult,
    history: TicketHistory,
    thresholds: Sequence[escalation.Threshold],
    *,
    now: datetime,
    record_alerts: bool,
) -> None:
    ticket.sla_policy = result.policy or ""
    ticket.sla_state = result.state or ""
    ticket.sla_started_at = result.started_at
    ticket.sla_due_at = result.due_at
    ticket.sla_warning_at = result.warning_at
    ticket.sla_responded_at = result.responded_at
    ticket.sla_business_minutes = result.business_minutes if result.policy else None
    ticket.sla_stopped_at = _stopped_at(result, history)

    next_check = result.next_check_at
    if not record_alerts and escalation.last_step(thresholds) > ticket.sla_alert_step:
        # A threshold passed that has no alert row yet; the scheduler records it next run.
        next_check = now
    ticket.sla_next_check_at = next_check


def _stopped_at(result: SlaResult, history: TicketHistory) -> datetime | None:
    """Return when the timer stopped: the first response, or a merge or spam mark."""
    if result.responded_at is not None:
        return result.responded_at
    if result.state in (STATE_CANCELLED, STATE_BREACHED) and history.cancelled_at:
        # A breached timer stops at a later merge or spam mark but stays breached.
        assert result.started_at is not None
        return max(min(history.cancelled_at), result.started_at)
    return None


def _state_event(
    ticket: Ticket, result: SlaResult, old_state: str, *, now: datetime
) -> TicketEvent:
    if result.state == STATE_BREACHED and result.breached_at is not None:
        occurred_at = result.breached_at
    elif not old_state and result.started_at is not None:
        occurred_at = result.started_at
    elif result.responded_at is not None:
        occurred_at = result.responded_at
    else:
        occurred_at = now
    due = result.due_at.isoformat(timespec="minutes") if result.due_at else "none while paused"
    return TicketEvent(
        ticket=ticket,
        kind=TicketEvent.Kind.SLA,
        actor_label="sla",
        old_value=old_state,
        new_value=ticket.sla_state,
        reason=f"first-response timer {ticket.sla_state or 'none'}; policy "
        f"{result.policy or '-'}, due {due}",
        data={"policy": result.policy or "", "business_minutes": result.business_minutes},
        occurred_at=occurred_at,
    )


def _outcome(ticket: Ticket, result: SlaResult, history: TicketHistory) -> SlaOutcome:
    assert result.started_at is not None and ticket.sla_stopped_at is not None
    agent_id = None
    if result.responded_at is not None:
        agent_id = history.responders.get(to_microseconds(result.responded_at))
    return SlaOutcome(
        ticket=ticket,
        policy=result.policy or "",
        state=result.state or "",
        channel=ticket.channel,
        category=ticket.category,
        agent_id=agent_id or ticket.assignee_id,
        started_at=result.started_at,
        started_on=local_date(result.started_at),
        due_at=result.due_at,
        responded_at=result.responded_at,
        breached_at=result.breached_at,
        stopped_at=ticket.sla_stopped_at,
        business_minutes=result.business_minutes,
        escalation_level=ticket.escalation_level,
    )


# ---------------------------------------------------------------- alerts (scheduler only)


def _record_alerts(
    alerts: Iterable[tuple[Ticket, list[escalation.AlertPlan]]],
    events: list[TicketEvent],
    *,
    now: datetime,
    report: RefreshReport,
) -> None:
    """Insert the alert rows and raise escalation levels, in a fixed number of queries.

    The unique (ticket, kind, level) constraint makes a repeated insert a no-op, so a ticket
    whose step marker was stale never gets a second row.
    """
    rows: list[SlaNotification] = []
    raised: list[Ticket] = []
    for ticket, plans in alerts:
        for plan in plans:
            threshold = plan.threshold
            rows.append(
                SlaNotification(
                    ticket=ticket,
                    kind=threshold.kind,
                    level=threshold.level,
                    threshold_at=threshold.at,
                    state=plan.state,
                    next_attempt_at=now if plan.state == escalation.PENDING else None,
                    created_at=now,
                )
            )
        level = escalation.raised_level(ticket.escalation_level, plans)
        if level is not None:
            events.append(_escalation_event(ticket, level, plans))
            ticket.escalation_level = level
            ticket.updated_at = now
            raised.append(ticket)

    SlaNotification.objects.bulk_create(rows, ignore_conflicts=True)
    if raised:
        update_rows(raised, ["escalation_level", "updated_at"])
    report.alerts_recorded += len(rows)
    report.escalated += len(raised)


def _escalation_event(
    ticket: Ticket, level: int, plans: Sequence[escalation.AlertPlan]
) -> TicketEvent:
    """Build the history entry services.change_escalation_level would write for this move."""
    threshold = max(
        (plan.threshold for plan in plans if plan.threshold.level == level),
        key=lambda item: item.step,
    )
    minutes = threshold_minutes(level)
    return TicketEvent(
        ticket=ticket,
        kind=TicketEvent.Kind.ESCALATION,
        actor_label="sla",
        old_value=f"L{ticket.escalation_level}",
        new_value=f"L{level}",
        reason=f"no first response {minutes} business minutes after the SLA breach",
        data={"threshold_at": threshold.at.isoformat()},
        occurred_at=threshold.at,
    )


def threshold_minutes(level: int) -> int:
    """Return the business minutes after the breach at which `level` (2 or higher) is reached."""
    return current_sla_settings().escalation_minutes[level - 2]
