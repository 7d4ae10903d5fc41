"""Stored raw mail into the queue: threading, machine mail, duplicates, size and failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
import time_machine

from integrations.inbound import store_item
from integrations.mailbox.sync import mail_idempotency_key
from integrations.models import InboundItem
from integrations.tasks import retry_failed_inbound
from tickets.models import (
    AuthorKind,
    Direction,
    Message,
    MessageKind,
    Source,
    Status,
    Ticket,
)

pytestmark = pytest.mark.django_db

REALMAIL = Path(__file__).parent / "data" / "realmail"
SENT = datetime(2026, 11, 30, 7, 15, tzinfo=UTC)


def build_mail(
    *,
    sender: str = "Thandi Mokoena <thandi@example.org>",
    to: str = "help@impactlink.org",
    subject: str = "My donation to Hope Shelter failed",
    body: str = "Hi, my R250 donation to Hope Shelter failed twice with my Visa card.",
    message_id: str = "<d1@example.org>",
    date: datetime | None = SENT,
    headers: dict[str, str] | None = None,
    attachment: bytes | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if date is not None:
        message["Date"] = format_datetime(date)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(
            attachment, maintype="application", subtype="pdf", filename="statement.pdf"
        )
    return message.as_bytes()


@pytest.fixture
def deliver(django_capture_on_commit_callbacks):
    """Store raw mail the way the sync does and let the queued processing task run."""

    def store_and_process(raw: bytes) -> InboundItem:
        with django_capture_on_commit_callbacks(execute=True):
            item, _ = store_item(
                kind=InboundItem.Kind.MAIL,
                idempotency_key=mail_idempotency_key(raw),
                payload=raw,
                provider="mailbox",
                meta={"folder": "INBOX", "uid": 1, "uidvalidity": 1},
            )
        item.refresh_from_db()
        return item

    return store_and_process


def build_bounce(returned_message_id: str) -> bytes:
    """A delivery status notification (RFC 3464) returning a mail the hub sent."""
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        "To: help@impactlink.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\n"
        "Date: Mon, 30 Nov 2026 11:15:00 +0200\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b1"\r\n'
        "\r\n"
        "--b1\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        "--b1\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n"
        "\r\n"
        "Final-Recipient: rfc822; gone@example.org\r\n"
        "Action: failed\r\n"
        "Status: 5.1.1\r\n"
        "--b1\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        "From: ImpactLink Support <help@impactlink.org>\r\n"
        "To: gone@example.org\r\n"
        "Subject: Re: [IL-1] Refund\r\n"
        f"Message-ID: <{returned_message_id}>\r\n"
        "--b1--\r\n"
    ).encode()


# ---------------------------------------------------------------- new mail and threads


def test_first_mail_opens_ticket(deliver) -> None:
    item = deliver(build_mail())

    assert item.state == InboundItem.State.DONE
    assert item.outcome == "created"
    ticket = Ticket.objects.get()
    assert item.ticket_id == ticket.pk
    assert ticket.source == Source.EMAIL
    assert ticket.subject == "My donation to Hope Shelter failed"
    assert ticket.contact is not None
    assert ticket.contact.email == "thandi@example.org"
    assert ticket.contact.name == "Thandi Mokoena"
    assert ticket.created_in_source_at == SENT
    assert ticket.received_at == item.received_at
    message = ticket.messages.get()
    assert message.direction == Direction.INBOUND
    assert message.author_kind == AuthorKind.CUSTOMER
    assert message.kind == MessageKind.NORMAL
    assert message.message_id == "d1@example.org"
    assert message.sent_at == SENT
    assert "R250 donation" in message.body_text


def test_reply_threads_by_in_reply_to(deliver) -> None:
    deliver(build_mail())
    reply = deliver(
        build_mail(
            subject="Re: My donation to Hope Shelter failed",
            body="It failed again this morning.",
            message_id="<d2@example.org>",
            date=SENT + timedelta(hours=1),
            headers={"In-Reply-To": "<d1@example.org>", "References": "<d1@example.org>"},
        )
    )

    assert reply.outcome == "threaded"
    assert Ticket.objects.count() == 1
    assert Ticket.objects.get().message_count == 2


def test_reply_threads_by_subject_token(deliver) -> None:
    first = deliver(build_mail())
    reply = deliver(
        build_mail(
            subject=f"Re: [IL-{first.ticket_id}] My donation to Hope Shelter failed",
            body="Any news on this?",
            message_id="<d3@example.org>",
        )
    )

    assert reply.outcome == "threaded"
    assert reply.ticket_id == first.ticket_id


def test_mail_with_attachment_keeps_file(deliver) -> None:
    item = deliver(build_mail(attachment=b"%PDF-1.4 statement"))

    attachment = Message.objects.get(ticket_id=item.ticket_id).attachments.get()
    assert attachment.filename == "statement.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.size == len(b"%PDF-1.4 statement")


# ---------------------------------------------------------------- dates


def test_missing_date_uses_arrival(deliver) -> None:
    item = deliver(build_mail(date=None))

    message = Message.objects.get()
    assert message.sent_at == item.received_at
    assert Ticket.objects.get().created_in_source_at == item.received_at


def test_future_date_uses_arrival(deliver) -> None:
    item = deliver(build_mail(date=datetime.now(UTC) + timedelta(days=30)))

    assert Message.objects.get().sent_at == item.received_at


def test_old_date_sets_ticket_creation(deliver) -> None:
    old = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    item = deliver(build_mail(date=old))

    ticket = Ticket.objects.get()
    assert ticket.created_in_source_at == old
    assert ticket.received_at == item.received_at


# ---------------------------------------------------------------- our own mail


def test_mail_from_support_address_is_outbound(deliver) -> None:
    item = deliver(
        build_mail(
            sender="ImpactLink Support <help@impactlink.org>",
            to="Sipho Dlamini <sipho@example.org>",
            subject="Your Section 18A certificate",
            body="Hi Sipho, your tax certificate for 2025 is attached to your profile.",
            message_id="<out-1@impactlink.org>",
        )
    )

    assert item.outcome == "created"
    message = Message.objects.get()
    assert message.direction == Direction.OUTBOUND
    assert message.author_kind == AuthorKind.AGENT
    ticket = Ticket.objects.get()
    assert ticket.contact is not None
    assert ticket.contact.email == "sipho@example.org"


def test_team_reply_threads_onto_ticket(deliver) -> None:
    deliver(build_mail())
    reply = deliver(
        build_mail(
            sender="ImpactLink Support <help@impactlink.org>",
            to="thandi@example.org",
            subject="Re: My donation to Hope Shelter failed",
            body="Hi Thandi, your bank declined the card; please try an EFT instead.",
            message_id="<team-1@impactlink.org>",
            date=SENT + timedelta(minutes=40),
            headers={"In-Reply-To": "<d1@example.org>"},
        )
    )

    assert reply.outcome == "threaded"
    ticket = Ticket.objects.get()
    directions = list(ticket.messages.values_list("direction", flat=True))
    assert directions == [Direction.INBOUND, Direction.OUTBOUND]
    assert ticket.contact is not None
    assert ticket.contact.email == "thandi@example.org"


# ---------------------------------------------------------------- machine mail


def test_auto_reply_never_opens_ticket(deliver) -> None:
    item = deliver(
        build_mail(
            subject="Out of office: back on Monday",
            body="I am out of the office until Monday.",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )

    assert item.state == InboundItem.State.IGNORED
    assert item.outcome == "auto_reply"
    assert item.ticket_id is None
    assert Ticket.objects.count() == 0


def test_auto_reply_threads_as_marked(deliver) -> None:
    first = deliver(build_mail())
    Ticket.objects.filter(pk=first.ticket_id).update(status=Status.PENDING_CUSTOMER)
    item = deliver(
        build_mail(
            subject="Automatic reply: Re: My donation to Hope Shelter failed",
            body="I am on leave until 5 January.",
            message_id="<ooo-1@example.org>",
            headers={"Auto-Submitted": "auto-replied", "In-Reply-To": "<d1@example.org>"},
        )
    )

    assert item.state == InboundItem.State.DONE
    assert item.outcome == "threaded"
    message = Message.objects.get(message_id="ooo-1@example.org")
    assert message.kind == MessageKind.AUTO_REPLY
    assert message.author_kind == AuthorKind.BOT
    # An auto-reply is not the customer writing again, so the ticket stays pending.
    assert Ticket.objects.get().status == Status.PENDING_CUSTOMER


def test_bounce_joins_hub_thread(deliver) -> None:
    first = deliver(build_mail())
    ticket_id = first.ticket_id
    item = deliver(build_bounce(f"ticket-{ticket_id}.msg-7@impactlink.org"))

    assert item.state == InboundItem.State.DONE
    assert item.outcome == "threaded"
    assert item.ticket_id == ticket_id
    assert Ticket.objects.count() == 1
    bounce = Message.objects.get(message_id="bounce-1@mx.example.net")
    assert bounce.kind == MessageKind.BOUNCE
    assert bounce.ticket_id == ticket_id


def test_unmatched_bounce_is_ignored(deliver) -> None:
    item = deliver(build_bounce("ticket-999.msg-1@impactlink.org"))

    assert item.state == InboundItem.State.IGNORED
    assert item.outcome == "bounce"
    assert Ticket.objects.count() == 0


def test_list_mail_is_ignored(deliver) -> None:
    item = deliver(
        build_mail(
            sender="NPO Forum <forum@lists.example.org>",
            subject="[npo-forum] Weekly digest",
            body="This week on the forum: ten new posts.",
            headers={"List-Id": "NPO Forum <npo-forum.lists.example.org>"},
        )
    )

    assert item.state == InboundItem.State.IGNORED
    assert item.outcome == "list"
    assert Ticket.objects.count() == 0


# ---------------------------------------------------------------- duplicates


def test_same_bytes_stored_once(deliver) -> None:
    raw = build_mail()
    first = deliver(raw)
    second = deliver(raw)

    assert second.pk == first.pk
    assert InboundItem.objects.count() == 1
    assert Ticket.objects.count() == 1


def test_same_message_other_bytes_is_duplicate(deliver) -> None:
    deliver(build_mail())
    # The same mail as a second copy carries an extra trace header, so its bytes differ.
    copy = deliver(build_mail(headers={"Received": "from relay.example.net by mx.impactlink.org"}))

    assert InboundItem.objects.count() == 2
    assert copy.state == InboundItem.State.DONE
    assert copy.outcome == "duplicate"
    assert Message.objects.count() == 1


# ---------------------------------------------------------------- failures


def test_oversized_mail_fails_with_reason(settings, deliver) -> None:
    settings.MAIL_MAX_BYTES = 2048
    item = deliver(build_mail(body="x" * 5000))

    assert item.state == InboundItem.State.FAILED
    assert "larger than the 2048 bytes limit (MAIL_MAX_BYTES)" in item.last_error
    assert item.next_attempt_at is None
    assert len(bytes(item.payload)) == item.size
    assert Ticket.objects.count() == 0


def test_failed_item_retried_without_blocking(settings, tmp_path, deliver) -> None:
    # Attachments cannot be written while MEDIA_ROOT is a file, as with a full or missing disk.
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    settings.MEDIA_ROOT = str(blocked)
    broken = deliver(build_mail(attachment=b"%PDF-1.4"))
    other = deliver(
        build_mail(sender="sipho@example.org", message_id="<s1@example.org>", subject="Receipt")
    )

    assert broken.state == InboundItem.State.FAILED
    assert broken.next_attempt_at is not None
    assert other.state == InboundItem.State.DONE
    assert Ticket.objects.count() == 1

    settings.MEDIA_ROOT = str(tmp_path / "media")
    with time_machine.travel(broken.next_attempt_at + timedelta(seconds=1)):
        retry_failed_inbound()

    broken.refresh_from_db()
    assert broken.state == InboundItem.State.DONE
    assert broken.attempts == 2
    assert Ticket.objects.count() == 2


def test_realmail_corpus_all_processed(deliver) -> None:
    paths = sorted(REALMAIL.rglob("*.eml"))
    assert len(paths) >= 90, "the real-mail corpus is missing from tests/integrations/mailbox/data"

    items = [deliver(path.read_bytes()) for path in paths]

    not_processed = [
        (str(path.relative_to(REALMAIL)), item.state, item.last_error[:120])
        for path, item in zip(paths, items, strict=True)
        if item.state not in (InboundItem.State.DONE, InboundItem.State.IGNORED)
    ]
    assert not_processed == []
    machine_tickets = Ticket.objects.filter(
        messages__kind__in=[MessageKind.AUTO_REPLY, MessageKind.BOUNCE, MessageKind.LIST],
        message_count=1,
    )
    assert list(machine_tickets) == []


@pytest.mark.parametrize(
    "payload", [b"", b"\x00\x9f\xfe random bytes \x01" * 40, b"root:*:19000:0:99999:7:::\n"]
)
def test_non_mail_kept_as_failed(payload: bytes) -> None:
    from integrations.inbound import process_item, store_item
    from integrations.models import InboundItem
    from tickets.models import Ticket

    item, _ = store_item(
        kind="mail", idempotency_key=f"test:{payload!r}", payload=payload, enqueue=False
    )
    process_item(item.pk)

    item.refresh_from_db()
    assert item.state == InboundItem.State.FAILED
    assert "Not an e-mail message" in item.last_error
    assert item.next_attempt_at is None
    assert not Ticket.objects.exists()
