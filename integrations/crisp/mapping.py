"""Pure functions from Crisp JSON (REST API v1 and web hooks) to the hub's records.

A conversation is keyed "<website_id>:<session_id>" and each message "<session_id>:<fingerprint>":
Crisp documents the fingerprint as unique within a session only. Times are milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from integrations.base import MalformedPayload
from integrations.category_hints import DEFAULT_TAG_CATEGORIES, category_hints
from integrations.types import (
    DELETED,
    AttachmentRecord,
    CommentRecord,
    ContactRecord,
    Person,
    Record,
    Role,
    StatusRecord,
    TicketRecord,
    TicketRef,
    WebhookEvent,
)
from tickets.models import Channel, Status

MESSAGE_EVENTS = frozenset({"message:send", "message:received"})
SESSION_EVENTS = frozenset({"session:set_state", "session:set_email", "session:removed"})

# Crisp's conversation state as a hub status; "pending" (no operator reply yet) keeps the
# hub's status.
STATE_STATUS: dict[str, str | None] = {
    "pending": None,
    "unresolved": Status.OPEN,
    "resolved": Status.SOLVED,
}
# Message types that carry a file in content {name, url, type}.
_FILE_TYPES = frozenset({"file", "animation", "audio"})
# Message types that are not messages: typing previews and system events.
_SKIPPED_TYPES = frozenset({"event"})
# Crisp names anonymous visitors "visitor" plus digits until they give a name.
_GENERATED_NICKNAME = re.compile(r"^visitor\d*$", re.IGNORECASE)
_SUBJECT_LENGTH = 120


@contextmanager
def unexpected_shape(what: str) -> Iterator[None]:
    """Turn the errors that a value of the wrong JSON type causes into MalformedPayload."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedPayload(
            f"{what} does not have Crisp's shape ({type(exc).__name__}: {exc})"
        ) from exc


def timestamp(value: Any) -> datetime:
    """Convert Crisp's UNIX milliseconds to an aware UTC datetime; raises MalformedPayload."""
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise MalformedPayload(f"timestamp {value!r} is not UNIX milliseconds") from exc


def ticket_key(website_id: str, session_id: str) -> str:
    return f"{website_id}:{session_id}"


def split_ticket_key(key: str) -> tuple[str, str]:
    """Return (website_id, session_id) of a ticket key; raises ValueError for another shape."""
    website_id, separator, session_id = key.partition(":")
    if not separator or not website_id or not session_id.startswith("session_"):
        raise ValueError(f"{key!r} is not a Crisp conversation key (website_id:session_id).")
    return website_id, session_id


def real_name(nickname: Any) -> str:
    """Return the nickname, or "" when Crisp generated it for an anonymous visitor."""
    name = str(nickname or "").strip()
    return "" if _GENERATED_NICKNAME.match(name) else name


def _ids(data: Mapping[str, Any], fallback_website: Any = None) -> tuple[str, str]:
    website_id = data.get("website_id") or fallback_website
    session_id = data.get("session_id")
    if not website_id or not session_id:
        raise MalformedPayload("event names no website_id and session_id")
    return str(website_id), str(session_id)


def message_content(message: Mapping[str, Any]) -> tuple[str, tuple[AttachmentRecord, ...]]:
    """Return the text of a message and its files."""
    content = message.get("content")
    kind = message.get("type")
    if kind in _FILE_TYPES and isinstance(content, Mapping):
        name = str(content.get("name") or "attachment")
        attachment = AttachmentRecord(
            filename=name,
            content_type=str(content.get("type") or "application/octet-stream"),
            url=str(content.get("url") or ""),
        )
        return "", (attachment,)
    if isinstance(content, str):
        return content, ()
    if isinstance(content, Mapping):
        # Pickers, fields and carousels: keep their visible text.
        for key in ("text", "value", "explain"):
            if isinstance(content.get(key), str) and content[key]:
                return str(content[key]), ()
    return "", ()


def author_of(message: Mapping[str, Any]) -> Person:
    user = message.get("user") or {}
    if message.get("from") == "operator":
        # NOTE: the hub sends its off-hours message with "automated": true. Whether Crisp's
        # echo of it keeps the flag is not verified. Without the flag, the echo counts as an
        # operator's reply.
        role = Role.BOT if message.get("automated") else Role.AGENT
        return Person(
            external_id=str(user.get("user_id") or ""),
            name=str(user.get("nickname") or ""),
            role=role,
        )
    return Person(
        external_id=str(user.get("user_id") or ""),
        name=real_name(user.get("nickname")),
        role=Role.CUSTOMER,
    )


def message_comment(
    message: Mapping[str, Any], *, website_id: str | None = None
) -> CommentRecord | None:
    """Map a Crisp message to a comment; None for system events and empty messages."""
    if message.get("type") in _SKIPPED_TYPES:
        return None
    website, session = _ids(message, website_id)
    fingerprint = message.get("fingerprint")
    if fingerprint in (None, ""):
        raise MalformedPayload(f"message in {session} has no fingerprint")
    text, files = message_content(message)
    if not text and not files:
        return None
    return CommentRecord(
        ticket_id=ticket_key(website, session),
        external_id=f"{session}:{fingerprint}",
        author=author_of(message),
        created_at=timestamp(message.get("timestamp")),
        body_text=text,
        is_public=message.get("type") != "note",
        attachments=files,
    )


def subject_from(text: str) -> str:
    """Return the first non-empty line of a message, shortened to a subject."""
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if len(first_line) > _SUBJECT_LENGTH:
        first_line = first_line[: _SUBJECT_LENGTH - 1].rstrip() + "…"
    return first_line or "Chat"


