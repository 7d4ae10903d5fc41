"""Builders shared by the SLA storage, scheduler and report tests.

Tickets are made through tickets.services, as sources make them. Services read the clock, so
each builder freezes it at the event's instant; every evaluation after that gets `now` as a
value. The week used, 30 Nov to 4 Dec 2026 (Monday to Friday), has no public holiday.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from tickets import services
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, Source, Ticket
from tickets.sla_calendar import invalidate_calendar

SAST = ZoneInfo("Africa/Johannesburg")


def sast(text: str) -> datetime:
    """Parse "2026-12-01 10:00" as an instant in SAST."""
    return datetime.fromisoformat(text).replace(tzinfo=SAST)


@pytest.fixture(autouse=True)
def fresh_calendar() -> Iterator[None]:
    """Rebuild the cached calendar around each test: rolled-back holidays must not linger."""
    invalidate_calendar()
    yield
    invalidate_calendar()


_counter = iter(range(1, 1_000_000))


def open_ticket(
    at: str,
    *,
    channel: str = Channel.EMAIL,
    category: str = "payment_issues",
    subject: str = "Double debit order",
    tags: tuple[str, ...] = (),
    received: str | None = None,
) -> Ticket:
    """Open a ticket with a customer's first message sent at `at` (SAST)."""
    number = next(_counter)
    sent = sast(at)
    received_at = sast(received) if received else sent
    incoming = IncomingMessage(
        source=Source.EMAIL,
        channel=channel,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        contact=ContactInput(name="Thandi Mokoena", email=f"thandi{number}@example.org"),
        author_name="Thandi Mokoena",
        author_email=f"thandi{number}@example.org",
        subject=f"{subject} {number}",
        body_text="My R250 debit order ran twice this month.",
        sent_at=sent,
        received_at=received_at,
        message_id=f"customer-{number}@example.org",
        category_hints=(f"category:{category}",),
        tags=tags,
    )
    with time_machine.travel(received_at, tick=False):
        result = services.ingest_message(incoming=incoming, actor_label="test")
    assert result.ticket is not None
    return Ticket.objects.get(pk=result.ticket.pk)


def add_message(
    ticket: Ticket,
    at: str,
    *,
    direction: str = Direction.OUTBOUND,
    author_kind: str = AuthorKind.AGENT,
    is_public: bool = True,
    kind: str = "normal",
    author_email: str = "pieter@impactlink.org",
) -> Ticket:
    """Thread one more message onto `ticket`, sent at `at` (SAST)."""
    number = next(_counter)
    incoming = IncomingMessage(
        source=Source.EMAIL,
        channel=ticket.channel,
        direction=direction,
        author_kind=author_kind,
        contact=ContactInput(email=author_email),
        author_name="Pieter van der Merwe",
        author_email=author_email,
        subject=f"Re: [IL-{ticket.pk}] {ticket.subject}",
        body_text="We are looking into it.",
        sent_at=sast(at),
        message_id=f"message-{number}@impactlink.org",
        is_public=is_public,
        kind=kind,
    )
    with time_machine.travel(sast(at), tick=False):
        result = services.ingest_message(incoming=incoming, actor_label="test")
    assert result.outcome == "threaded", result
    return Ticket.objects.get(pk=ticket.pk)


def set_status(ticket: Ticket, status: str, at: str) -> Ticket:
    with time_machine.travel(sast(at), tick=False):
        services.change_status(
            ticket=Ticket.objects.get(pk=ticket.pk),
            status=status,
            actor=None,
            actor_label="test",
            reason="test",
            occurred_at=sast(at),
        )
    return Ticket.objects.get(pk=ticket.pk)
