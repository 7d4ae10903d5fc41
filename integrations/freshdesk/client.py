"""Freshdesk API v2: one function per endpoint the hub reads.

Reference: https://developers.freshdesk.com/api/ (each function names its section).
"""

from __future__ import annotations

from typing import Any

from requests.utils import parse_header_links

from integrations.http import ApiResponse, ProviderHttp

PER_PAGE = 100  # the maximum Freshdesk accepts


def show_ticket(http: ProviderHttp, ticket_id: str) -> dict[str, Any]:
    """GET /api/v2/tickets/{id}?include=requester (Tickets: View a Ticket); the embedded
    requester carries the e-mail address."""
    data: dict[str, Any] = http.get_json(
        f"/api/v2/tickets/{ticket_id}", params={"include": "requester"}
    ).data
    return data


def list_conversations(http: ProviderHttp, ticket_id: str) -> list[dict[str, Any]]:
    """GET /api/v2/tickets/{id}/conversations (Conversations: List All Conversations of a
    Ticket), following the Link header through every page."""
    conversations: list[dict[str, Any]] = []
    url = f"/api/v2/tickets/{ticket_id}/conversations"
    params: dict[str, Any] | None = {"per_page": PER_PAGE, "page": 1}
    while True:
        response = http.get_json(url, params=params)
        conversations.extend(response.data or [])
        next_url = next_link(response)
        if next_url is None:
            return conversations
        url, params = next_url, None


def show_agent(http: ProviderHttp, agent_id: str) -> dict[str, Any]:
    """GET /api/v2/agents/{id} (Agents: View an Agent); name and e-mail are under "contact"."""
    data: dict[str, Any] = http.get_json(f"/api/v2/agents/{agent_id}").data
    return data


def list_tickets(
    http: ProviderHttp, *, updated_since: str | None = None, url: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """GET /api/v2/tickets?updated_since=…&order_by=updated_at&order_type=asc (Tickets: List
    All Tickets), one page; returns the tickets and the next page's URL from the Link header.

    Pass updated_since for a window's first page, or url (a Link header's target) for the
    pages after it. List items leave out the description.
    """
    if url is not None:
        response = http.get_json(url)
    else:
        params = {
            "updated_since": updated_since,
            "order_by": "updated_at",
            "order_type": "asc",
            "per_page": PER_PAGE,
            "page": 1,
        }
        response = http.get_json("/api/v2/tickets", params=params)
    return list(response.data or []), next_link(response)


def next_link(response: ApiResponse) -> str | None:
    for link in parse_header_links(response.headers.get("Link", "")):
        if link.get("rel") == "next" and link.get("url"):
            return str(link["url"])
    return None
