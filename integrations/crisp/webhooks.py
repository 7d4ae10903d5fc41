"""Crisp web hooks: the plugin hook signature, the unsigned website hook, reading the body.

Plugin hooks (https://docs.crisp.chat/references/web-hooks/v1/) carry X-Crisp-Signature, the
hex HMAC-SHA256 of "[" + X-Crisp-Request-Timestamp + ";" + body + "]" keyed with the plugin's
signing secret, brackets and semicolon included. Crisp builds the body part with
JSON.stringify, which gives the compact bytes Crisp sends. A compact re-serialisation is tried
second, for a proxy that reformatted the body. The timestamp is taken as milliseconds,
like every other Crisp time, and must lie within the webhook tolerance.

Website hooks are not signed. They are accepted only when the connection opts in, and then
only with its secret: the token in the hook's URL, plus the X-Hub-Webhook-Key header when the
connection stores a "website_hook_key".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from integrations.base import MalformedPayload, WebhookRejected

SIGNATURE_HEADER = "X-Crisp-Signature"
TIMESTAMP_HEADER = "X-Crisp-Request-Timestamp"
WEBSITE_KEY_HEADER = "X-Hub-Webhook-Key"


def signature_for(body: bytes, timestamp: str, secret: str) -> str:
    message = b"[" + timestamp.encode() + b";" + body + b"]"
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_plugin_hook(
    body: bytes,
    headers: Mapping[str, str],
    *,
    secret: str,
    now: datetime,
    tolerance: timedelta,
) -> None:
    """Return None for a signed, recent plugin hook; raises WebhookRejected otherwise."""
    if not secret:
        raise WebhookRejected(403, "not_configured", "no signing_secret credential")
    signature = headers.get(SIGNATURE_HEADER, "").strip().lower()
    timestamp = headers.get(TIMESTAMP_HEADER, "").strip()
    if not signature or not timestamp:
        raise WebhookRejected(
            401, "missing_signature", f"{SIGNATURE_HEADER} or {TIMESTAMP_HEADER} is missing"
        )
    if not any(
        hmac.compare_digest(signature_for(candidate, timestamp, secret), signature)
        for candidate in _signed_bodies(body)
    ):
        raise WebhookRejected(401, "bad_signature", "signature does not match the body")
    signed_at = _milliseconds(timestamp)
    if signed_at is None:
        raise WebhookRejected(401, "bad_timestamp", f"{TIMESTAMP_HEADER} is not UNIX milliseconds")
    if abs(now - signed_at) > tolerance:
        raise WebhookRejected(401, "stale_timestamp", f"signed at {timestamp}, outside the window")


def _signed_bodies(body: bytes) -> list[bytes]:
    candidates = [body]
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError, RecursionError):
        return candidates
    if compact != body:
        candidates.append(compact)
    return candidates


def _milliseconds(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def verify_website_hook(headers: Mapping[str, str], *, key: str) -> None:
    """Check an unsigned website hook; the URL token was already matched by the caller."""
    if not key:
        return
    given = headers.get(WEBSITE_KEY_HEADER, "")
    if not given:
        raise WebhookRejected(401, "missing_credentials", f"{WEBSITE_KEY_HEADER} is missing")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), key.encode()):
        raise WebhookRejected(401, "bad_credentials", f"{WEBSITE_KEY_HEADER} does not match")


def load_body(body: bytes) -> dict[str, Any]:
    """Parse a hook body; raises MalformedPayload when it is not a JSON object."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"the body is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("the body is JSON but not an object")
    return data