def message_event(event: str, data: Mapping[str, Any], website_id: str | None) -> WebhookEvent:
    """message:send (visitor) or message:received (operator) as a comment on the conversation.

    A comment on a conversation the hub does not hold yet makes the caller fetch the whole
    conversation, which also brings the visitor's details. A message with a file is fetched
    too, since files are downloaded only when fetching.
    """
    website, session = _ids(data, website_id)
    comment = message_comment(data, website_id=website)
    if comment is None:
        return WebhookEvent(event, ignored=f"{data.get('type')} message without content")
    key = ticket_key(website, session)
    if comment.attachments:
        return WebhookEvent(event, records=(TicketRef(key, reason="message with a file"),))
    records: list[Record] = [comment]
    if comment.author.role == Role.CUSTOMER and comment.author.name:
        records.append(ContactRecord(ticket_id=key, person=comment.author))
    if comment.author.role == Role.AGENT and comment.is_public:
        # An operator's reply moves a Crisp conversation from pending to unresolved; no
        # session:set_state hook reports that, so the reply stands for it.
        records.append(StatusRecord(key, Status.OPEN, comment.created_at))
    return WebhookEvent(event, records=tuple(records))


def session_event(
    event: str, data: Mapping[str, Any], occurred_at: datetime, website_id: str | None
) -> WebhookEvent:
    website, session = _ids(data, website_id)
    key = ticket_key(website, session)
    if event == "session:removed":
        return WebhookEvent(event, records=(StatusRecord(key, DELETED, occurred_at),))
    if event == "session:set_email":
        email = str(data.get("email") or "").strip().lower()
        if not email:
            return WebhookEvent(event, ignored="e-mail address removed")
        person = Person(external_id=session, email=email, role=Role.CUSTOMER)
        return WebhookEvent(event, records=(ContactRecord(key, person),))
    state = str(data.get("state") or "")
    if state not in STATE_STATUS:
        raise MalformedPayload(f"session:set_state names an unknown state {state!r}")
    status = STATE_STATUS[state]
    if status is None:
        return WebhookEvent(event, ignored=f"state {state} keeps the hub's status")
    return WebhookEvent(event, records=(StatusRecord(key, status, occurred_at),))


def hook_event(body: Mapping[str, Any]) -> WebhookEvent:
    """Map a web hook body {website_id, event, data, timestamp}; raises MalformedPayload."""
    with unexpected_shape("hook body"):
        return _hook_event(body)


def _hook_event(body: Mapping[str, Any]) -> WebhookEvent:
    event = body.get("event")
    data = body.get("data")
    if not isinstance(event, str) or not event:
        raise MalformedPayload("hook body has no event")
    if event not in MESSAGE_EVENTS | SESSION_EVENTS:
        return WebhookEvent(event, ignored=f"event {event} is not used by the hub")
    if not isinstance(data, Mapping):
        raise MalformedPayload(f"{event} hook has no data object")
    website_id = body.get("website_id")
    if event in MESSAGE_EVENTS:
        return message_event(event, data, website_id)
    occurred_at = timestamp(body.get("timestamp") or data.get("timestamp"))
    return session_event(event, data, occurred_at, website_id)


# ---------------------------------------------------------------- REST objects


def conversation_record(
    conversation: Mapping[str, Any],
    messages: Iterable[Mapping[str, Any]] | None = None,
    *,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
) -> TicketRecord:
    """Map a conversation from the REST API, with its messages when they were fetched.

    Without messages the record is incomplete, and the caller fetches them. Raises
    MalformedPayload when the conversation does not have Crisp's documented shape.
    """
    with unexpected_shape("conversation"):
        return _conversation_record(conversation, messages, tag_table=tag_table)


def _conversation_record(
    conversation: Mapping[str, Any],
    messages: Iterable[Mapping[str, Any]] | None,
    *,
    tag_table: Mapping[str, str],
) -> TicketRecord:
    website, session = _ids(conversation)
    meta = conversation.get("meta") or {}

    comments: list[CommentRecord] = []
    for message in messages or ():
        comment = message_comment(message, website_id=website)
        if comment is not None:
            comments.append(comment)
    comments.sort(key=lambda c: c.created_at)

    subject = str(meta.get("subject") or "").strip()
    if not subject:
        first = comments[0].body_text if comments else str(conversation.get("last_message") or "")
        subject = subject_from(first)
    assigned = (conversation.get("assigned") or {}).get("user_id")
    segments = tuple(str(segment) for segment in meta.get("segments") or [])
    fields = [(str(name), value) for name, value in (meta.get("data") or {}).items()]

    return TicketRecord(
        external_id=ticket_key(website, session),
        subject=subject[:_SUBJECT_LENGTH],
        requester=Person(
            external_id=session,
            name=real_name(meta.get("nickname")),
            email=str(meta.get("email") or "").strip().lower(),
            role=Role.CUSTOMER,
        ),
        created_at=timestamp(conversation.get("created_at")),
        updated_at=timestamp(conversation.get("updated_at") or conversation.get("created_at")),
        status=STATE_STATUS.get(str(conversation.get("state") or "")),
        channel=Channel.CHAT,
        tags=segments,
        category_hints=category_hints(tags=segments, fields=fields, table=tag_table),
        assignee=Person(external_id=str(assigned), role=Role.AGENT) if assigned else None,
        comments=tuple(comments),
        complete=messages is not None,
    )
