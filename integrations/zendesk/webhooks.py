"""Zendesk webhooks: signature check and the two body shapes.

Signing (https://developer.zendesk.com/documentation/webhooks/verifying/): the
X-Zendesk-Webhook-Signature header is base64(HMAC-SHA256(signing secret, timestamp + raw
body)), the timestamp being the X-Zendesk-Webhook-Signature-Timestamp header, with no
separator. The secret is used as written, not base64-decoded. Zendesk states no replay window,
so the hub allows settings.WEBHOOK_TIMESTAMP_TOLERANCE either side of its clock.

Bodies: a trigger or automation sends the JSON an admin typed, with placeholders rendered as
display text ("Open", tags separated by spaces), so it only names the ticket to fetch. An
event subscription sends `{"type": "zen:event-type:ticket.…", "detail": {…}, "event": {…}}`
with ids as strings and enum values in upper case.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from integrations.base import MalformedPayload, WebhookRejected
from integrations.types import CommentRecord, Person, Role, StatusRecord, TicketRef, WebhookEvent
from integrations.zendesk.mapping import parse_time, status_for

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
EVENT_PREFIX = "zen:event-type:"

# Event-subscription types whose detail is enough to act on, or that call for a fetch.
FETCH_EVENTS = {
    "ticket.created",
    "ticket.priority_changed",
    "ticket.agent_assignment_changed",
    "ticket.custom_status_changed",
}
# A placeholder with a quote or a line break in it can break a trigger body's JSON. The
# ticket id still sits near the top, so it is read with a pattern and the rest is fetched.
_TRIGGER_TICKET_ID = re.compile(rb'"ticket"\s*:\s*\{[^{}]*?"id"\s*:\s*"?(\d+)')
_TRIGGER_EVENT = re.compile(rb'"hub_event"\s*:\s*"([\w.:-]{1,64})"')


def signature_for(body: bytes, timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_signature(
    body: bytes, headers: Mapping[str, str], *, secret: str, now: datetime, tolerance: timedelta
) -> None:
    """Return None for an authentic, recent delivery; raises WebhookRejected (401) otherwise."""
    signature = headers.get(SIGNATURE_HEADER, "").strip()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not timestamp:
        raise WebhookRejected(
            401, "missing_signature", f"{SIGNATURE_HEADER} or {TIMESTAMP_HEADER} is missing"
        )
    expected = signature_for(body, timestamp, secret)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise WebhookRejected(401, "bad_signature", "signature does not match the body")
    signed_at = parse_time(timestamp)
    if signed_at is None:
        raise WebhookRejected(401, "bad_timestamp", f"{TIMESTAMP_HEADER} is not an ISO 8601 time")
    if abs(now - signed_at) > tolerance:
        raise WebhookRejected(401, "stale_timestamp", f"signed at {timestamp}, outside the window")


def parse_body(body: bytes) -> WebhookEvent:
    """Map a trigger or event-subscription body to records; raises MalformedPayload."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _unparsable_trigger(body)
    if not isinstance(data, dict):
        raise MalformedPayload("the body is JSON but not an object")
    event_type = data.get("type")
    if isinstance(event_type, str) and event_type.startswith(EVENT_PREFIX):
        return _subscription_event(data, event_type[len(EVENT_PREFIX) :])
    return _trigger_event(data)


def _trigger_event(data: dict[str, Any]) -> WebhookEvent:
    name = str(data.get("hub_event") or "trigger")
    ticket = data.get("ticket")
    ticket_id = ticket.get("id") if isinstance(ticket, dict) else None
    if not _is_id(ticket_id):
        raise MalformedPayload("no ticket.id in the trigger body")
    return WebhookEvent(name, (TicketRef(str(ticket_id), reason=name),))


def _unparsable_trigger(body: bytes) -> WebhookEvent:
    match = _TRIGGER_TICKET_ID.search(body)
    if match is None:
        raise MalformedPayload("the body is not JSON and names no ticket id")
    event = _TRIGGER_EVENT.search(body)
    name = event.group(1).decode() if event else "trigger"
    ref = TicketRef(match.group(1).decode(), reason=f"{name} (unparsable body)")
    return WebhookEvent(name, (ref,))


def _subscription_event(data: dict[str, Any], short_type: str) -> WebhookEvent:
    name = EVENT_PREFIX + short_type
    if not short_type.startswith("ticket."):
        return WebhookEvent(name, ignored="not a ticket event")
    detail = _object(data.get("detail"))
    subject = str(data.get("subject") or "")
    ticket_id = detail.get("id")
    if not ticket_id and subject.startswith("zen:ticket:"):
        ticket_id = subject.rsplit(":", 1)[-1]
    if not _is_id(ticket_id):
        raise MalformedPayload(f"{name} names no ticket id")
    ticket_id = str(ticket_id)
    event = _object(data.get("event"))
    occurred_at = parse_time(data.get("time")) or parse_time(detail.get("updated_at"))

    if short_type == "ticket.comment_added":
        return WebhookEvent(name, (_comment(ticket_id, event, occurred_at),))
    if short_type == "ticket.status_changed":
        status = status_for(event.get("current"))
        if status is not None and occurred_at is not None:
            return WebhookEvent(name, (StatusRecord(ticket_id, status, occurred_at),))
        # A custom status, or no time: fetch the ticket for its current status.
        return WebhookEvent(name, (TicketRef(ticket_id, reason=name),))
    if short_type in FETCH_EVENTS:
        return WebhookEvent(name, (TicketRef(ticket_id, reason=name),))
    return WebhookEvent(name, ignored="the hub does not use this ticket event")


def _comment(
    ticket_id: str, event: dict[str, Any], occurred_at: datetime | None
) -> CommentRecord | TicketRef:
    comment = _object(event.get("comment"))
    author = _object(comment.get("author"))
    if not _is_id(comment.get("id")) or occurred_at is None:
        return TicketRef(ticket_id, reason="comment_added without a comment id")
    return CommentRecord(
        ticket_id=ticket_id,
        external_id=str(comment["id"]),
        author=Person(
            external_id=str(author.get("id") or ""),
            name=str(author.get("name") or ""),
            role=Role.AGENT if author.get("is_staff") else Role.CUSTOMER,
        ),
        created_at=occurred_at,
        body_text=str(comment.get("body") or ""),
        is_public=bool(comment.get("is_public", True)),
    )


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_id(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit()
