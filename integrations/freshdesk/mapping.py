"""Pure functions from Freshdesk JSON to the hub's provider-neutral records.

A Freshdesk ticket's first message is its description, which has no conversation id, so it
becomes a comment with the id "<ticket id>:description". Replies and notes are conversations.
`incoming` is true on the customer's and false on an agent's, and `private` marks a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from integrations.category_hints import DEFAULT_TAG_CATEGORIES, category_hints
from integrations.types import AttachmentRecord, CommentRecord, Person, Role, TicketRecord
from tickets.models import Channel, Priority, Status

Agents = Mapping[str, Person]

OPEN, PENDING, RESOLVED, CLOSED = 2, 3, 4, 5
# Numeric status to the hub's status. 2 (Open) is "new" until an agent has replied publicly.
STATUSES: dict[int, str] = {
    PENDING: Status.PENDING_CUSTOMER,
    RESOLVED: Status.SOLVED,
    CLOSED: Status.CLOSED,
}
PRIORITIES: dict[int, str] = {
    1: Priority.LOW,
    2: Priority.NORMAL,
    3: Priority.HIGH,
    4: Priority.URGENT,
}
# Numeric source: 1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback widget, 10 Outbound email.
# Older accounts also show 4 Forum, 5 Twitter, 6 Facebook and 8 Mobihelp.
CHANNELS: dict[int, str] = {
    1: Channel.EMAIL,
    2: Channel.WEB_FORM,
    3: Channel.PHONE,
    4: Channel.WEB_FORM,
    5: Channel.CHAT,
    6: Channel.CHAT,
    7: Channel.CHAT,
    8: Channel.CHAT,
    9: Channel.WEB_FORM,
    10: Channel.AGENT_OUTBOUND,
}
OUTBOUND_EMAIL = 10


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def description_id(ticket_id: str) -> str:
    return f"{ticket_id}:description"


def status_for(
    code: object, *, agent_replied: bool, custom: Mapping[str, str] | None = None
) -> str | None:
    """Return the hub status for a numeric status, or None for an unmapped code.

    Custom statuses come from the connection's config "status_map" ({"6": "on_hold"}).
    """
    try:
        number = int(code)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    if number == OPEN:
        return Status.OPEN if agent_replied else Status.NEW
    mapped = (custom or {}).get(str(number))
    if mapped in Status.values:
        return str(mapped)
    return STATUSES.get(number)


def priority_for(code: object) -> str | None:
    return PRIORITIES.get(code) if isinstance(code, int) else None


def channel_for(code: object) -> str:
    return CHANNELS.get(code, Channel.EMAIL) if isinstance(code, int) else Channel.EMAIL


def requester_for(ticket: Mapping[str, Any]) -> Person:
    embedded = ticket.get("requester") or {}
    return Person(
        external_id=str(ticket.get("requester_id") or embedded.get("id") or ""),
        name=str(embedded.get("name") or ""),
        email=str(embedded.get("email") or "").lower(),
        role=Role.CUSTOMER,
    )


def agent_from_api(agent: Mapping[str, Any]) -> Person:
    """Map an agent (Agents: View an Agent) to a Person."""
    contact = agent.get("contact") or {}
    return Person(
        external_id=str(agent.get("id") or ""),
        name=str(contact.get("name") or ""),
        email=str(contact.get("email") or "").lower(),
        role=Role.AGENT,
    )


def conversation_record(
    ticket_id: str, conversation: Mapping[str, Any], *, requester: Person, agents: Agents
) -> CommentRecord:
    user_id = str(conversation.get("user_id") or "")
    if conversation.get("incoming"):
        if user_id == requester.external_id:
            author = requester
        else:
            name, address = parseaddr(str(conversation.get("from_email") or ""))
            author = Person(user_id, name, address.lower(), Role.CUSTOMER)
    else:
        author = agents.get(user_id) or Person(external_id=user_id, role=Role.AGENT)
    return CommentRecord(
        ticket_id=ticket_id,
        external_id=str(conversation["id"]),
        author=author,
        created_at=parse_time(conversation.get("created_at")) or datetime.now(UTC),
        body_text=str(conversation.get("body_text") or ""),
        body_html=str(conversation.get("body") or ""),
        is_public=not conversation.get("private", False),
        attachments=attachments(conversation),
    )


def description_record(
    ticket: Mapping[str, Any], *, requester: Person, agents: Agents
) -> CommentRecord | None:
    """Map the description to the ticket's first message; None when the ticket came without
    it (list endpoints)."""
    if "description" not in ticket and "description_text" not in ticket:
        return None
    ticket_id = str(ticket["id"])
    author = requester
    if ticket.get("source") == OUTBOUND_EMAIL:
        # An outbound e-mail ticket is opened by the agent writing to the customer.
        responder = str(ticket.get("responder_id") or "")
        author = agents.get(responder) or Person(external_id=responder, role=Role.AGENT)
    return CommentRecord(
        ticket_id=ticket_id,
        external_id=description_id(ticket_id),
        author=author,
        created_at=parse_time(ticket.get("created_at")) or datetime.now(UTC),
        body_text=str(ticket.get("description_text") or ""),
        body_html=str(ticket.get("description") or ""),
        is_public=True,
        attachments=attachments(ticket),
    )


def attachments(item: Mapping[str, Any]) -> tuple[AttachmentRecord, ...]:
    return tuple(
        AttachmentRecord(
            filename=str(entry.get("name") or "attachment"),
            content_type=str(entry.get("content_type") or "application/octet-stream"),
            size=int(entry.get("size") or 0),
            url=str(entry.get("attachment_url") or ""),
        )
        for entry in item.get("attachments") or []
    )


def ticket_record(
    ticket: Mapping[str, Any],
    *,
    conversations: Sequence[Mapping[str, Any]] | None,
    agents: Agents | None = None,
    tag_table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
    status_map: Mapping[str, str] | None = None,
) -> TicketRecord:
    """Map a ticket (View a Ticket, or a list item) and, if given, its conversations.

    Without conversations the record is incomplete: the caller fetches the ticket.
    """
    agents = agents or {}
    ticket_id = str(ticket["id"])
    requester = requester_for(ticket)
    comments: list[CommentRecord] = []
    if conversations is not None:
        description = description_record(ticket, requester=requester, agents=agents)
        comments = [description] if description else []
        comments += [
            conversation_record(ticket_id, c, requester=requester, agents=agents)
            for c in conversations
        ]
    agent_replied = any(c.author.role == Role.AGENT and c.is_public for c in comments)
    tags = tuple(str(tag) for tag in ticket.get("tags") or [])
    custom_fields = ticket.get("custom_fields") or {}
    fields = [(str(name), value) for name, value in custom_fields.items()]
    if ticket.get("type"):
        fields.insert(0, ("type", ticket["type"]))
    created_at = parse_time(ticket.get("created_at")) or datetime.now(UTC)
    responder = str(ticket.get("responder_id") or "")
    return TicketRecord(
        external_id=ticket_id,
        subject=str(ticket.get("subject") or "(no subject)"),
        requester=requester,
        created_at=created_at,
        updated_at=parse_time(ticket.get("updated_at")) or created_at,
        status=status_for(ticket.get("status"), agent_replied=agent_replied, custom=status_map),
        priority=priority_for(ticket.get("priority")),
        channel=channel_for(ticket.get("source")),
        tags=tags,
        category_hints=category_hints(tags=tags, fields=fields, table=tag_table),
        assignee=agents.get(responder) if responder else None,
        comments=tuple(comments),
        complete=conversations is not None,
        deleted=bool(ticket.get("deleted")),
    )


def agent_ids(ticket: Mapping[str, Any], conversations: Sequence[Mapping[str, Any]]) -> set[str]:
    """Ids of the agents a record names: the responder and the authors of outgoing messages."""
    ids = {str(ticket["responder_id"])} if ticket.get("responder_id") else set()
    ids.update(
        str(c["user_id"]) for c in conversations if not c.get("incoming") and c.get("user_id")
    )
    return ids
