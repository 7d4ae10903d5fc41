from __future__ import annotations

import hashlib
import json
import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.urls import reverse

from chat import transcripts
from chat.models import ChatTranscript, TranscriptChainHead
from tickets import services
from tickets.inputs import AttachmentInput, ContactInput, IncomingMessage
from tickets.models import AuthorKind, Category, Channel, Direction, Source, TicketEvent

from .conftest import OPEN_HOURS, ticket_of

pytestmark = pytest.mark.django_db

CLOSED_AT = OPEN_HOURS + timedelta(minutes=20)


def agent_reply(ticket, *, text: str, minutes: int, attachment: AttachmentInput | None = None):
    incoming = IncomingMessage(
        source=Source.INTERCOM,
        channel=Channel.CHAT,
        direction=Direction.OUTBOUND,
        author_kind=AuthorKind.AGENT,
        contact=ContactInput(),
        author_name="Johan Botha",
        author_email="johan.botha@impactlink.org",
        sent_at=OPEN_HOURS + timedelta(minutes=minutes),
        body_text=text,
        external_ticket_id=ticket.external_id,
        external_message_id=f"{ticket.external_id}-reply-{minutes}",
        attachments=(attachment,) if attachment else (),
    )
    return services.ingest_message(incoming=incoming, actor_label="intercom")


@pytest.fixture
def closed_ticket(open_chat):
    ticket = ticket_of(open_chat(Category.PAYMENT, text="My R1 000 card payment failed"))
    pdf = AttachmentInput(
        filename="refund.pdf", content_type="application/pdf", payload=b"%PDF-1.4 demo"
    )
    agent_reply(ticket, text="The payment was reversed.", minutes=12, attachment=pdf)
    return ticket


def test_transcript_content(closed_ticket):
    transcript = transcripts.write_transcript(
        ticket=closed_ticket, closed_at=CLOSED_AT, now=CLOSED_AT
    )

    assert transcript is not None
    assert transcript.sequence == 1
    assert transcript.message_count == 2
    assert transcript.previous_hash == ""
    document = json.loads(transcript.json_text)
    assert document["ticket"]["reference"] == closed_ticket.reference
    assert document["ticket"]["closed_at"] == "2025-03-11T11:20:00.000000+00:00"
    assert [p["role"] for p in document["participants"]] == ["customer", "agent"]
    assert document["messages"][0]["text"] == "My R1 000 card payment failed"
    assert document["messages"][1]["attachments"] == [
        {
            "filename": "refund.pdf",
            "content_type": "application/pdf",
            "size": 13,
            "sha256": hashlib.sha256(b"%PDF-1.4 demo").hexdigest(),
        }
    ]
    assert "[2025-03-11 13:00:00 SAST] Lindiwe Nkosi (customer):" in transcript.text
    assert "  Attachment: refund.pdf (application/pdf, 13 bytes, SHA-256 " in transcript.text
    assert "agent: Johan Botha <johan.botha@impactlink.org>" in transcript.text


def test_transcript_hashes(closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    assert transcript.text_sha256 == hashlib.sha256(transcript.text.encode()).hexdigest()
    assert transcript.json_sha256 == hashlib.sha256(transcript.json_text.encode()).hexdigest()
    head = TranscriptChainHead.objects.get()
    assert (head.last_sequence, head.last_hash) == (1, transcript.entry_hash)


def test_chain_links_transcripts(closed_ticket, open_chat):
    first = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    second = transcripts.write_transcript(ticket=ticket_of(open_chat()), closed_at=CLOSED_AT)
    assert second.sequence == 2
    assert second.previous_hash == first.entry_hash


def test_redelivered_close_writes_once(closed_ticket):
    assert transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT) is not None
    assert transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT) is None
    assert ChatTranscript.objects.count() == 1


def test_reopened_chat_gets_second_transcript(closed_ticket):
    transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    agent_reply(closed_ticket, text="One more thing: the receipt is on its way.", minutes=40)
    later = transcripts.write_transcript(
        ticket=closed_ticket, closed_at=CLOSED_AT + timedelta(hours=1)
    )
    assert later is not None
    assert later.message_count == 3


def test_transcript_event_recorded(closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    event = TicketEvent.objects.filter(ticket=closed_ticket, kind=TicketEvent.Kind.NOTE).last()
    assert event.data["entry_hash"] == transcript.entry_hash


def test_transcript_cannot_be_saved_again(closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    transcript.text = "edited"
    with pytest.raises(ValueError, match="cannot be changed"):
        transcript.save()


def three_transcripts(open_chat) -> list[ChatTranscript]:
    return [
        transcripts.write_transcript(ticket=ticket_of(open_chat()), closed_at=CLOSED_AT)
        for _ in range(3)
    ]


def test_verify_intact_chain(open_chat, capsys):
    three_transcripts(open_chat)
    assert transcripts.verify_chain().ok
    call_command("verify_transcripts")
    assert "Transcript chain intact: 3 transcript(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"text": "Lindiwe said nothing"}, "plain text does not match"),
        ({"json_text": "{}"}, "JSON does not match"),
        ({"closed_at": CLOSED_AT + timedelta(days=1)}, "entry hash does not match"),
        ({"text_sha256": "0" * 64}, "plain text does not match"),
        ({"previous_hash": "f" * 64}, "previous_hash does not match"),
    ],
)
def test_verify_detects_tampering(open_chat, capsys, change, reason):
    middle = three_transcripts(open_chat)[1]
    # A direct UPDATE, as someone with database access would do it.
    ChatTranscript.objects.filter(pk=middle.pk).update(**change)

    report = transcripts.verify_chain()

    assert not report.ok
    assert report.problems[0].sequence == 2
    assert reason in report.problems[0].reason
    with pytest.raises(CommandError) as caught:
        call_command("verify_transcripts")
    assert caught.value.returncode == 1
    assert f"BROKEN transcript 2 ({middle.ticket_reference})" in capsys.readouterr().err


