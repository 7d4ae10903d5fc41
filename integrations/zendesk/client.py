"""Zendesk Support API v2: one function per endpoint the hub reads.

Reference: https://developer.zendesk.com/api-reference/ (each function names its page).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from integrations.http import ProviderHttp

# Users come back keyed by their id as a string, the form the hub stores.
Users = dict[str, dict[str, Any]]


def show_ticket(http: ProviderHttp, ticket_id: str) -> tuple[dict[str, Any], Users]:
    """GET /api/v2/tickets/{id}.json?include=users (Tickets: Show Ticket, with the users
    sideload, because a ticket contains no requester e-mail)."""
    data = http.get_json(f"/api/v2/tickets/{ticket_id}.json", params={"include": "users"}).data
    return data["ticket"], users_by_id(data.get("users") or [])


def list_comments(http: ProviderHttp, ticket_id: str) -> tuple[list[dict[str, Any]], Users]:
    """GET /api/v2/tickets/{id}/comments.json (Ticket Comments: List Comments), every page of
    the cursor pagination (page[size] at most 100), with the users sideload."""
    comments: list[dict[str, Any]] = []
    users: Users = {}
    url = f"/api/v2/tickets/{ticket_id}/comments.json"
    params: dict[str, Any] | None = {"page[size]": 100, "include": "users"}
    while True:
        data = http.get_json(url, params=params).data
        comments.extend(data.get("comments") or [])
        users.update(users_by_id(data.get("users") or []))
        meta = data.get("meta") or {}
        next_link = (data.get("links") or {}).get("next")
        if not meta.get("has_more") or not next_link:
            return comments, users
        url, params = next_link, None


def show_many_users(http: ProviderHttp, user_ids: Iterable[str]) -> Users:
    """GET /api/v2/users/show_many.json?ids=… (Users: Show Many Users), at most 100 ids a call."""
    ids = sorted(set(user_ids))
    users: Users = {}
    for start in range(0, len(ids), 100):
        chunk = ",".join(ids[start : start + 100])
        data = http.get_json("/api/v2/users/show_many.json", params={"ids": chunk}).data
        users.update(users_by_id(data.get("users") or []))
    return users


def incremental_tickets(
    http: ProviderHttp,
    *,
    cursor: str | None = None,
    start_time: int | None = None,
    per_page: int = 100,
) -> dict[str, Any]:
    """GET /api/v2/incremental/tickets/cursor.json (Incremental Exports: Incremental Ticket
    Export, Cursor Based): start_time for the first call, then the after_cursor returned.

    Returns the body: tickets, after_cursor, end_of_stream. Tickets changed in the last
    minute are left out by Zendesk, and deleted tickets come back with status "deleted".
    """
    params: dict[str, Any] = {"per_page": per_page}
    if cursor:
        params["cursor"] = cursor
    elif start_time is not None:
        params["start_time"] = start_time
    else:
        raise ValueError("incremental_tickets needs a cursor or a start_time")
    response = http.get_json("/api/v2/incremental/tickets/cursor.json", params=params)
    data: dict[str, Any] = response.data
    return data


def users_by_id(users: Iterable[dict[str, Any]]) -> Users:
    return {str(user["id"]): user for user in users if user.get("id") is not None}
