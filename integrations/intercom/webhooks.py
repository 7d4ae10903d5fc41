"""Intercom webhooks: the X-Hub-Signature check and reading the notification envelope.

Signing (https://developers.intercom.com/docs/webhooks/webhook-notifications): the header is
"sha1=" and the lowercase hex HMAC-SHA1 of the raw body, keyed with the app's client secret.
No timestamp is signed, so replays are caught by storing each notification id once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from integrations.base import MalformedPayload, WebhookRejected

SIGNATURE_HEADER = "X-Hub-Signature"
_PREFIX = "sha1="


def signature_for(body: bytes, secret: str) -> str:
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify_signature(body: bytes, headers: Mapping[str, str], *, secret: str) -> None:
    """Return None for a body signed with the secret; raises WebhookRejected otherwise."""
    if not secret:
        raise WebhookRejected(403, "not_configured", "no client_secret credential")
    signature = headers.get(SIGNATURE_HEADER, "").strip()
    if not signature:
        raise WebhookRejected(401, "missing_signature", f"{SIGNATURE_HEADER} is missing")
    if not signature.lower().startswith(_PREFIX):
        raise WebhookRejected(401, "bad_signature", f"{SIGNATURE_HEADER} is not sha1=<hex>")
    expected = signature_for(body, secret)
    if not hmac.compare_digest(expected.encode(), signature.lower().encode("utf-8", "replace")):
        raise WebhookRejected(401, "bad_signature", "signature does not match the body")


def load_envelope(body: bytes) -> dict[str, Any]:
    """Parse a notification body; raises MalformedPayload when it is not a JSON object."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"the body is not JSON ({exc})") from exc
    if not isinstance(envelope, dict):
        raise MalformedPayload("the body is JSON but not an object")
    return envelope
