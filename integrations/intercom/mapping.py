"""Pure functions from Intercom JSON (API version 2.11) to the hub's records.

A conversation becomes a TicketRecord whose external id is the conversation id. Its first
message (`source`) becomes a comment with the id "source:<source id>", and each conversation
part with a body or attachments becomes a comment with the part's id. Times are UNIX seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from inscriptis import get_text

from integrations.base import MalformedPayload
from integrations.category_hints import DEFAULT_TAG_CATEGORIES, category_hints
from integrations.types import (
    AttachmentRecord,
    CommentRecord,
    Person,
    Role,
    TicketRecord,
    WebhookEvent,
)
from tickets.models import Channel, Priority, Status

# Topics whose item is a conversation the hub stores; others are kept as ignored deliveries.
HANDLED_TOPICS = frozenset(
    {
        "conversation.user.created",
        "conversation.user.replied",
        "conversation.admin.replied",
        "conversation.admin.assigned",
        "conversation.admin.closed",
    }
)

_CUSTOMER_AUTHORS = frozenset({"user", "lead", "contact"})
_AGENT_AUTHORS = frozenset({"admin", "team"})
# Parts whose body is shown to the customer. Any other part's body (an assignment note, a
# note) is for teammates only.
_PUBLIC_PART_TYPES = frozenset({"comment", "close", "open", "snoozed"})
_SUBJECT_LENGTH = 120
_BLANK_LINES = re.compile(r"\n{3,}")


@contextmanager
def unexpected_shape(what: str) -> Iterator[None]:
    """Turn the errors that a value of the wrong JSON type causes into MalformedPayload."""
    try:
        yield
    except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedPayload(
            f"{what} does not have Intercom's shape ({type(exc).__name__}: {exc})"
        ) from exc


def timestamp(value: Any) -> datetime:
    """Convert Intercom's UNIX seconds to an aware UTC datetime; raises MalformedPayload."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise MalformedPayload(f"timestamp {value!r} is not UNIX seconds") from exc


def html_to_text(html: str | None) -> str:
    if not html:
        return ""
    text = str(get_text(html)).strip()
    return _BLANK_LINES.sub("\n\n", text)


def role_of(author_type: str | None) -> str:
    if author_type in _CUSTOMER_AUTHORS:
        return Role.CUSTOMER
    if author_type in _AGENT_AUTHORS:
        return Role.AGENT
    if author_type == "bot":
        return Role.BOT
    return Role.SYSTEM


def person(
    author: Mapping[str, Any] | None, *, bot_admin_ids: frozenset[str] = frozenset()
) -> Person:
    """Map an author to a Person; an admin in bot_admin_ids (the hub's own teammate) is a bot."""
    author = author or {}
    external_id = str(author.get("id") or "")
    role = role_of(author.get("type"))
    if role == Role.AGENT and external_id in bot_admin_ids:
        role = Role.BOT
    return Person(
        external_id=external_id,
        name=str(author.get("name") or ""),
        email=str(author.get("email") or "").strip().lower(),
        role=role,
    )


def attachments(items: Iterable[Mapping[str, Any]] | None) -> tuple[AttachmentRecord, ...]:
    found = []
    for item in items or ():
        found.append(
            AttachmentRecord(
                filename=str(item.get("name") or "attachment"),
                content_type=str(item.get("content_type") or "application/octet-stream"),
                size=int(item.get("filesize") or 0),
                url=str(item.get("url") or ""),
            )
        )
    return tuple(found)


def source_comment(
    conversation: Mapping[str, Any], *, bot_admin_ids: frozenset[str] = frozenset()
) -> CommentRecord | None:
    """Map the conversation's first message to a comment; None without body and files."""
    source = conversation.get("source") or {}
    body = source.get("body") or ""
    files = attachments(source.get("attachments"))
    if not body and not files:
        return None
    conversation_id = str(conversation["id"])
    return CommentRecord(
        ticket_id=conversation_id,
        external_id=f"source:{source.get('id') or conversation_id}",
        author=person(source.get("author"), bot_admin_ids=bot_admin_ids),
        created_at=timestamp(conversation.get("created_at")),
        body_text=html_to_text(body),
        body_html=body,
        is_public=True,
        attachments=files,
    )


