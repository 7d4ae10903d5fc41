"""Pure functions from Zendesk JSON to the hub's provider-neutral records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from integrations.category_hints import DEFAULT_TAG_CATEGORIES, category_hints
from integrations.types import AttachmentRecord, CommentRecord, Person, Role, TicketRecord
from tickets.models import Channel, MessageKind, Priority, Status

Users = Mapping[str, Mapping[str, Any]]

# Ticket status (lower case; event subscriptions send upper case) to the hub's status.
STATUSES: dict[str, str] = {
    "new": Status.NEW,
    "open": Status.OPEN,
    "pending": Status.PENDING_CUSTOMER,
    "hold": Status.ON_HOLD,
    "solved": Status.SOLVED,
    "closed": Status.CLOSED,
}
PRIORITIES: dict[str, str] = {
    "low": Priority.LOW,
    "normal": Priority.NORMAL,
    "high": Priority.HIGH,
    "urgent": Priority.URGENT,
}
# via.channel as a name or as the numeric via id (0 web form, 4 mail, 5 API, 8 rule).
CHANNELS: dict[str, str] = {
    "email": Channel.EMAIL,
    "mail": Channel.EMAIL,
    "4": Channel.EMAIL,
    "web": Channel.WEB_FORM,
    "web_form": Channel.WEB_FORM,
    "web_widget": Channel.WEB_FORM,
    "0": Channel.WEB_FORM,
    "api": Channel.WEB_FORM,
    "5": Channel.WEB_FORM,
    "chat": Channel.CHAT,
    "native_messaging": Channel.CHAT,
    "messaging": Channel.CHAT,
    "whatsapp": Channel.WHATSAPP,
    "voice": Channel.PHONE,
    "phone": Channel.PHONE,
    "rule": Channel.AGENT_OUTBOUND,
    "8": Channel.AGENT_OUTBOUND,
}
AGENT_ROLES = {"agent", "admin"}
# Zendesk attributes some automatic comments to user id -1.
SYSTEM_USER_ID = "-1"


def parse_time(value: object) -> datetime | None:
    """Read an ISO 8601 timestamp ("2025-03-10T07:42:11Z"); None if absent or invalid."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def status_for(value: object) -> str | None:
    """Return the hub status for a Zendesk status in any case; None for unknown or custom ones."""
    return STATUSES.get(str(value).lower()) if value else None


def priority_for(value: object) -> str | None:
    return PRIORITIES.get(str(value).lower()) if value else None


def channel_for(via: Mapping[str, Any] | None) -> str:
    channel = str((via or {}).get("channel", "")).lower()
    return CHANNELS.get(channel, Channel.EMAIL)


def person_for(user_id: object, users: Users, *, fallback: Person | None = None) -> Person:
    """Return the person behind a user id, from the users sideload.

    Their Zendesk role sets the hub role: end-user is a customer, agent and admin are agents.
    """
    key = str(user_id) if user_id is not None else ""
    if key == SYSTEM_USER_ID:
        return Person(external_id=key, name="Zendesk", role=Role.SYSTEM)
    user = users.get(key)
    if user is None:
        return fallback or Person(external_id=key)
    role = Role.AGENT if user.get("role") in AGENT_ROLES else Role.CUSTOMER
    return Person(
        external_id=key,
        name=str(user.get("name") or ""),
        email=str(user.get("email") or "").lower(),
        role=role,
    )


def requester_for(ticket: Mapping[str, Any], users: Users) -> Person:
    sender = ((ticket.get("via") or {}).get("source") or {}).get("from") or {}
    fallback = Person(
        external_id=str(ticket.get("requester_id") or ""),
        name=str(sender.get("name") or ""),
        email=str(sender.get("address") or "").lower(),
    )
    person = person_for(ticket.get("requester_id"), users, fallback=fallback)
    # The requester is the customer even when an agent opened the ticket for them.
    return Person(person.external_id, person.name, person.email or fallback.email, Role.CUSTOMER)


def comment_record(
    ticket_id: str, comment: Mapping[str, Any], users: Users, *, requester: Person
) -> CommentRecord:
    author_id = str(comment.get("author_id") or "")
    is_public = bool(comment.get("public", True))
    if author_id == requester.external_id and author_id not in users:
        author = requester
    else:
        # Only agents can write internal notes, so an unknown author of one is an agent.
        unknown_role = Role.CUSTOMER if is_public else Role.AGENT
        fallback = Person(external_id=author_id, role=unknown_role)
        author = person_for(author_id, users, fallback=fallback)
    return CommentRecord(
        ticket_id=ticket_id,
        external_id=str(comment["id"]),
        author=author,
        created_at=parse_time(comment.get("created_at")) or datetime.now(UTC),
        body_text=str(comment.get("plain_body") or comment.get("body") or ""),
        body_html=str(comment.get("html_body") or ""),
        is_public=is_public,
        kind=MessageKind.CALL if comment.get("type") == "VoiceComment" else MessageKind.NORMAL,
        attachments=tuple(
            AttachmentRecord(
                filename=str(item.get("file_name") or "attachment"),
                content_type=str(item.get("content_type") or "application/octet-stream"),
                size=int(item.get("size") or 0),
                url=str(item.get("content_url") or ""),
            )
            for item in comment.get("attachments") or []
        ),
    )


def ticket_record(
    ticket: Mapping[str, Any],
    *,
    users: Users,
    comments: Sequence[Mapping[str, Any]] | None,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
) -> TicketRecord:
    """Map a ticket (from Show Ticket or the incremental export) and, if given, its comments.

    Without comments the record is incomplete, except for a deleted ticket, which needs none.
    """
    ticket_id = str(ticket["id"])
    raw_status = str(ticket.get("status") or "").lower()
    deleted = raw_status == "deleted"
    requester = requester_for(ticket, users)
    tags = tuple(str(tag) for tag in ticket.get("tags") or [])
    fields = [
        (str(field.get("id")), field.get("value"))
        for field in ticket.get("custom_fields") or ticket.get("fields") or []
    ]
    created_at = parse_time(ticket.get("created_at")) or datetime.now(UTC)
    assignee_id = ticket.get("assignee_id")
    return TicketRecord(
        external_id=ticket_id,
        subject=str(ticket.get("subject") or ticket.get("raw_subject") or "(no subject)"),
        requester=requester,
        created_at=created_at,
        updated_at=parse_time(ticket.get("updated_at")) or created_at,
        status=status_for(raw_status),
        priority=priority_for(ticket.get("priority")),
        channel=channel_for(ticket.get("via")),
        tags=tags,
        category_hints=category_hints(tags=tags, fields=fields, table=tag_table),
        assignee=person_for(assignee_id, users) if assignee_id else None,
        comments=tuple(
            comment_record(ticket_id, comment, users, requester=requester)
            for comment in comments or []
        ),
        complete=comments is not None or deleted,
        deleted=deleted,
    )


def missing_user_ids(
    ticket: Mapping[str, Any], comments: Sequence[Mapping[str, Any]], users: Users
) -> set[str]:
    """User ids the record needs (requester, assignee, comment authors) that users lacks."""
    needed = {ticket.get("requester_id"), ticket.get("assignee_id")}
    needed.update(comment.get("author_id") for comment in comments)
    named = {str(user_id) for user_id in needed if user_id is not None}
    return named - set(users) - {SYSTEM_USER_ID}
