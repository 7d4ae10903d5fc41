"""Intercom test data: the recorded fixtures, stages of conversation 215467129, the fake API.

The recorded files cover the conversation's creation, the customer's reply, Johan Botha's
reply and the close. The assignment with a teammate note (the scenario's internal note) and
the conversation as it is after each stage are composed here from those files, following
the documented shapes.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from integrations.intercom.webhooks import signature_for
from tests.integrations.contract import Delivery

DATA = Path(__file__).resolve().parents[1] / "data" / "intercom"
SECRET = "ic_test_client_secret_8f3a1c9e77d24b5f"
CONVERSATION_ID = "215467129"
SEARCH_PATH = "/conversations/search"
# The hub's own teammate (composed), and Johan Botha, the agent in the recorded files.
BOT_ADMIN_ID = "7381999"
JOHAN_ID = "7381942"
JOHAN_EMAIL = "johan.botha@giving.example.org"
# Tuesday 11 March 2025, 13:02:30 SAST: during chat hours, between the recorded events.
FIXTURE_NOW = datetime(2025, 3, 11, 11, 2, 30, tzinfo=UTC)

STAGE_BODIES = {
    "created": "webhook_conversation_user_created.json",
    "customer_reply": "webhook_conversation_user_replied.json",
    "agent_reply": "webhook_conversation_admin_replied.json",
    "solved": "webhook_conversation_admin_closed.json",
}
NOTE_PART = {
    "type": "conversation_part",
    "id": "28719050001",
    "part_type": "assignment",
    "body": "<p>Card gateway reversal: checking with payments before replying.</p>",
    "created_at": 1741691100,
    "updated_at": 1741691100,
    "notified_at": 1741691100,
    "assigned_to": {"type": "admin", "id": JOHAN_ID},
    "author": {"id": JOHAN_ID, "type": "admin", "name": "Johan Botha", "email": JOHAN_EMAIL},
    "attachments": [],
    "external_id": None,
    "redacted": False,
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def exchange(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def signed(body: bytes, *, secret: str = SECRET) -> Delivery:
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "User-Agent": "intercom-parrot-service-client/1.0",
            "X-Hub-Signature": signature_for(body, secret),
        },
    )


def full_conversation() -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(
        exchange("api_get_conversation_215467129.json")["response"]["body"]
    )
    return body


def conversation_at(stage: str) -> dict[str, Any]:
    """Conversation 215467129 as GET /conversations/{id} returns it after a stage."""
    conversation = full_conversation()
    customer, agent, close = conversation["conversation_parts"]["conversation_parts"]
    parts, updated_at = {
        "created": ([], 1741690800),
        "customer_reply": ([customer], 1741691040),
        "internal_note": ([customer, NOTE_PART], 1741691100),
        "agent_reply": ([customer, NOTE_PART, agent], 1741691520),
        "solved": ([customer, NOTE_PART, agent, close], 1741691580),
    }[stage]
    conversation["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": copy.deepcopy(parts),
        "total_count": len(parts),
    }
    conversation["updated_at"] = updated_at
    statistics = conversation["statistics"]
    statistics["count_conversation_parts"] = len(parts)
    answered = stage in ("agent_reply", "solved")
    statistics["first_admin_reply_at"] = 1741691520 if answered else None
    statistics["last_admin_reply_at"] = 1741691520 if answered else None
    conversation["state"] = "closed" if stage == "solved" else "open"
    conversation["open"] = stage != "solved"
    conversation["admin_assignee_id"] = (
        None if stage in ("created", "customer_reply") else int(JOHAN_ID)
    )
    return conversation


def notification(
    topic: str, item: dict[str, Any], *, notification_id: str, created_at: int
) -> bytes:
    envelope = {
        "type": "notification_event",
        "app_id": "k7q2zx1m",
        "data": {"type": "notification_event_data", "item": item},
        "links": {},
        "id": notification_id,
        "topic": topic,
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": created_at + 1,
        "created_at": created_at,
        "self": None,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def note_body() -> bytes:
    """conversation.admin.assigned carrying only the assignment part with its teammate note."""
    item = conversation_at("internal_note")
    item["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": [copy.deepcopy(NOTE_PART)],
        "total_count": 1,
    }
    return notification(
        "conversation.admin.assigned",
        item,
        notification_id="notif_5d0b7e43-bf60-4c8b-99ea-f1a2b3c4d5e6",
        created_at=1741691100,
    )


def snoozed_body() -> bytes:
    item = conversation_at("customer_reply")
    item["state"] = "snoozed"
    return notification(
        "conversation.admin.snoozed",
        item,
        notification_id="notif_6e1c8f54-c071-4d9c-8afb-a1b2c3d4e5f7",
        created_at=1741691200,
    )


def serve_scenario(server: HTTPServer, stage: str) -> None:
    server.expect_request(f"/conversations/{CONVERSATION_ID}", method="GET").respond_with_json(
        conversation_at(stage)
    )


def list_pages() -> list[dict[str, Any]]:
    return [
        exchange("api_list_conversations_page1.json")["response"]["body"],
        exchange("api_list_conversations_page2.json")["response"]["body"],
    ]


def serve_other_conversations(server: HTTPServer) -> None:
    """The listed conversations besides 215467129, as fetched: no parts beyond the source."""
    for page in list_pages():
        for listed in page["conversations"]:
            if listed["id"] == CONVERSATION_ID:
                continue
            conversation = copy.deepcopy(listed)
            conversation["conversation_parts"] = {
                "type": "conversation_part.list",
                "conversation_parts": [],
                "total_count": 0,
            }
            server.expect_request(f"/conversations/{listed['id']}", method="GET").respond_with_json(
                conversation
            )


def serve_search(server: HTTPServer, *, first: list[Response] = ()) -> None:
    """Serve the search: first (one response each), then page 1, then page 2 for the
    page-1 cursor, with the recorded list pages as bodies."""
    pending = list(first)
    page_one, page_two = list_pages()
    cursor = page_one["pages"]["next"]["starting_after"]

    def handler(request: Request) -> Response:
        if pending:
            return pending.pop(0)
        query = request.get_json()
        if (query.get("pagination") or {}).get("starting_after") == cursor:
            return Response(json.dumps(page_two), content_type="application/json")
        return Response(json.dumps(page_one), content_type="application/json")

    server.expect_request(SEARCH_PATH, method="POST").respond_with_handler(handler)
    serve_scenario(server, "solved")
    serve_other_conversations(server)
