"""Provider-neutral records: what an adapter makes of a webhook body or an API response.

Adapters map vendor JSON to these records with pure functions; `integrations.apply` turns the
records into queue writes through `tickets.services`. Statuses, priorities and channels hold
the hub's values (`tickets.models.Status`, `Priority`, `Channel`), never the vendor's.

Records are stored as JSON (a polled ticket is an InboundItem before it is applied), so each
one converts to and from a dict with `record_to_dict` and `record_from_dict`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Status of a ticket that was deleted in its source system; never a hub status.
DELETED = "deleted"


class Role:
    """Author of a comment, mapped to the hub's kinds of author."""

    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


@dataclass(frozen=True)
class Person:
    """A requester, an agent or a comment's author; external_id is the vendor's user id."""

    external_id: str = ""
    name: str = ""
    email: str = ""
    role: str = Role.CUSTOMER


@dataclass(frozen=True)
class AttachmentRecord:
    """A file on a comment. content is None when it was not downloaded (too large, no network)."""

    filename: str
    content_type: str = "application/octet-stream"
    size: int = 0
    url: str = ""
    content: bytes | None = None


@dataclass(frozen=True)
class CommentRecord:
    """One message on a ticket: a customer's message, an agent's reply or an internal note."""

    ticket_id: str
    external_id: str
    author: Person
    created_at: datetime
    body_text: str = ""
    body_html: str = ""  # vendor HTML, not yet sanitised
    is_public: bool = True
    kind: str = "normal"  # tickets.models.MessageKind value
    attachments: tuple[AttachmentRecord, ...] = ()


@dataclass(frozen=True)
class TicketRecord:
    """A ticket as its source shows it at updated_at.

    complete is False when comments were left out (list and export endpoints), so the caller
    must fetch the ticket before it can add messages. status None means "keep the hub's".
    """

    external_id: str
    subject: str
    requester: Person
    created_at: datetime
    updated_at: datetime
    status: str | None = None
    priority: str | None = None
    channel: str = "email"
    tags: tuple[str, ...] = ()
    category_hints: tuple[str, ...] = ()
    assignee: Person | None = None
    comments: tuple[CommentRecord, ...] = ()
    complete: bool = True
    deleted: bool = False


@dataclass(frozen=True)
class StatusRecord:
    """A status change without a message; status is a hub Status value or DELETED."""

    ticket_id: str
    status: str
    occurred_at: datetime


@dataclass(frozen=True)
class ContactRecord:
    """New details about a ticket's requester, e.g. an e-mail address given later in a chat."""

    ticket_id: str
    person: Person


@dataclass(frozen=True)
class TicketRef:
    """A nudge that names a ticket but carries nothing trustworthy: fetch it through the API."""

    ticket_id: str
    reason: str = ""


Record = TicketRecord | CommentRecord | StatusRecord | ContactRecord | TicketRef


@dataclass(frozen=True)
class WebhookEvent:
    """Parsed webhook body: its event name and records, or the reason the hub ignores it."""

    name: str
    records: tuple[Record, ...] = ()
    # Non-empty when the hub knowingly does nothing with this event.
    ignored: str = ""


@dataclass(frozen=True)
class ChangePage:
    """One step of polling: the tickets changed since the cursor, where to resume, and whether
    the walk has reached the present."""

    records: tuple[TicketRecord, ...]
    cursor: dict[str, Any]
    done: bool
    # Progress information for the operator, e.g. {"page": 3}.
    progress: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- storage as JSON

_RECORD_TYPES: dict[str, type] = {
    "ticket": TicketRecord,
    "comment": CommentRecord,
    "status": StatusRecord,
    "contact": ContactRecord,
    "ticket_ref": TicketRef,
}
_TYPE_NAMES = {cls: name for name, cls in _RECORD_TYPES.items()}


def record_to_dict(record: Record) -> dict[str, Any]:
    """Convert a record to JSON-safe values: datetimes as ISO 8601, bytes as base64."""
    data = _encode(record)
    data["type"] = _TYPE_NAMES[type(record)]
    return data


def record_from_dict(data: Mapping[str, Any]) -> Record:
    """Rebuild a record from `record_to_dict` output; raises ValueError on an unknown type."""
    kind = data.get("type")
    cls = _RECORD_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"Unknown record type {kind!r}; expected one of {sorted(_RECORD_TYPES)}.")
    record: Record = _decode(cls, data)
    return record


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    return value


_NESTED: dict[tuple[type, str], type] = {
    (TicketRecord, "requester"): Person,
    (TicketRecord, "assignee"): Person,
    (TicketRecord, "comments"): CommentRecord,
    (CommentRecord, "author"): Person,
    (CommentRecord, "attachments"): AttachmentRecord,
    (ContactRecord, "person"): Person,
}
_DATETIMES = {"created_at", "updated_at", "occurred_at"}
_TUPLES = {"tags", "category_hints", "comments", "attachments"}


def _decode(cls: type, data: Mapping[str, Any]) -> Any:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        raw = data[f.name]
        nested = _NESTED.get((cls, f.name))
        if raw is None:
            values[f.name] = None
        elif nested is not None and f.name in _TUPLES:
            values[f.name] = tuple(_decode(nested, item) for item in raw)
        elif nested is not None:
            values[f.name] = _decode(nested, raw)
        elif f.name in _DATETIMES:
            values[f.name] = datetime.fromisoformat(raw)
        elif f.name == "content":
            values[f.name] = base64.b64decode(raw)
        elif f.name in _TUPLES:
            values[f.name] = tuple(raw)
        else:
            values[f.name] = raw
    return cls(**values)