def test_verify_detects_removed_middle(open_chat):
    middle = three_transcripts(open_chat)[1]
    ChatTranscript.objects.filter(pk=middle.pk).delete()
    report = transcripts.verify_chain()
    assert report.problems[0].sequence == 3
    assert "transcripts 2 to 2 are missing" in report.problems[0].reason


def test_verify_detects_removed_last(open_chat):
    last = three_transcripts(open_chat)[2]
    ChatTranscript.objects.filter(pk=last.pk).delete()
    report = transcripts.verify_chain()
    assert len(report.problems) == 1
    assert "the chain head names transcript 3" in report.problems[0].reason


def test_purge_keeps_chain_verifiable(open_chat):
    old, recent = (ticket_of(open_chat()) for _ in range(2))
    transcripts.write_transcript(ticket=old, closed_at=CLOSED_AT, now=CLOSED_AT)
    later = CLOSED_AT + timedelta(days=400)
    transcripts.write_transcript(ticket=recent, closed_at=later, now=later)

    purged = transcripts.purge_expired_transcripts(
        retention_days=365, now=later + timedelta(days=1)
    )

    assert purged == 1
    tombstone = ChatTranscript.objects.get(sequence=1)
    assert (tombstone.text, tombstone.json_text) == ("", "")
    assert tombstone.purged_at is not None
    assert ChatTranscript.objects.get(sequence=2).text != ""
    report = transcripts.verify_chain()
    assert report.ok
    assert report.purged == 1
    note = TicketEvent.objects.filter(ticket=old, kind=TicketEvent.Kind.NOTE).last()
    assert "purged after the 365-day retention" in note.reason


def test_purge_command_with_zero_keeps_all(open_chat, settings, capsys):
    settings.CHAT_TRANSCRIPT_RETENTION_DAYS = 0
    transcripts.write_transcript(ticket=ticket_of(open_chat()), closed_at=CLOSED_AT, now=CLOSED_AT)
    call_command("purge_transcripts")
    assert "nothing purged" in capsys.readouterr().out
    assert ChatTranscript.objects.filter(purged_at__isnull=True).count() == 1


def test_purge_command_uses_setting(open_chat, settings, capsys):
    settings.CHAT_TRANSCRIPT_RETENTION_DAYS = 30
    transcripts.write_transcript(ticket=ticket_of(open_chat()), closed_at=CLOSED_AT, now=CLOSED_AT)
    call_command("purge_transcripts")
    assert "Purged 1 transcript(s) older than 30 days." in capsys.readouterr().out


def test_download_as_staff(admin_client, closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    for fmt, stored in (("txt", transcript.text), ("json", transcript.json_text)):
        response = admin_client.get(reverse("chat:transcript", args=[transcript.pk, fmt]))
        assert response.status_code == 200
        assert response.content == stored.encode("utf-8")
        assert "attachment;" in response["Content-Disposition"]
        assert response["X-Content-SHA256"] == hashlib.sha256(response.content).hexdigest()


def test_download_needs_staff(client, closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    response = client.get(reverse("chat:transcript", args=[transcript.pk, "txt"]))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_download_after_purge_is_gone(admin_client, closed_ticket):
    transcript = transcripts.write_transcript(
        ticket=closed_ticket, closed_at=CLOSED_AT, now=CLOSED_AT
    )
    transcripts.purge_expired_transcripts(retention_days=1, now=CLOSED_AT + timedelta(days=2))
    response = admin_client.get(reverse("chat:transcript", args=[transcript.pk, "txt"]))
    assert response.status_code == 404


def test_ticket_page_links_transcript(admin_client, closed_ticket):
    transcript = transcripts.write_transcript(ticket=closed_ticket, closed_at=CLOSED_AT)
    page = admin_client.get(reverse("admin:tickets_ticket_change", args=[closed_ticket.pk]))
    assert page.status_code == 200
    assert reverse("chat:transcript", args=[transcript.pk, "txt"]) in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_chain(requires_postgres, open_chat):
    tickets = [ticket_of(open_chat()) for _ in range(6)]
    barrier = threading.Barrier(len(tickets))

    def close(ticket) -> None:
        try:
            barrier.wait()
            transcripts.write_transcript(ticket=ticket, closed_at=CLOSED_AT)
        finally:
            connection.close()

    threads = [threading.Thread(target=close, args=(ticket,)) for ticket in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(ChatTranscript.objects.values_list("sequence", flat=True)) == [1, 2, 3, 4, 5, 6]
    assert transcripts.verify_chain().ok
