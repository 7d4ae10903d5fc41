"""Crisp test data: the recorded fixtures, stages of Ayesha Patel's session, the fake API.

The recorded files cover the visitor's two messages, her e-mail address, Nomvula Sithole's
reply, the resolution and the removal. The operator's note (the scenario's internal note) and
the conversation as it is after each stage are composed here from those files, following
the documented shapes.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations.crisp.webhooks import signature_for
from tests.integrations.contract import Delivery

DATA = Path(__file__).resolve().parents[1] / "data" / "crisp"
SECRET = "crisp_test_signing_secret_4b1d9a7e2c"
WEBSITE_ID = "8c2f0d5e-3b7a-4c61-9f0e-2d4a6b8c1e57"
SESSION_ID = "session_4f7d2c1a-9e3b-4b8f-a6d5-0c1e2f3a4b5c"
KEY = f"{WEBSITE_ID}:{SESSION_ID}"
NOMVULA_ID = "1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6"
NOMVULA_EMAIL = "nomvula.sithole@giving.example.org"
CONVERSATION_PATH = f"/website/{WEBSITE_ID}/conversation/{SESSION_ID}"
LIST_PATH = f"/website/{WEBSITE_ID}/conversations/1"
# Tuesday 11 March 2025, 15:02:30 SAST: during chat hours, within five minutes of every
# recorded hook of that afternoon, so their signatures are fresh.
FIXTURE_NOW = datetime(2025, 3, 11, 13, 2, 30, tzinfo=UTC)

STAGE_BODIES = {
    "created": "webhook_message_send_new_conversation.json",
    "customer_reply": "webhook_message_send_customer_reply.json",
    "agent_reply": "webhook_message_received_operator_reply.json",
    "solved": "webhook_session_set_state_resolved.json",
}
NOTE_MESSAGE = {
    "session_id": SESSION_ID,
    "website_id": WEBSITE_ID,
    "type": "note",
    "from": "operator",
    "origin": "chat",
    "content": "Mandate is for the 25th; raising it to R200 from this month's debit order.",
    "preview": [],
    "mentions": [],
    "read": "chat",
    "delivered": "",
    "edited": False,
    "translated": False,
    "stamped": True,
    "fingerprint": 174169812000001,
    "timestamp": 1741698120000,
    "user": {"type": "website", "user_id": NOMVULA_ID, "nickname": "Nomvula Sithole"},
    "references": [],
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def exchange(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def vectors() -> list[dict[str, Any]]:
    return list(exchange("signature_vectors.json")["vectors"])


def recorded_delivery(name: str) -> Delivery:
    """A recorded hook body with the headers its signature vector lists."""
    for vector in vectors():
        if vector["body_file"].endswith("/" + name):
            return Delivery(raw(name), dict(vector["headers"]))
    raise LookupError(f"no signature vector for {name}")


def signed(body: bytes, *, secret: str = SECRET, timestamp: str | None = None) -> Delivery:
    stamp = timestamp or str(int(timezone.now().timestamp() * 1000))
    return Delivery(
        body,
        {
            "Content-Type": "application/json",
            "X-Crisp-Hook-Origin": "plugin/rtm 5d8c1a2b3e4f6a70 production",
            "X-Crisp-Request-Timestamp": stamp,
            "X-Crisp-Signature": signature_for(body, stamp, secret),
            "X-Delivery-Attempt-Limit": "3",
            "X-Delivery-Attempt-Count": "1",
        },
    )


def hook(event: str, data: dict[str, Any], *, timestamp: int) -> bytes:
    body = {"website_id": WEBSITE_ID, "event": event, "data": data, "timestamp": timestamp}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def note_body() -> bytes:
    data = {k: v for k, v in NOTE_MESSAGE.items() if k not in ("preview", "read", "delivered")}
    return hook("message:received", data, timestamp=NOTE_MESSAGE["timestamp"])


def compose_body() -> bytes:
    data = {"website_id": WEBSITE_ID, "session_id": SESSION_ID, "type": "text", "excerpt": "I"}
    return hook("message:compose:send", data, timestamp=1741698090000)


def recorded_messages() -> list[dict[str, Any]]:
    return copy.deepcopy(exchange("api_get_messages.json")["response"]["body"]["data"])


def listed_conversation() -> dict[str, Any]:
    body = exchange("api_list_conversations_page1.json")["response"]["body"]
    return copy.deepcopy(body["data"][0])


def stage_state(stage: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The messages and the conversation after a stage."""
    first, reply, answer = recorded_messages()
    messages = {
        "created": [first],
        "customer_reply": [first, reply],
        "internal_note": [first, reply, copy.deepcopy(NOTE_MESSAGE)],
        "agent_reply": [first, reply, copy.deepcopy(NOTE_MESSAGE), answer],
        "solved": [first, reply, copy.deepcopy(NOTE_MESSAGE), answer],
    }[stage]
    conversation = listed_conversation()
    conversation["state"] = {"agent_reply": "unresolved", "solved": "resolved"}.get(
        stage, "pending"
    )
    conversation["updated_at"] = 1741698300345 if stage == "solved" else messages[-1]["timestamp"]
    if stage == "created":
        conversation["meta"]["nickname"] = "visitor482915"
        conversation["meta"]["email"] = ""
    if stage not in ("agent_reply", "solved"):
        conversation["assigned"] = {}
    return messages, conversation


def envelope(data: Any, reason: str = "resolved") -> dict[str, Any]:
    return {"error": False, "reason": reason, "data": data}


def serve_scenario(server: HTTPServer, stage: str) -> None:
    messages, conversation = stage_state(stage)
    server.expect_request(CONVERSATION_PATH, method="GET").respond_with_json(envelope(conversation))
    server.expect_request(f"{CONVERSATION_PATH}/messages", method="GET").respond_with_json(
        envelope(messages)
    )


def serve_list(server: HTTPServer, *, first: list[Response] = ()) -> None:
    for response in first:
        server.expect_oneshot_request(LIST_PATH).respond_with_response(response)
    page_one = exchange("api_list_conversations_page1.json")["response"]["body"]
    page_two = exchange("api_list_conversations_page2.json")["response"]["body"]
    server.expect_request(LIST_PATH).respond_with_json(page_one)
    server.expect_request(f"/website/{WEBSITE_ID}/conversations/2").respond_with_json(page_two)
    serve_scenario(server, "solved")
