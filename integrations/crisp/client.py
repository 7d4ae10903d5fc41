"""Crisp REST API v1: one function per endpoint the hub calls.

Reference: https://docs.crisp.chat/references/rest-api/v1/ (each function names its section).
Every response is wrapped as {"error": bool, "reason": "…", "data": …}. A response with
"error": true raises ProviderError even when its HTTP status is 2xx.
"""

from __future__ import annotations

from typing import Any

from integrations.base import ProviderError
from integrations.http import ProviderHttp

# Crisp's own rate-limit status ("Enhance Your Calm"), besides 429.
ENHANCE_YOUR_CALM = 420
PER_PAGE = 50  # the maximum Crisp accepts for conversation lists


def list_conversations(
    http: ProviderHttp, website_id: str, *, page: int, updated_since: str
) -> list[dict[str, Any]]:
    """GET /website/{website_id}/conversations/{page} (Website Conversations: List
    Conversations), newest update first, updated at or after an ISO 8601 time. An empty
    list means there are no more pages."""
    params = {
        "per_page": PER_PAGE,
        "order_date_updated": 1,
        "filter_date_start": updated_since,
    }
    data = _call(http, "GET", f"/website/{website_id}/conversations/{page}", params=params)
    return list(data or [])


def get_conversation(http: ProviderHttp, website_id: str, session_id: str) -> dict[str, Any]:
    """GET /website/{website_id}/conversation/{session_id} (Website Conversations: Get a
    Conversation)."""
    data: dict[str, Any] = _call(http, "GET", f"/website/{website_id}/conversation/{session_id}")
    return data


def get_messages(
    http: ProviderHttp, website_id: str, session_id: str, *, max_batches: int = 50
) -> list[dict[str, Any]]:
    """GET /website/{website_id}/conversation/{session_id}/messages (Website Conversations:
    Get Messages in Conversation), going back with timestamp_before until a batch is empty or
    repeats; at most max_batches requests."""
    path = f"/website/{website_id}/conversation/{session_id}/messages"
    messages: dict[str, dict[str, Any]] = {}
    params: dict[str, Any] | None = None
    for _ in range(max_batches):
        batch = _call(http, "GET", path, params=params) or []
        new = [m for m in batch if str(m.get("fingerprint")) not in messages]
        for message in new:
            messages[str(message.get("fingerprint"))] = message
        if not new:
            break
        oldest = min(int(m.get("timestamp") or 0) for m in batch)
        params = {"timestamp_before": oldest}
    return sorted(messages.values(), key=lambda m: int(m.get("timestamp") or 0))


def list_operators(http: ProviderHttp, website_id: str) -> list[dict[str, Any]]:
    """GET /website/{website_id}/operators/list (Website Operators: List Website Operators)."""
    return list(_call(http, "GET", f"/website/{website_id}/operators/list") or [])


def assign_routing(http: ProviderHttp, website_id: str, session_id: str, *, user_id: str) -> None:
    """PATCH /website/{website_id}/conversation/{session_id}/routing (Website Conversations:
    Assign Conversation Routing) to an operator's user_id."""
    _call(
        http,
        "PATCH",
        f"/website/{website_id}/conversation/{session_id}/routing",
        json={"assigned": {"user_id": user_id}},
    )


def send_message(
    http: ProviderHttp, website_id: str, session_id: str, *, text: str, nickname: str
) -> str:
    """POST /website/{website_id}/conversation/{session_id}/message (Website Conversations:
    Send a Message in Conversation) as an automated operator text; returns the fingerprint."""
    body = {
        "type": "text",
        "from": "operator",
        "origin": "chat",
        "content": text,
        "automated": True,
        "user": {"type": "website", "nickname": nickname},
    }
    data = _call(
        http, "POST", f"/website/{website_id}/conversation/{session_id}/message", json=body
    )
    return str((data or {}).get("fingerprint") or "")


def _call(
    http: ProviderHttp, method: str, path: str, *, params: Any = None, json: Any = None
) -> Any:
    try:
        response = http.request(method, path, params=params, json=json)
    except ProviderError as exc:
        if exc.status == ENHANCE_YOUR_CALM:
            # ProviderHttp does not know 420; it is a rate limit, so a later try can succeed.
            raise ProviderError(str(exc), retryable=True, status=exc.status) from exc
        raise
    try:
        envelope = response.json()
    except ValueError as exc:
        raise ProviderError(
            f"crisp {method} {path} returned {response.status_code} with a body that is not JSON",
            retryable=True,
            status=response.status_code,
        ) from exc
    if not isinstance(envelope, dict) or envelope.get("error"):
        reason = envelope.get("reason") if isinstance(envelope, dict) else "not an object"
        raise ProviderError(
            f"crisp {method} {path} returned an error: {reason}",
            retryable=False,
            status=response.status_code,
        )
    return envelope.get("data")
