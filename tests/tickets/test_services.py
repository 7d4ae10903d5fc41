from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tickets import services
from tickets.inputs import AttachmentInput, ContactInput, IncomingMessage
from tickets.models import (
    AuthorKind,
    Category,
    Channel,
    Direction,
    EscalationLevel,
    Message,
    Source,
    Status,
    Ticket,
    TicketEvent,
)

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


def mail(**overrides: object) -> IncomingMessage:
    values: dict[str, object] = {
        "source": Source.EMAIL,
        "channel": Channel.EMAIL,
        "direction": Direction.INBOUND,
        "author_kind": AuthorKind.CUSTOMER,
        "contact": ContactInput(name="Thandi Mokoena", email="Thandi@Example.org"),
        "author_name": "Thandi Mokoena",
        "author_email": "thandi@example.org",
        "subject": "Double charge on my card",
        "body_text": "I was charged R500 twice for one donation.",
        "sent_at": SENT,
        "message_id": "abc-1@example.org",
    }
    values.update(overrides)
    return IncomingMessage(**values)  # type: ignore[arg-type]


def test_first_message_opens_ticket() -> None:
    result = services.ingest_message(
        incoming=mail(category_hints=("category:payment_issues",)), actor_label="test"
    )

    assert result.outcome == "created"
    ticket = Ticket.objects.get()
    assert ticket.category == Category.PAYMENT
    assert ticket.contact is not None
    assert ticket.contact.email == "thandi@example.org"
    assert ticket.message_count == 1
    kinds = list(ticket.events.values_list("kind", flat=True))
    assert kinds[:2] == [TicketEvent.Kind.CREATED, TicketEvent.Kind.CATEGORY]


def test_same_mail_twice_is_duplicate() -> None:
    services.ingest_message(incoming=mail(), actor_label="test")
    again = services.ingest_message(incoming=mail(), actor_label="test")

    assert again.outcome == "duplicate"
    assert Message.objects.count() == 1


def test_reused_message_id_keeps_both() -> None:
    services.ingest_message(incoming=mail(), actor_label="test")
    other = services.ingest_message(
        incoming=mail(body_text="Something else entirely", in_reply_to=("abc-1@example.org",)),
        actor_label="test",
    )

    assert other.outcome == "threaded"
    assert Message.objects.count() == 2
    assert TicketEvent.objects.filter(
        kind=TicketEvent.Kind.NOTE, reason__contains="reused"
    ).exists()


def test_reply_threads_by_references() -> None:
    first = services.ingest_message(incoming=mail(), actor_label="test")
    reply = services.ingest_message(
        incoming=mail(
            message_id="abc-2@example.org",
            subject="Re: Double charge on my card",
            body_text="Any news?",
            references=("abc-1@example.org",),
            sent_at=SENT + timedelta(hours=1),
        ),
        actor_label="test",
    )

    assert reply.outcome == "threaded"
    assert reply.ticket == first.ticket


def test_subject_token_threads() -> None:
    first = services.ingest_message(incoming=mail(), actor_label="test")
    assert first.ticket is not None
    reply = services.ingest_message(
        incoming=mail(
            message_id="new@example.org",
            subject=f"AW: [{first.ticket.reference}] charge",
            body_text="x",
        ),
        actor_label="test",
    )

    assert reply.ticket == first.ticket


def test_auto_reply_never_opens_ticket() -> None:
    result = services.ingest_message(
        incoming=mail(may_open_ticket=False, kind="auto_reply"), actor_label="test"
    )

    assert result.outcome == "not_threaded"
    assert Ticket.objects.count() == 0


def test_customer_reply_reopens_solved() -> None:
    first = services.ingest_message(incoming=mail(), actor_label="test")
    assert first.ticket is not None
    services.change_status(ticket=first.ticket, status=Status.SOLVED, actor=None, reason="done")
    services.ingest_message(
        incoming=mail(
            message_id="abc-3@example.org",
            body_text="Still wrong",
            references=("abc-1@example.org",),
        ),
        actor_label="test",
    )

    first.ticket.refresh_from_db()
    assert first.ticket.status == Status.OPEN


def test_provider_message_id_is_idempotent() -> None:
    incoming = mail(
        source=Source.ZENDESK, external_ticket_id="48213", external_message_id="c-1", message_id=""
    )
    services.ingest_message(incoming=incoming, actor_label="test")
    again = services.ingest_message(incoming=incoming, actor_label="test")

    assert again.outcome == "duplicate"
    assert Ticket.objects.count() == 1


def test_attachment_stored_with_hash() -> None:
    result = services.ingest_message(
        incoming=mail(
            attachments=(AttachmentInput("receipt.pdf", "application/pdf", b"%PDF-1.4 test"),)
        ),
        actor_label="test",
    )

    assert result.message is not None
    attachment = result.message.attachments.get()
    assert attachment.size == 13
    assert len(attachment.sha256) == 64
    assert attachment.file.read() == b"%PDF-1.4 test"


def test_escalation_needs_reason() -> None:
    result = services.ingest_message(incoming=mail(), actor_label="test")
    assert result.ticket is not None

    with pytest.raises(ValueError, match="reason"):
        services.change_escalation_level(
            ticket=result.ticket, level=EscalationLevel.L2, actor=None, reason=" "
        )

    services.change_escalation_level(
        ticket=result.ticket, level=EscalationLevel.L2, actor=None, reason="paged"
    )
    assert TicketEvent.objects.filter(kind=TicketEvent.Kind.ESCALATION, new_value="L2").exists()


def test_events_are_append_only() -> None:
    result = services.ingest_message(incoming=mail(), actor_label="test")
    assert result.ticket is not None
    event = result.ticket.events.first()
    assert event is not None

    event.reason = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
