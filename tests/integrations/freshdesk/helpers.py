"""Freshdesk test data: the recorded fixtures, the rule's credentials and the fake API."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.integrations.contract import Delivery

DATA = Path(__file__).resolve().parents[1] / "data" / "freshdesk"
TICKET_ID = "3071"
LIST_PATH = "/api/v2/tickets"
WEBHOOK_USER = "hub-freshdesk"
WEBHOOK_PASSWORD = "fd-webhook-test-password-2025"
WEBHOOK_TOKEN = "fdwh_test_token_9c2e7b1a5d"
RATE_HEADERS = {"X-RateLimit-Total": "400", "X-RateLimit-Remaining": "380"}

# Ticket 3071's status code and updated_at after each stage, and how many of the three
# recorded conversations exist by then.
STAGE_STATE = {
    "created": (2, "2025-03-11T10:15:02Z", 0),
    "customer_reply": (2, "2025-03-11T10:41:19Z", 1),
    "internal_note": (2, "2025-03-12T08:40:02Z", 2),
    "agent_reply": (3, "2025-03-12T08:46:55Z", 3),
    "solved": (4, "2025-03-12T08:47:30Z", 3),
}
STAGE_BODIES = {
    "created": "webhook_ticket_created.json",
    "customer_reply": "webhook_customer_replied.json",
    "agent_reply": "webhook_agent_replied.json",
    "solved": "webhook_ticket_resolved.json",
}
# Agents and requesters the recorded files name by id only, composed for these tests.
AGENTS = {
    "80000000021": {
        "id": 80000000021,
        "contact": {"name": "Anele Khumalo", "email": "anele.khumalo@giving.example.org"},
    },
    "80000000022": {
        "id": 80000000022,
        "contact": {"name": "Johan Botha", "email": "johan.botha@giving.example.org"},
    },
}
REQUESTERS = {
    "3068": {"id": 80012349876, "name": "Ruth Adams", "email": "ruth.adams@example.com"},
    "3075": {"id": 80012350011, "name": "Nomsa Khoza", "email": "nomsa.khoza@example.com"},
}
DESCRIPTIONS = {
    "3068": "Please take me off the campaign newsletter list. Thanks.",
    "3075": (
        "I paid R150 to Karoo Animal Rescue with SnapScan (ref SG-SS-10344) but it does not "
        "show on the campaign page."
    ),
}


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def exchange(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(raw(name))
    return data


def rule_headers(**overrides: str) -> dict[str, str]:
    headers = dict(exchange("webhook_request_headers_example.json")["required_by_hub"])
    headers.update(overrides)
    return headers


def delivered(body: bytes, **headers: str) -> Delivery:
    return Delivery(body, rule_headers(**headers))


def show_body(stage: str) -> dict[str, Any]:
    status, updated_at, _ = STAGE_STATE[stage]
    body = copy.deepcopy(exchange("api_show_ticket_3071.json")["response"]["body"])
    body["status"] = status
    body["updated_at"] = updated_at
    if stage in ("created", "customer_reply"):
        body["responder_id"] = None
    return body


def conversations_body(stage: str, server: HTTPServer | None = None) -> list[dict[str, Any]]:
    body = copy.deepcopy(exchange("api_ticket_3071_conversations.json")["response"]["body"])
    if server is not None:
        for conversation in body:
            for attachment in conversation["attachments"]:
                attachment["attachment_url"] = server.url_for(f"/files/{attachment['id']}")
    return body[: STAGE_STATE[stage][2]]


def serve_agents(server: HTTPServer) -> None:
    for agent_id, agent in AGENTS.items():
        server.expect_request(f"/api/v2/agents/{agent_id}").respond_with_json(agent)


def serve_scenario(server: HTTPServer, stage: str) -> None:
    server.expect_request(f"/api/v2/tickets/{TICKET_ID}").respond_with_json(
        show_body(stage), headers=RATE_HEADERS
    )
    server.expect_request(f"/api/v2/tickets/{TICKET_ID}/conversations").respond_with_json(
        conversations_body(stage, server)
    )
    server.expect_request("/files/80088000501").respond_with_data(
        b"%PDF-1.4 certificate\n", content_type="application/pdf"
    )
    serve_agents(server)


def list_pages(server: HTTPServer) -> list[tuple[list[dict[str, Any]], dict[str, str]]]:
    """The two recorded list pages, page 1's Link header pointing at the fake API."""
    pages = []
    for name in ("api_list_tickets_page1.json", "api_list_tickets_page2.json"):
        response = exchange(name)["response"]
        headers = {k: v for k, v in response["headers"].items() if k != "Content-Type"}
        if "Link" in headers:
            query = headers["Link"].split("?", 1)[1].split(">", 1)[0]
            headers["Link"] = f'<{server.url_for(LIST_PATH)}?{query}>; rel="next"'
        pages.append((response["body"], headers))
    return pages


def serve_other_tickets(server: HTTPServer) -> None:
    """View answers for 3068 and 3075, built from their list entries."""
    listed = {str(t["id"]): t for page in list_pages(server) for t in page[0]}
    for ticket_id in ("3068", "3075"):
        ticket = dict(
            listed[ticket_id],
            requester=REQUESTERS[ticket_id],
            description=f"<div>{DESCRIPTIONS[ticket_id]}</div>",
            description_text=DESCRIPTIONS[ticket_id],
            attachments=[],
        )
        server.expect_request(f"/api/v2/tickets/{ticket_id}").respond_with_json(ticket)
        server.expect_request(f"/api/v2/tickets/{ticket_id}/conversations").respond_with_json([])


def serve_list(server: HTTPServer, *, first: list[Response] = ()) -> None:
    for response in first:
        server.expect_oneshot_request(LIST_PATH).respond_with_response(response)
    for body, headers in list_pages(server):
        server.expect_oneshot_request(LIST_PATH).respond_with_json(body, headers=headers)
    serve_scenario(server, "solved")
    serve_other_tickets(server)