def part_comment(
    conversation_id: str, part: Mapping[str, Any], *, bot_admin_ids: frozenset[str] = frozenset()
) -> CommentRecord | None:
    """Map a conversation part to a comment; None for parts without body or files (a close,
    an assignment without a note)."""
    body = part.get("body") or ""
    files = attachments(part.get("attachments"))
    if not body and not files:
        return None
    author = person(part.get("author"), bot_admin_ids=bot_admin_ids)
    return CommentRecord(
        ticket_id=conversation_id,
        external_id=str(part["id"]),
        author=author,
        created_at=timestamp(part.get("created_at")),
        body_text=html_to_text(body),
        body_html=body,
        is_public=part.get("part_type") in _PUBLIC_PART_TYPES,
        attachments=files,
    )


def parts_of(conversation: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    block = conversation.get("conversation_parts") or {}
    return list(block.get("conversation_parts") or [])


def parts_are_complete(conversation: Mapping[str, Any]) -> bool:
    """Return whether the conversation carries every part it has.

    A webhook item contains just the parts that caused the event, so the item is complete only
    when statistics.count_conversation_parts (or, without statistics, the list's total_count)
    is no larger than the parts included. A list call leaves the parts out altogether.
    """
    block = conversation.get("conversation_parts")
    if not isinstance(block, Mapping):
        return False
    included = len(block.get("conversation_parts") or [])
    counted = (conversation.get("statistics") or {}).get("count_conversation_parts")
    if counted is None:
        counted = block.get("total_count")
    try:
        return counted is None or int(counted) <= included
    except (TypeError, ValueError):
        return False


def hub_status(conversation: Mapping[str, Any]) -> str | None:
    """Map Intercom's state to a hub status; None keeps the hub's (an unanswered open chat)."""
    state = conversation.get("state")
    if state == "closed":
        return Status.SOLVED
    if state == "snoozed":
        return Status.PENDING_CUSTOMER
    if state == "open":
        statistics = conversation.get("statistics") or {}
        answered = statistics.get("first_admin_reply_at") or statistics.get("last_admin_reply_at")
        return Status.OPEN if answered else None
    return None


def subject_of(conversation: Mapping[str, Any], first_text: str) -> str:
    source = conversation.get("source") or {}
    for candidate in (conversation.get("title"), html_to_text(source.get("subject"))):
        if candidate and str(candidate).strip():
            return str(candidate).strip()[:_SUBJECT_LENGTH]
    first_line = next((line.strip() for line in first_text.splitlines() if line.strip()), "")
    if len(first_line) > _SUBJECT_LENGTH:
        first_line = first_line[: _SUBJECT_LENGTH - 1].rstrip() + "…"
    return first_line or "Chat"


def tags_of(conversation: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(
        str(tag.get("name"))
        for tag in (conversation.get("tags") or {}).get("tags") or []
        if tag.get("name")
    )


def requester_of(conversation: Mapping[str, Any]) -> Person:
    source_author = person((conversation.get("source") or {}).get("author"))
    if source_author.role == Role.CUSTOMER:
        return source_author
    contacts = (conversation.get("contacts") or {}).get("contacts") or []
    contact_id = str(contacts[0].get("id")) if contacts else ""
    return Person(external_id=contact_id, role=Role.CUSTOMER)


def assignee_of(conversation: Mapping[str, Any], parts: list[Mapping[str, Any]]) -> Person | None:
    admin_id = conversation.get("admin_assignee_id")
    if admin_id in (None, "", 0, "0"):
        return None
    admin_id = str(admin_id)
    for part in reversed(parts):
        author = part.get("author") or {}
        if str(author.get("id")) == admin_id and author.get("type") == "admin":
            return person(author)
    return Person(external_id=admin_id, role=Role.AGENT)


def conversation_record(
    conversation: Mapping[str, Any],
    *,
    complete: bool | None = None,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
    bot_admin_ids: frozenset[str] = frozenset(),
) -> TicketRecord:
    """Map a conversation (webhook item or API object) to a TicketRecord.

    complete defaults to whether the conversation carries all its parts. bot_admin_ids are
    the admins the hub itself writes as; their parts are stored as automatic messages.
    Raises MalformedPayload when the conversation does not have Intercom's documented shape.
    """
    with unexpected_shape("conversation"):
        return _conversation_record(
            conversation, complete=complete, tag_table=tag_table, bot_admin_ids=bot_admin_ids
        )


def _conversation_record(
    conversation: Mapping[str, Any],
    *,
    complete: bool | None = None,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
    bot_admin_ids: frozenset[str] = frozenset(),
) -> TicketRecord:
    if not conversation.get("id"):
        raise MalformedPayload("conversation has no id")
    conversation_id = str(conversation["id"])
    parts = parts_of(conversation)
    first = source_comment(conversation, bot_admin_ids=bot_admin_ids)
    comments = [first] if first is not None else []
    for part in parts:
        comment = part_comment(conversation_id, part, bot_admin_ids=bot_admin_ids)
        if comment is not None:
            comments.append(comment)
    first_text = comments[0].body_text if comments else ""
    tags = tags_of(conversation)
    attributes = [
        (str(name), value) for name, value in (conversation.get("custom_attributes") or {}).items()
    ]
    if complete is None:
        complete = parts_are_complete(conversation)
    return TicketRecord(
        external_id=conversation_id,
        subject=subject_of(conversation, first_text),
        requester=requester_of(conversation),
        created_at=timestamp(conversation.get("created_at")),
        updated_at=timestamp(conversation.get("updated_at") or conversation.get("created_at")),
        status=hub_status(conversation),
        priority=Priority.HIGH if conversation.get("priority") == "priority" else None,
        channel=Channel.CHAT,
        tags=tags,
        category_hints=category_hints(tags=tags, fields=attributes, table=tag_table),
        assignee=assignee_of(conversation, parts),
        comments=tuple(comments),
        # Files are downloaded only when the conversation is fetched, so a webhook with files
        # is treated as incomplete.
        complete=complete and not any(c.attachments for c in comments),
    )


def notification_event(
    envelope: Mapping[str, Any],
    *,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
    bot_admin_ids: frozenset[str] = frozenset(),
) -> WebhookEvent:
    """Map a notification envelope to a WebhookEvent; raises MalformedPayload."""
    with unexpected_shape("notification"):
        return _notification_event(envelope, tag_table=tag_table, bot_admin_ids=bot_admin_ids)


def _notification_event(
    envelope: Mapping[str, Any],
    *,
    tag_table: Mapping[str, str],
    bot_admin_ids: frozenset[str],
) -> WebhookEvent:
    topic = envelope.get("topic")
    if not isinstance(topic, str) or not topic:
        raise MalformedPayload("notification has no topic")
    if topic == "ping":
        return WebhookEvent(topic, ignored="test delivery (ping)")
    if topic not in HANDLED_TOPICS:
        return WebhookEvent(topic, ignored=f"topic {topic} is not used by the hub")
    data = envelope.get("data")
    item = data.get("item") if isinstance(data, Mapping) else None
    if not isinstance(item, Mapping) or item.get("type") != "conversation":
        raise MalformedPayload(f"{topic} notification carries no conversation")
    record = _conversation_record(item, tag_table=tag_table, bot_admin_ids=bot_admin_ids)
    return WebhookEvent(topic, records=(record,))
