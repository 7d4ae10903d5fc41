"""The help centre's contact form as a source: stored like any other inbound item."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from integrations.inbound import ProcessResult, process_item, store_item
from integrations.models import InboundItem
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, Source
from tickets.services import ingest_message


def process_web_form_item(item: InboundItem) -> ProcessResult:
    form = json.loads(bytes(item.payload))
    sent_at = (
        datetime.fromisoformat(form["submitted_at"]) if form.get("submitted_at") else timezone.now()
    )
    incoming = IncomingMessage(
        source=Source.WEB,
        channel=Channel.WEB_FORM,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        contact=ContactInput(name=form["name"], email=form["email"]),
        author_name=form["name"],
        author_email=form["email"],
        subject=form.get("subject") or "Help centre enquiry",
        body_text=form["message"],
        sent_at=sent_at,
        received_at=item.received_at,
        external_ticket_id=f"form-{item.pk}",
        external_message_id=f"form-{item.pk}",
        category_hints=(f"category:{form['category']}",) if form.get("category") else (),
    )
    result = ingest_message(incoming=incoming, actor_label="help centre form")
    ticket_id = result.ticket.pk if result.ticket else None
    return ProcessResult(InboundItem.State.DONE, result.outcome, ticket_id)


@dataclass(frozen=True)
class ContactSubmission:
    """The stored form and what processing made of it; ticket_id is None while it awaits a retry."""

    item_id: int
    ticket_id: int | None
    duplicate: bool

    @property
    def reference(self) -> str | None:
        return f"IL-{self.ticket_id}" if self.ticket_id else None


def submit_contact_form(
    *, name: str, email: str, category: str, message: str, submitted_at: datetime | None = None
) -> ContactSubmission:
    """Store a help centre form as an inbound item, then process it into a ticket at once.

    The same form sent twice on one day (a double click, a reload) is stored once and
    returns the first ticket. When processing fails the item stays stored as failed and the
    retry task picks it up, so the visitor gets no reference but the message is kept.
    """
    submitted_at = submitted_at or timezone.now()
    payload = {
        "name": name.strip(),
        "email": email.strip(),
        "category": category,
        "message": message.strip(),
        "submitted_at": submitted_at.isoformat(),
    }
    fingerprint = hashlib.sha256(
        json.dumps(
            [payload["name"], payload["email"].lower(), category, payload["message"]],
            ensure_ascii=False,
        ).encode()
    ).hexdigest()
    key = f"web_form:{submitted_at.date().isoformat()}:{fingerprint}"
    item, created = store_item(
        kind=InboundItem.Kind.WEB_FORM,
        idempotency_key=key,
        payload=json.dumps(payload, ensure_ascii=False).encode(),
        enqueue=False,
    )
    if created or item.state == InboundItem.State.PENDING:
        processed = process_item(item.pk)
        item = processed or item
    return ContactSubmission(item_id=item.pk, ticket_id=item.ticket_id, duplicate=not created)
