"""Zendesk test data: the recorded fixtures, a signer, and the fake API's answers per stage."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations.zendesk.webhooks import signature_for
from tests.integrations.contract import Delivery

DATA = Path(__file__).resolve().parents[1] / "data" / "zendesk"
SECRET = "zd_test_secret_Siyakhula_2025_do_not_use_in_prod"
TICKET_ID = "48213"
CHANGES_PATH = "/api/v2/incremental/tickets/cursor.json"

# The scenario ticket's Zendesk status and updated_at after each stage, and how many of the
# four recorded comments exist by then.
STAGE_STATE = {
    "created": ("new", "2025-03-10T07:42:11Z", 1),
    "customer_reply": ("new", "2025-03-10T08:10:54Z", 2),
    "internal_note": ("new", "2025-03-10T09:30:12Z", 3),
    "agent_reply": ("pending", "2025-03-10T09:32:05Z", 4),
    "solved": ("solved", "2025-03-12T14:20:09Z", 4),
}
STAGE_BODIES = {
    "created": "webhook_trigger_ticket_created.json",
    "customer_reply": "webhook_trigger_customer_replied.json",
    "agent_reply": "webhook_trigger_agent_replied.json",
    "solved": "webhook_trigger_ticket_solved.json",
}

# Users and comments for the two other tickets in the export pages, composed for these tests.
OTHER_USERS = {
    "39120455102": {
        "id": 39120455102,
        "name": "Bongani Zulu",
        "email": "bongani.zulu@example.com",
        "role": "end-user",
    },
    "39120456999": {
        "id": 39120456999,
        "name": "Davids Bakery CC",
        "email": "accounts@davidsbakery.example.co.za",
        "role": "end-user",
    },
    "39120000023": {
        "id": 39120000023,
        "name": "Lerato Mahlangu",
        "email": "lerato.mahlangu@giving.example.org",
        "role": "agent",
    },
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def exchange(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed(body: bytes, *, secret: str = SECRET, timestamp: str | None = None) -> Delivery:
    stamp = timestamp or now_stamp()
    return Delivery(
        body,
        {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Account-Id": "21234567",
            "X-Zendesk-Webhook-Id": "01JNV8Q5K1E2ZB3T4W5X6Y7Z8A",
            "X-Zendesk-Webhook-Invocation-Id": hashlib.sha256(body).hexdigest()[:10],
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Signature": signature_for(body, stamp, secret),
        },
    )


def event_body(
    event_type: str, ticket_id: str, *, time: str, event: dict[str, Any], **detail: Any
) -> bytes:
    """An event-subscription body in the documented shape (ids as strings, enums upper case)."""
    body = {
        "type": f"zen:event-type:{event_type}",
        "account_id": 21234567,
        "id": f"evt-{event_type}-{ticket_id}-{time}",
        "time": time,
        "zendesk_event_version": "2022-11-06",
        "subject": f"zen:ticket:{ticket_id}",
        "detail": {"id": ticket_id, "status": "OPEN", "updated_at": time, **detail},
        "event": event,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def note_body() -> bytes:
    comment = exchange("api_ticket_48213_comments.json")["response"]["body"]["comments"][2]
    return event_body(
        "ticket.comment_added",
        TICKET_ID,
        time=comment["created_at"],
        event={
            "comment": {
                "id": str(comment["id"]),
                "body": comment["body"],
                "is_public": False,
                "author": {"id": "39120000017", "is_staff": True, "name": "Pieter van der Merwe"},
            }
        },
    )


def show_body(stage: str) -> dict[str, Any]:
    status, updated_at, _ = STAGE_STATE[stage]
    body = copy.deepcopy(exchange("api_show_ticket_48213.json")["response"]["body"])
    body["ticket"]["status"] = status
    body["ticket"]["updated_at"] = updated_at
    if stage in ("created", "customer_reply"):
        body["ticket"]["assignee_id"] = None
    return body


def comments_body(stage: str) -> dict[str, Any]:
    body = copy.deepcopy(exchange("api_ticket_48213_comments.json")["response"]["body"])
    body["comments"] = body["comments"][: STAGE_STATE[stage][2]]
    return body


def serve_scenario(server: HTTPServer, stage: str) -> None:
    server.expect_request(f"/api/v2/tickets/{TICKET_ID}.json").respond_with_json(show_body(stage))
    server.expect_request(f"/api/v2/tickets/{TICKET_ID}/comments.json").respond_with_json(
        comments_body(stage)
    )


def export_pages() -> list[dict[str, Any]]:
    return [
        exchange("api_incremental_tickets_page1.json")["response"]["body"],
        exchange("api_incremental_tickets_page2.json")["response"]["body"],
    ]


def serve_other_tickets(server: HTTPServer) -> None:
    """Show and comments answers for 48207 and 48219, built from their export entries."""
    tickets = {str(t["id"]): t for page in export_pages() for t in page["tickets"]}
    for ticket_id in ("48207", "48219"):
        ticket = tickets[ticket_id]
        users = [OTHER_USERS[str(ticket["requester_id"])]]
        if ticket.get("assignee_id"):
            users.append(OTHER_USERS[str(ticket["assignee_id"])])
        comment = {
            "id": int(f"2901100{ticket_id}"),
            "type": "Comment",
            "author_id": ticket["requester_id"],
            "body": ticket["description"],
            "html_body": f"<p>{ticket['description']}</p>",
            "plain_body": ticket["description"],
            "public": True,
            "attachments": [],
            "created_at": ticket["created_at"],
        }
        server.expect_request(f"/api/v2/tickets/{ticket_id}.json").respond_with_json(
            {"ticket": ticket, "users": users}
        )
        server.expect_request(f"/api/v2/tickets/{ticket_id}/comments.json").respond_with_json(
            {"comments": [comment], "meta": {"has_more": False}, "users": users}
        )


def serve_export(server: HTTPServer, *, first: list[Response] = ()) -> None:
    for response in first:
        server.expect_oneshot_request(CHANGES_PATH).respond_with_response(response)
    for page in export_pages():
        server.expect_oneshot_request(CHANGES_PATH).respond_with_json(page)
    serve_scenario(server, "solved")
    serve_other_tickets(server)
