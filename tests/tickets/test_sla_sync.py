"""Storing each ticket's first-response timer: events from messages and statuses, outcomes,
history entries, and recomputation after a holiday edit.

Times are SAST; 30 Nov to 4 Dec 2026 is a Monday-to-Friday week without public holidays.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.urls import reverse

from tests.tickets.sla_helpers import add_message, fresh_calendar, open_ticket, sast, set_status
from tickets import services
from tickets.bulk_writes import update_rows
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import (
    AuthorKind,
    Channel,
    Direction,
    Holiday,
    SlaOutcome,
    SlaState,
    Source,
    Status,
    Ticket,
    TicketEvent,
)
from tickets.sla_calendar import current_calendar, save_holiday
from tickets.sla_sync import message_event_kinds, refresh_ticket_sla, status_event_kind

pytestmark = pytest.mark.django_db
__all__ = ["fresh_calendar"]

MICROSECOND = timedelta(microseconds=1)


def shutdown() -> Holiday:
    return Holiday(date=date(2026, 12, 4), name="Year-end shutdown", source="company")


@pytest.mark.parametrize(
    ("direction", "author", "public", "kind", "email", "expected"),
    [
        ("out", "agent", True, "normal", "pieter@impactlink.org", ["agent_public_reply"]),
        ("out", "agent", False, "normal", "pieter@impactlink.org", ["internal_note"]),
        ("in", "agent", False, "normal", "pieter@impactlink.org", ["internal_note"]),
        ("out", "agent", True, "call", "pieter@impactlink.org", ["agent_call"]),
        ("in", "customer", True, "call", "thandi@example.org", ["customer_reply", "agent_call"]),
        ("out", "system", True, "auto_ack", "help@impactlink.org", ["auto_ack"]),
        ("out", "bot", True, "normal", "bot@impactlink.org", ["bot_reply"]),
        ("out", "system", True, "call", "ivr@impactlink.org", ["bot_reply"]),
        ("out", "agent", True, "auto_reply", "pieter@impactlink.org", ["bot_reply"]),
        ("out", "agent", True, "normal", "no-reply@impactlink.org", ["bot_reply"]),
        ("out", "agent", True, "normal", "noreply+sla@impactlink.org", ["bot_reply"]),
        ("in", "customer", True, "normal", "thandi@example.org", ["customer_reply"]),
        ("in", "customer", True, "auto_reply", "thandi@example.org", []),
        ("in", "customer", True, "bounce", "mailer-daemon@example.org", []),
    ],
)
def test_message_event_kinds(
    direction: str, author: str, public: bool, kind: str, email: str, expected: list[str]
) -> None:
    kinds = message_event_kinds(
        direction=direction, author_kind=author, is_public=public, kind=kind, author_email=email
    )

    assert kinds == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("open", "pending_customer", "pending"),
        ("pending_customer", "open", "open"),
        ("solved", "open", "reopened"),
        ("closed", "new", "reopened"),
        ("open", "on_hold", "on_hold"),
        ("open", "solved", "solved"),
    ],
)
def test_status_event_kind(old: str, new: str, expected: str) -> None:
    assert status_event_kind(old, new) == expected


def test_new_ticket_starts_running() -> None:
    ticket = open_ticket("2026-12-01 10:00")

    assert ticket.sla_policy == "BH"
    assert ticket.sla_state == SlaState.RUNNING
    assert ticket.sla_started_at == sast("2026-12-01 10:00")
    assert ticket.sla_due_at == sast("2026-12-01 12:00")
    assert ticket.sla_warning_at == sast("2026-12-01 11:30")
    assert ticket.sla_next_check_at == sast("2026-12-01 11:30") + MICROSECOND
    assert ticket.sla_business_minutes == 0
    started = ticket.events.get(kind=TicketEvent.Kind.SLA)
    assert (started.old_value, started.new_value) == ("", "running")
    assert started.occurred_at == sast("2026-12-01 10:00")


def test_agent_reply_stops_and_stores_outcome(django_user_model) -> None:  # type: ignore[no-untyped-def]
    agent = django_user_model.objects.create(username="pieter", email="pieter@impactlink.org")
    ticket = open_ticket("2026-12-01 10:00")
    ticket = add_message(ticket, "2026-12-01 11:10")

    assert ticket.sla_state == SlaState.ACHIEVED
    assert ticket.sla_responded_at == sast("2026-12-01 11:10")
    assert ticket.sla_stopped_at == sast("2026-12-01 11:10")
    assert ticket.sla_next_check_at is None
    outcome = SlaOutcome.objects.get(ticket=ticket)
    assert outcome.state == SlaState.ACHIEVED
    assert outcome.policy == "BH"
    assert outcome.business_minutes == 70
    assert outcome.started_on == date(2026, 12, 1)
    assert outcome.due_at == sast("2026-12-01 12:00")
    assert outcome.agent == agent
    assert outcome.category == "payment_issues"
    assert outcome.channel == "email"
    sla_events = ticket.events.filter(kind=TicketEvent.Kind.SLA)
    kinds = list(sla_events.values_list("new_value", flat=True))
    assert kinds == ["running", "achieved"]


@pytest.mark.parametrize(
    "message",
    [
        {"is_public": False},
        {"author_kind": AuthorKind.SYSTEM, "kind": "auto_ack"},
        {"author_kind": AuthorKind.BOT},
        {"author_email": "no-reply@impactlink.org"},
    ],
    ids=["internal note", "auto ack", "bot", "no-reply sender"],
)
def test_non_responses_keep_running(message: dict[str, object]) -> None:
    ticket = open_ticket("2026-12-01 10:00")
    ticket = add_message(ticket, "2026-12-01 10:05", **message)  # type: ignore[arg-type]

    assert ticket.sla_state == SlaState.RUNNING
    assert ticket.sla_stopped_at is None
    assert not SlaOutcome.objects.filter(ticket=ticket).exists()


def test_pending_pauses_and_reply_resumes() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    ticket = set_status(ticket, Status.PENDING_CUSTOMER, "2026-12-01 10:30")

    assert ticket.sla_state == SlaState.PAUSED
    assert ticket.sla_due_at is None
    assert ticket.sla_next_check_at is None

    ticket = add_message(
        ticket,
        "2026-12-01 14:00",
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        author_email="thandi@example.org",
    )

    assert ticket.status == Status.OPEN
    assert ticket.sla_state == SlaState.RUNNING
    # 30 minutes used before the pause; 90 remain from 14:00.
    assert ticket.sla_due_at == sast("2026-12-01 15:30")


def test_solved_without_reply_pauses() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    ticket = set_status(ticket, Status.SOLVED, "2026-12-01 10:20")

    assert ticket.sla_state == SlaState.PAUSED
    assert ticket.sla_stopped_at is None


def test_merge_after_breach_stops_breached() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    services.record_event(
        ticket,
        kind=TicketEvent.Kind.MERGED,
        actor_label="test",
        occurred_at=sast("2026-12-01 13:00"),
    )
    refresh_ticket_sla(ticket, now=sast("2026-12-01 13:05"))

    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.BREACHED
    assert ticket.sla_stopped_at == sast("2026-12-01 13:00")
    outcome = SlaOutcome.objects.get(ticket=ticket)
    assert outcome.state == SlaState.BREACHED
    assert outcome.breached_at == sast("2026-12-01 12:00")
    assert outcome.responded_at is None


def test_merge_before_breach_cancels() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    services.record_event(
        ticket, kind=TicketEvent.Kind.SPAM, actor_label="test", occurred_at=sast("2026-12-01 10:10")
    )
    refresh_ticket_sla(ticket, now=sast("2026-12-01 10:15"))

    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.CANCELLED
    assert SlaOutcome.objects.get(ticket=ticket).state == SlaState.CANCELLED


def test_stored_pending_status_pauses_from_start() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    # A desk import may store a ticket already pending, with no status event.
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.PENDING_CUSTOMER)
    ticket.refresh_from_db()
    refresh_ticket_sla(ticket, now=sast("2026-12-01 15:00"))

    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.PAUSED
    assert ticket.sla_business_minutes == 0


def test_past_threshold_asks_scheduler_now() -> None:
    ticket = open_ticket("2026-12-01 10:00")
    refresh_ticket_sla(ticket, now=sast("2026-12-01 12:30"))

    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.BREACHED
    # Warning and breach have passed but have no alert rows yet.
    assert ticket.sla_next_check_at == sast("2026-12-01 12:30")
    assert ticket.sla_alert_step == 0


def test_refresh_reads_two_queries(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    ticket = open_ticket("2026-12-01 10:00")
    current_calendar()

    with django_assert_num_queries(2):
        refresh_ticket_sla(ticket, now=sast("2026-12-01 10:00"))


def test_stopped_timer_needs_no_query(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    ticket = add_message(open_ticket("2026-12-01 10:00"), "2026-12-01 10:30")

    with django_assert_num_queries(0):
        refresh_ticket_sla(ticket, now=sast("2026-12-02 10:00"))


def test_holiday_edit_recomputes_open_timers_only(django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    running = open_ticket("2026-12-03 17:30")
    answered = add_message(open_ticket("2026-12-03 17:00"), "2026-12-04 09:45")
    assert running.sla_due_at == sast("2026-12-04 10:30")
    assert answered.sla_state == SlaState.ACHIEVED
    # 17:00-18:00 on Thursday and 09:00-09:45 on Friday.
    assert answered.sla_business_minutes == 105

    with django_capture_on_commit_callbacks(execute=True):
        save_holiday(holiday=shutdown())

    running.refresh_from_db()
    answered.refresh_from_db()
    # The closure moves the running timer's remaining 90 minutes to Monday.
    assert running.sla_due_at == sast("2026-12-07 10:30")
    assert running.sla_state == SlaState.RUNNING
    # The answered timer keeps the figures stored when it stopped (recomputed, Friday would
    # count nothing and the due time would move to Monday).
    assert answered.sla_due_at == sast("2026-12-04 10:00")
    assert answered.sla_business_minutes == 105
    outcome = SlaOutcome.objects.get(ticket=answered)
    assert outcome.due_at == sast("2026-12-04 10:00")
    assert outcome.business_minutes == 105


def test_admin_holiday_delete_recomputes(admin_client, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    holiday = shutdown()
    holiday.save()
    running = open_ticket("2026-12-03 17:30")
    assert running.sla_due_at == sast("2026-12-07 10:30")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:tickets_holiday_delete", args=[holiday.pk]), {"post": "yes"}
        )

    assert response.status_code == 302
    running.refresh_from_db()
    assert running.sla_due_at == sast("2026-12-04 10:30")


def test_admin_holiday_add_recomputes(admin_client, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    running = open_ticket("2026-12-03 17:30")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:tickets_holiday_add"),
            {"date": "2026-12-04", "name": "Year-end shutdown", "source": "company"},
        )

    assert response.status_code == 302
    running.refresh_from_db()
    assert running.sla_due_at == sast("2026-12-07 10:30")


def test_agent_opened_ticket_waits_for_customer() -> None:
    with time_machine.travel(sast("2026-12-01 09:30"), tick=False):
        opened = services.ingest_message(
            incoming=IncomingMessage(
                source=Source.EMAIL,
                channel=Channel.AGENT_OUTBOUND,
                direction=Direction.OUTBOUND,
                author_kind=AuthorKind.AGENT,
                contact=ContactInput(name="Thandi Mokoena", email="thandi@example.org"),
                author_email="pieter@impactlink.org",
                subject="Your refund of R250",
                body_text="We refunded the second debit order today.",
                sent_at=sast("2026-12-01 09:30"),
                message_id="agent-opened@impactlink.org",
                category_hints=("category:payment_issues",),
            ),
            actor_label="test",
        )
    assert opened.ticket is not None
    ticket = Ticket.objects.get(pk=opened.ticket.pk)
    assert ticket.sla_state == ""
    assert ticket.sla_next_check_at is None

    ticket = add_message(
        ticket,
        "2026-12-01 10:00",
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        author_email="thandi@example.org",
    )

    assert ticket.sla_state == SlaState.RUNNING
    assert ticket.sla_started_at == sast("2026-12-01 10:00")
    assert ticket.sla_due_at == sast("2026-12-01 12:00")


def test_update_rows_writes_each_row() -> None:
    first = open_ticket("2026-12-01 10:00")
    second = open_ticket("2026-12-01 11:00")
    first.sla_state, first.sla_due_at, first.sla_alert_step = "paused", None, 3
    second.sla_state, second.sla_alert_step = "breached", 5
    second.sla_due_at = sast("2026-12-09 09:00")

    update_rows([first, second], ["sla_state", "sla_due_at", "sla_alert_step"])

    rows = dict(Ticket.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "sla_state"))
    assert rows == {first.pk: "paused", second.pk: "breached"}
    second.refresh_from_db()
    assert second.sla_due_at == sast("2026-12-09 09:00")
    assert second.sla_alert_step == 5
    first.refresh_from_db()
    assert first.sla_due_at is None
    assert first.sla_alert_step == 3


OPENING_CASES = [
    pytest.param(Direction.INBOUND, AuthorKind.CUSTOMER, "normal", None, id="customer"),
    pytest.param(
        Direction.INBOUND, AuthorKind.CUSTOMER, "normal", Status.PENDING_CUSTOMER, id="pending"
    ),
    pytest.param(Direction.OUTBOUND, AuthorKind.AGENT, "normal", None, id="agent-opened"),
    pytest.param(Direction.OUTBOUND, AuthorKind.SYSTEM, "auto_ack", None, id="auto-ack"),
]


@pytest.mark.parametrize(("direction", "author_kind", "kind", "status"), OPENING_CASES)
def test_new_ticket_timer_matches_stored_history(direction, author_kind, kind, status) -> None:
    from tickets.sla_sync import load_histories, opening_history

    sent = sast("2026-12-01 10:00")
    incoming = IncomingMessage(
        source=Source.EMAIL,
        channel=Channel.EMAIL,
        direction=direction,
        author_kind=author_kind,
        contact=ContactInput(name="Thandi Mokoena", email="thandi@example.org"),
        author_name="Thandi Mokoena",
        author_email="thandi@example.org",
        subject="Double debit order",
        body_text="My R250 debit order ran twice this month.",
        sent_at=sent,
        received_at=sent + timedelta(minutes=1),
        kind=kind,
        ticket_status=status,
        category_hints=("category:payment_issues",),
    )
    with time_machine.travel(sast("2026-12-01 11:00"), tick=False):
        result = services.ingest_message(incoming=incoming, actor_label="test")
        assert result.ticket is not None
        assert result.message is not None
        stored = Ticket.objects.get(pk=result.ticket.pk)
        expected = load_histories([stored])[stored.pk]
        assert opening_history(stored, result.message) == expected
        fields = [getattr(stored, name) for name in _sla_field_names()]
        refresh_ticket_sla(stored, now=sast("2026-12-01 11:00"))
    assert [getattr(stored, name) for name in _sla_field_names()] == fields


def _sla_field_names() -> list[str]:
    return [field.name for field in Ticket._meta.concrete_fields if field.name.startswith("sla_")]
