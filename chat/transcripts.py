"""Compliance transcripts of closed chats, kept in a SHA-256 hash chain.

When a conversation closes, its messages are written once as plain text and as JSON. Each
transcript stores the SHA-256 of both texts, the entry hash of the transcript before it and
its own entry hash over all of these. Editing, deleting or reordering a stored transcript
therefore breaks the chain, and `verify_chain` names each transcript that no longer fits.

Retention empties the texts of old transcripts but keeps their rows and hashes (tombstones),
so the chain stays verifiable after a purge.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import ChatTranscript, TranscriptChainHead
from tickets import services
from tickets.models import AuthorKind, Message, Ticket, TicketEvent

logger = logging.getLogger(__name__)

FORMAT = "impactlink-chat-transcript/1"
TRANSCRIPT_ACTOR = "chat transcripts"


# ---------------------------------------------------------------- content


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def _local(instant: datetime) -> str:
    return timezone.localtime(instant).strftime("%Y-%m-%d %H:%M:%S %Z")


def transcript_document(
    ticket: Ticket, messages: list[Message], *, closed_at: datetime
) -> dict[str, Any]:
    """Build the transcript as a JSON-ready dict: ticket, participants, messages, attachments."""
    chat = getattr(ticket, "chat", None)
    participants: dict[tuple[str, str, str], None] = {}
    entries = []
    for message in messages:
        role = _role(message)
        participants[(role, message.author_name, message.author_email)] = None
        entries.append(
            {
                "id": message.pk,
                "external_id": message.external_id,
                "sent_at": _utc(message.sent_at),
                "direction": message.direction,
                "author_role": role,
                "author_name": message.author_name,
                "author_email": message.author_email,
                "public": message.is_public,
                "text": message.body_text,
                "attachments": [
                    {
                        "filename": attachment.filename,
                        "content_type": attachment.content_type,
                        "size": attachment.size,
                        "sha256": attachment.sha256,
                    }
                    for attachment in message.attachments.all()
                ],
            }
        )
    return {
        "format": FORMAT,
        "ticket": {
            "reference": ticket.reference,
            "source": ticket.source,
            "conversation_id": chat.external_id if chat else ticket.external_id,
            "subject": ticket.subject,
            "category": ticket.category,
            "opened_at": _utc(ticket.created_in_source_at),
            "closed_at": _utc(closed_at),
        },
        "participants": [
            {"role": role, "name": name, "email": email} for role, name, email in participants
        ],
        "messages": entries,
    }


def _role(message: Message) -> str:
    if message.author_kind == AuthorKind.CUSTOMER:
        return "customer"
    if message.author_kind == AuthorKind.AGENT:
        return "agent"
    return str(message.author_kind)


def render_json(document: dict[str, Any]) -> str:
    # Key order and separators are fixed, so the same document always hashes the same.
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)


def render_text(document: dict[str, Any]) -> str:
    """Render the transcript as plain text for people, with times in SAST."""
    ticket = document["ticket"]
    lines = [
        f"Chat transcript {ticket['reference']} ({ticket['source']} conversation "
        f"{ticket['conversation_id']})",
        f"Subject: {ticket['subject'] or '-'}",
        f"Category: {ticket['category']}",
        f"Opened: {_local(datetime.fromisoformat(ticket['opened_at']))}",
        f"Closed: {_local(datetime.fromisoformat(ticket['closed_at']))}",
        "",
        "Participants:",
    ]
    for person in document["participants"]:
        email = f" <{person['email']}>" if person["email"] else ""
        lines.append(f"  {person['role']}: {person['name'] or '(no name)'}{email}")
    lines.append("")
    for entry in document["messages"]:
        visibility = "" if entry["public"] else " [internal note]"
        lines.append(
            f"[{_local(datetime.fromisoformat(entry['sent_at']))}] "
            f"{entry['author_name'] or entry['author_role']} ({entry['author_role']}){visibility}:"
        )
        lines.extend(f"  {line}" for line in (entry["text"] or "(no text)").splitlines() or [""])
        for attachment in entry["attachments"]:
            lines.append(
                f"  Attachment: {attachment['filename']} ({attachment['content_type']}, "
                f"{attachment['size']} bytes, SHA-256 {attachment['sha256']})"
            )
        lines.append("")
    return "\n".join(lines)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entry_hash(
    *,
    sequence: int,
    ticket_reference: str,
    last_message_id: int,
    message_count: int,
    closed_at: datetime,
    created_at: datetime,
    text_sha256: str,
    json_sha256: str,
    previous_hash: str,
) -> str:
    """Return the SHA-256 over a transcript's position, identity, content hashes and the
    previous entry hash."""
    fields = [
        FORMAT,
        str(sequence),
        ticket_reference,
        str(last_message_id),
        str(message_count),
        _utc(closed_at),
        _utc(created_at),
        text_sha256,
        json_sha256,
        previous_hash,
    ]
    return sha256_hex("\n".join(fields))


def _stored_entry_hash(transcript: ChatTranscript) -> str:
    return entry_hash(
        sequence=transcript.sequence,
        ticket_reference=transcript.ticket_reference,
        last_message_id=transcript.last_message_id,
        message_count=transcript.message_count,
        closed_at=transcript.closed_at,
        created_at=transcript.created_at,
        text_sha256=transcript.text_sha256,
        json_sha256=transcript.json_sha256,
        previous_hash=transcript.previous_hash,
    )


# ---------------------------------------------------------------- writing


def write_transcript(
    *, ticket: Ticket, closed_at: datetime, now: datetime | None = None
) -> ChatTranscript | None:
    """Append the transcript of a closed conversation to the chain.

    Returns None when a transcript of the same close (same newest message) already exists,
    so a redelivered close event writes nothing.
    """
    now = now or timezone.now()
    messages = list(
        Message.objects.filter(ticket=ticket)
        .prefetch_related("attachments")
        .order_by("sent_at", "id")
    )
    last_message_id = messages[-1].pk if messages else 0
    if ChatTranscript.objects.filter(
        ticket_reference=ticket.reference, last_message_id=last_message_id
    ).exists():
        return None

    document = transcript_document(ticket, messages, closed_at=closed_at)
    text = render_text(document)
    json_text = render_json(document)

    try:
        with transaction.atomic():
            transcript = _append(
                ticket=ticket,
                last_message_id=last_message_id,
                message_count=len(messages),
                closed_at=closed_at,
                created_at=now,
                text=text,
                json_text=json_text,
            )
            services.record_event(
                ticket,
                kind=TicketEvent.Kind.NOTE,
                actor_label=TRANSCRIPT_ACTOR,
                reason=f"Transcript {transcript.sequence} written ({len(messages)} messages).",
                data={"transcript": transcript.pk, "entry_hash": transcript.entry_hash},
                occurred_at=now,
            )
    except IntegrityError:
        # A concurrent worker wrote the transcript of the same close first.
        logger.info("transcript of ticket %s already written concurrently", ticket.pk)
        return None
    logger.info("transcript %s written for ticket %s", transcript.sequence, ticket.pk)
    return transcript


def _append(
    *,
    ticket: Ticket,
    last_message_id: int,
    message_count: int,
    closed_at: datetime,
    created_at: datetime,
    text: str,
    json_text: str,
) -> ChatTranscript:
    TranscriptChainHead.objects.get_or_create(pk=1)
    # The head row lock serialises appends, so sequence numbers and links never fork.
    head = TranscriptChainHead.objects.select_for_update().get(pk=1)
    sequence = head.last_sequence + 1
    text_sha256 = sha256_hex(text)
    json_sha256 = sha256_hex(json_text)
    digest = entry_hash(
        sequence=sequence,
        ticket_reference=ticket.reference,
        last_message_id=last_message_id,
        message_count=message_count,
        closed_at=closed_at,
        created_at=created_at,
        text_sha256=text_sha256,
        json_sha256=json_sha256,
        previous_hash=head.last_hash,
    )
    transcript = ChatTranscript.objects.create(
        sequence=sequence,
        ticket=ticket,
        ticket_reference=ticket.reference,
        last_message_id=last_message_id,
        message_count=message_count,
        closed_at=closed_at,
        created_at=created_at,
        text=text,
        json_text=json_text,
        text_sha256=text_sha256,
        json_sha256=json_sha256,
        previous_hash=head.last_hash,
        entry_hash=digest,
    )
    TranscriptChainHead.objects.filter(pk=1).update(last_sequence=sequence, last_hash=digest)
    return transcript


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChainProblem:
    sequence: int
    ticket_reference: str
    reason: str

    def __str__(self) -> str:
        return f"transcript {self.sequence} ({self.ticket_reference}): {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    purged: int
    problems: tuple[ChainProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain() -> ChainReport:
    """Recompute every transcript's hashes and links; list each one that does not fit."""
    problems: list[ChainProblem] = []
    expected_sequence = 1
    previous_hash = ""
    checked = purged = 0
    last_reference = ""
    for transcript in ChatTranscript.objects.order_by("sequence").iterator(chunk_size=500):
        checked += 1
        last_reference = transcript.ticket_reference
        problem = _check_one(transcript, expected_sequence, previous_hash)
        if problem:
            problems.append(ChainProblem(transcript.sequence, transcript.ticket_reference, problem))
        if transcript.purged_at is not None:
            purged += 1
        expected_sequence = transcript.sequence + 1
        previous_hash = transcript.entry_hash

    head = TranscriptChainHead.objects.filter(pk=1).first()
    head_sequence = head.last_sequence if head else 0
    head_hash = head.last_hash if head else ""
    if head_sequence != expected_sequence - 1 or head_hash != previous_hash:
        problems.append(
            ChainProblem(
                head_sequence,
                last_reference,
                f"the chain head names transcript {head_sequence} but the newest stored one "
                f"is {expected_sequence - 1}: transcripts at the end were removed or the head "
                "was edited",
            )
        )
    return ChainReport(checked, purged, tuple(problems))


