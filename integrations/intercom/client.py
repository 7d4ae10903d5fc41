"""Intercom REST API, version 2.11: one function per endpoint the hub calls.

Reference: https://developers.intercom.com/docs/references/2.11/rest-api/api.intercom.io/
(each function names its page). Every request carries the Intercom-Version header, set on the
client by the adapter.
"""

from __future__ import annotations

from typing import Any

from integrations.base import ProviderError
from integrations.http import ProviderHttp

# The largest page Intercom's search accepts.
MAX_PER_PAGE = 150


def get_conversation(http: ProviderHttp, conversation_id: str) -> dict[str, Any]:
    """GET /conversations/{id} (Conversations: Retrieve a conversation): the conversation with
    up to 500 of its parts.

    NOTE: Intercom documents no paging of parts, so a conversation with more than 500 parts
    is imported with 500 of them. Which 500 it returns is not documented.
    """
    data: dict[str, Any] = http.get_json(f"/conversations/{conversation_id}").data
    return data


def search_conversations(
    http: ProviderHttp, *, updated_after: int, per_page: int, starting_after: str | None = None
) -> dict[str, Any]:
    """POST /conversations/search (Conversations: Search conversations) for conversations
    updated strictly after a UNIX time; returns the page with its "pages" block. The order of
    results is not relied on."""
    body: dict[str, Any] = {
        "query": {
            "operator": "AND",
            "value": [{"field": "updated_at", "operator": ">", "value": updated_after}],
        },
        "pagination": {"per_page": min(per_page, MAX_PER_PAGE)},
    }
    if starting_after:
        body["pagination"]["starting_after"] = starting_after
    return post_json(http, "/conversations/search", body)


def list_admins(http: ProviderHttp) -> list[dict[str, Any]]:
    """GET /admins (Admins: List all admins): the teammates, with id, name and email."""
    data = http.get_json("/admins").data
    return list(data.get("admins") or [])


def reply(
    http: ProviderHttp, conversation_id: str, *, admin_id: str, body_html: str
) -> dict[str, Any]:
    """POST /conversations/{id}/reply (Conversations: Reply to a conversation) as an admin,
    visible to the customer; returns the conversation, the new part last."""
    payload = {"message_type": "comment", "type": "admin", "admin_id": admin_id, "body": body_html}
    return post_json(http, f"/conversations/{conversation_id}/reply", payload)


def assign(
    http: ProviderHttp, conversation_id: str, *, admin_id: str, assignee_id: str
) -> dict[str, Any]:
    """POST /conversations/{id}/parts (Conversations: Manage a conversation) with
    message_type "assignment"; admin_id is who assigns, assignee_id who gets it ("0"
    unassigns). Returns the conversation, the assignment part last."""
    payload = {
        "message_type": "assignment",
        "type": "admin",
        "admin_id": admin_id,
        "assignee_id": assignee_id,
    }
    return post_json(http, f"/conversations/{conversation_id}/parts", payload)


def post_json(http: ProviderHttp, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.request("POST", path, json=body)
    try:
        data: dict[str, Any] = response.json()
    except ValueError as exc:
        raise ProviderError(
            f"intercom POST {path} returned {response.status_code} with a body that is not JSON",
            retryable=True,
            status=response.status_code,
        ) from exc
    return data


def last_part_id(conversation: dict[str, Any]) -> str:
    """Return the id of the newest part in a conversation returned by a write; "" if none."""
    parts = (conversation.get("conversation_parts") or {}).get("conversation_parts") or []
    return str(parts[-1].get("id") or "") if parts else ""
