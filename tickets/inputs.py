"""Provider-neutral input records that sources hand to tickets.services.

Sources (the mailbox, desks, chat, the help centre form) map what they receive to these
records, so the queue depends on no provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class AttachmentInput:
    filename: str
    content_type: str
    payload: bytes
    content_id: str = ""
    inline: bool = False


@dataclass(frozen=True)
class ContactInput:
    """The customer behind a ticket; identities are (kind, value) pairs such as
    ("email", "thandi@example.org") or ("zendesk", "3981")."""

    name: str = ""
    email: str = ""
    identities: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class IncomingMessage:
    """One message for the queue, from the customer or from an agent in a source system."""

    source: str
    channel: str
    direction: str  # Direction.INBOUND or Direction.OUTBOUND
    author_kind: str  # AuthorKind value
    contact: ContactInput
    sent_at: datetime
    subject: str = ""
    body_text: str = ""
    body_html: str = ""  # must already be sanitised
    is_public: bool = True
    kind: str = "normal"  # MessageKind value
    author_name: str = ""
    author_email: str = ""
    received_at: datetime | None = None
    # Ticket and message ids in the source system; empty for mail.
    external_ticket_id: str = ""
    external_message_id: str = ""
    # Mail threading headers, ids without angle brackets.
    message_id: str = ""
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: tuple[AttachmentInput, ...] = ()
    # When the source created the ticket; defaults to sent_at of the first message.
    ticket_created_at: datetime | None = None
    ticket_status: str | None = None
    ticket_priority: str | None = None
    tags: tuple[str, ...] = ()
    # Provider data that names a category (a desk tag, a form field) before the text rules.
    category_hints: tuple[str, ...] = ()
    # Auto-replies, bounces and list mail may join an existing thread but never open a ticket.
    may_open_ticket: bool = True
    extra: dict[str, str] = field(default_factory=dict)
