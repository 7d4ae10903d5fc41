"""Freshdesk automation-rule webhooks: credential check and the two body shapes.

Freshdesk signs nothing. The rule is set to send HTTP Basic credentials, a secret header, or
both, and the hub compares them in constant time with the connection's credentials
"webhook_username"/"webhook_password" and "webhook_token". Whatever is configured must match.
The body is never trusted: only the ticket id is read, and the ticket and its conversations
are fetched with the hub's API key.

Body shapes: "Advanced" content is our template, `{"hub_event": "ticket.…", "ticket": {"id":
…}}`; "Simple" content wraps ticket fields as `{"freshdesk_webhook": {"ticket_id": …}}`. Every
ticket event is a nudge to fetch the ticket; a hub_event outside "ticket.*" is ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from integrations.base import MalformedPayload, WebhookRejected
from integrations.types import TicketRef, WebhookEvent

DEFAULT_TOKEN_HEADER = "X-Hub-Webhook-Token"  # noqa: S105 - a header name, not a secret
# Placeholders can break the JSON (a quote in a comment); the id still sits near the top.
_TICKET_ID = re.compile(rb'"(?:ticket_id|id)"\s*:\s*"?(\d+)')
_EVENT = re.compile(rb'"hub_event"\s*:\s*"([\w.:-]{1,64})"')


def verify_credentials(
    headers: Mapping[str, str],
    *,
    username: str | None,
    password: str | None,
    token: str | None,
    token_header: str = DEFAULT_TOKEN_HEADER,
) -> None:
    """Return None when every configured credential matches; raises WebhookRejected."""
    basic_configured = bool(username and password)
    if not basic_configured and not token:
        raise WebhookRejected(403, "not_configured", "no webhook credentials on the connection")
    if basic_configured:
        _check_basic(headers.get("Authorization", ""), f"{username}:{password}")
    if token:
        sent = headers.get(token_header)
        if not sent:
            raise WebhookRejected(401, "missing_credentials", f"{token_header} is missing")
        if not hmac.compare_digest(sent.encode("utf-8", "replace"), token.encode()):
            raise WebhookRejected(401, "bad_credentials", f"{token_header} does not match")


def _check_basic(header: str, expected: str) -> None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise WebhookRejected(401, "missing_credentials", "no Basic Authorization header")
    try:
        sent = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected(401, "bad_credentials", "Authorization is not valid base64") from None
    if not hmac.compare_digest(sent, expected.encode()):
        raise WebhookRejected(401, "bad_credentials", "Basic credentials do not match")


def parse_body(body: bytes) -> WebhookEvent:
    """Read the ticket id from either body shape; raises MalformedPayload without one."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _unparsable(body)
    if not isinstance(data, dict):
        raise MalformedPayload("the body is JSON but not an object")
    simple = data.get("freshdesk_webhook")
    if isinstance(simple, dict):
        return _event("freshdesk_webhook", simple.get("ticket_id"), simple.get("ticket_status"))
    ticket = data.get("ticket")
    name = str(data.get("hub_event") or "automation")
    if data.get("hub_event") and not name.startswith("ticket."):
        return WebhookEvent(name, ignored="the hub uses ticket events only")
    ticket_id = ticket.get("id") if isinstance(ticket, dict) else data.get("ticket_id")
    return _event(name, ticket_id, None)


def _event(name: str, ticket_id: Any, status: Any) -> WebhookEvent:
    if not _is_id(ticket_id):
        raise MalformedPayload("no ticket id in the body")
    reason = f"{name} ({status})" if status else name
    return WebhookEvent(name, (TicketRef(str(ticket_id), reason=reason),))


def _unparsable(body: bytes) -> WebhookEvent:
    match = _TICKET_ID.search(body)
    if match is None:
        raise MalformedPayload("the body is not JSON and names no ticket id")
    event = _EVENT.search(body)
    name = event.group(1).decode() if event else "automation"
    ref = TicketRef(match.group(1).decode(), reason=f"{name} (unparsable body)")
    return WebhookEvent(name, (ref,))


def _is_id(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and str(value).isdigit()
