"""The help centre's contact form as a source: stored like any other inbound item."""

from __future__ import annotations

import json
from datetime import datetime

from django.utils import timezone

from integrations.inbound import ProcessResult
from integrations.models import InboundItem
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, Source
from tickets.services import ingest_message


def process_web_form_item(item: InboundItem) -> ProcessResult:
    form = json.loads(bytes(item.payload))
    sent_at = datetime.fromisoformat(form["submitted_at"]) if form.get("submitted_at") else timezone.now()
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