def _check_one(transcript: ChatTranscript, expected_sequence: int, previous_hash: str) -> str:
    if transcript.sequence != expected_sequence:
        return (
            f"expected transcript {expected_sequence} here; transcripts "
            f"{expected_sequence} to {transcript.sequence - 1} are missing"
        )
    if transcript.previous_hash != previous_hash:
        return "its previous_hash does not match the entry hash of the transcript before it"
    if transcript.purged_at is None:
        if sha256_hex(transcript.text) != transcript.text_sha256:
            return "the plain text does not match its SHA-256 (content changed)"
        if sha256_hex(transcript.json_text) != transcript.json_sha256:
            return "the JSON does not match its SHA-256 (content changed)"
    if _stored_entry_hash(transcript) != transcript.entry_hash:
        return "its entry hash does not match its fields (hashes or metadata changed)"
    return ""


# ---------------------------------------------------------------- retention


def purge_expired_transcripts(*, retention_days: int, now: datetime | None = None) -> int:
    """Empty the texts of transcripts older than `retention_days`; return how many.

    Each purged transcript keeps its row and hashes as a tombstone, and its ticket (if it
    still exists) gets a note saying when and why.
    """
    if retention_days <= 0:
        raise ValueError(f"retention_days={retention_days} must be a positive number of days.")
    now = now or timezone.now()
    cutoff = now - timedelta(days=retention_days)
    expired = ChatTranscript.objects.filter(purged_at__isnull=True, created_at__lt=cutoff)
    total = 0
    while True:
        batch = list(expired.order_by("sequence").values_list("pk", "sequence", "ticket_id")[:500])
        if not batch:
            break
        with transaction.atomic():
            ChatTranscript.objects.filter(pk__in=[pk for pk, _, _ in batch]).update(
                text="", json_text="", purged_at=now
            )
            tickets = Ticket.objects.in_bulk([t for _, _, t in batch if t is not None])
            for _, sequence, ticket_id in batch:
                ticket = tickets.get(ticket_id) if ticket_id is not None else None
                if ticket is not None:
                    services.record_event(
                        ticket,
                        kind=TicketEvent.Kind.NOTE,
                        actor_label=TRANSCRIPT_ACTOR,
                        reason=(
                            f"Transcript {sequence} purged after the {retention_days}-day "
                            "retention; its hashes stay in the chain."
                        ),
                        occurred_at=now,
                    )
        total += len(batch)
    if total:
        logger.info("purged %s chat transcripts older than %s days", total, retention_days)
    return total
