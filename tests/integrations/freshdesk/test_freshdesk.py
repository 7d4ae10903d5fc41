"""Freshdesk: the shared contract, rule credentials, both body shapes and windowed listing."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict
from werkzeug import Response

from integrations.base import MalformedPayload, WebhookRejected
from integrations.freshdesk import webhooks
from integrations.models import Connection, InboundItem
from integrations.registry import adapter_for
from integrations.sync import sync_connection
from integrations.types import TicketRef
from tests.integrations.contract import Delivery, DeskContract, Expect, SleepRecorder
from tests.integrations.freshdesk import helpers
from tests.integrations.freshdesk.helpers import (
    TICKET_ID,
    WEBHOOK_PASSWORD,
    WEBHOOK_TOKEN,
    WEBHOOK_USER,
    delivered,
    exchange,
    raw,
)
from tickets.models import Attachment, Category, Channel, Priority, Status, Ticket

pytestmark = pytest.mark.django_db


def make_connection(base_url: str, config: dict | None = None, **credentials: str) -> Connection:
    return Connection.objects.create(
        name="freshdesk-test",
        provider="freshdesk",
        config={"base_url": base_url, **(config or {})},
        credentials=credentials
        or {
            "api_key": "fd-api-key-not-real",
            "webhook_username": WEBHOOK_USER,
            "webhook_password": WEBHOOK_PASSWORD,
            "webhook_token": WEBHOOK_TOKEN,
        },
    )


class TestFreshdeskContract(DeskContract):
    provider = "freshdesk"
    ticket_id = TICKET_ID
    changes_path = helpers.LIST_PATH
    polled_ticket_ids = {"3068", "3071", "3075"}
    expected = {
        "created": Expect(Status.NEW, inbound=1),
        "customer_reply": Expect(Status.NEW, inbound=2),
        "internal_note": Expect(Status.NEW, inbound=2, notes=1),
        "agent_reply": Expect(Status.PENDING_CUSTOMER, inbound=2, outbound=1, notes=1),
        "solved": Expect(Status.SOLVED, inbound=2, outbound=1, notes=1),
    }

    def make_connection(self, base_url: str) -> Connection:
        return make_connection(base_url)

    def delivery(self, name: str) -> Delivery:
        if name == "internal_note":
            body = {"hub_event": "ticket.note_added", "ticket": {"id": int(TICKET_ID)}}
            return delivered(json.dumps(body).encode())
        if name == "unknown":
            body = {"hub_event": "contact.updated", "contact": {"id": 80012345678}}
            return delivered(json.dumps(body).encode())
        return delivered(raw(helpers.STAGE_BODIES[name]))

    def forged(self, delivery: Delivery) -> Delivery:
        return Delivery(delivery.body, {**delivery.headers, "X-Hub-Webhook-Token": "guessed-token"})

    def serve_ticket(self, server: HTTPServer, stage: str) -> None:
        helpers.serve_scenario(server, stage)

    def serve_changes(self, server: HTTPServer, *, first: list[Response] = ()) -> None:
        helpers.serve_list(server, first=first)


@pytest.fixture
def freshdesk(db: None, httpserver: HTTPServer) -> Connection:
    return make_connection(httpserver.url_for("/").rstrip("/"))


@pytest.fixture
def deliver_to(client: Client, freshdesk: Connection, django_capture_on_commit_callbacks):
    def post(delivery: Delivery):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                freshdesk.webhook_path,
                data=delivery.body,
                content_type=delivery.content_type,
                headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
            )

    return post


# ---------------------------------------------------------------- rule credentials


def check(headers: dict[str, str], **configured: str | None) -> None:
    settings = {"username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD, "token": WEBHOOK_TOKEN}
    settings.update(configured)
    webhooks.verify_credentials(CaseInsensitiveDict(headers), **settings)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_recorded_rule_headers_pass() -> None:
    check(helpers.rule_headers())


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Hub-Webhook-Token": WEBHOOK_TOKEN}, "missing_credentials"),
        (
            {"Authorization": "Bearer abc", "X-Hub-Webhook-Token": WEBHOOK_TOKEN},
            "missing_credentials",
        ),
        (
            {"Authorization": basic(WEBHOOK_USER, "wrong"), "X-Hub-Webhook-Token": WEBHOOK_TOKEN},
            "bad_credentials",
        ),
        (
            {"Authorization": "Basic %%%not-base64", "X-Hub-Webhook-Token": WEBHOOK_TOKEN},
            "bad_credentials",
        ),
        ({"Authorization": basic(WEBHOOK_USER, WEBHOOK_PASSWORD)}, "missing_credentials"),
        (
            {"Authorization": basic(WEBHOOK_USER, WEBHOOK_PASSWORD), "X-Hub-Webhook-Token": "x"},
            "bad_credentials",
        ),
    ],
)
def test_wrong_rule_credentials_rejected(headers: dict[str, str], reason: str) -> None:
    with pytest.raises(WebhookRejected) as raised:
        check(headers)

    assert raised.value.status == 401
    assert raised.value.reason == reason


def test_token_alone_suffices_when_only_token_configured() -> None:
    check({"X-Hub-Webhook-Token": WEBHOOK_TOKEN}, username=None, password=None)


def test_basic_alone_suffices_when_only_basic_configured() -> None:
    check({"Authorization": basic(WEBHOOK_USER, WEBHOOK_PASSWORD)}, token=None)


def test_nothing_configured_answers_403(client: Client) -> None:
    connection = make_connection("https://giving.freshdesk.com", api_key="fd-api-key-not-real")

    response = client.post(
        connection.webhook_path,
        data=raw("webhook_ticket_created.json"),
        content_type="application/json",
        headers=helpers.rule_headers(),
    )

    assert response.status_code == 403
    assert response.json() == {"error": "not_configured"}


# ---------------------------------------------------------------- body shapes


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("webhook_ticket_created.json", "ticket.created"),
        ("webhook_customer_replied.json", "ticket.customer_replied"),
        ("webhook_agent_replied.json", "ticket.agent_replied"),
        ("webhook_ticket_resolved.json", "ticket.resolved"),
        ("webhook_simple_mode_resolved.json", "freshdesk_webhook"),
    ],
)
def test_bodies_name_the_ticket(name: str, event: str) -> None:
    parsed = webhooks.parse_body(raw(name))

    assert parsed.name == event
    assert len(parsed.records) == 1
    assert parsed.records[0] == TicketRef("3071", reason=parsed.records[0].reason)


def test_broken_json_still_names_ticket() -> None:
    body = raw("webhook_customer_replied.json").replace(b"Also, please", b'Also, "please"\n')

    parsed = webhooks.parse_body(body)

    assert parsed.records[0].ticket_id == "3071"


@pytest.mark.parametrize(
    "body", [b'{"hub_event": "ticket.created", "ticket": {}}', b"{}", b"<xml/>", b'"3071"']
)
def test_body_without_ticket_id_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        webhooks.parse_body(body)


def test_malformed_body_answers_400(deliver_to) -> None:
    response = deliver_to(delivered(b'{"hub_event": "ticket.created", "ticket": {"id": null}}'))

    assert response.status_code == 400
    assert response.json() == {"error": "malformed_body"}
    assert not InboundItem.objects.exists()


def test_simple_mode_resolves_ticket(deliver_to, httpserver: HTTPServer) -> None:
    helpers.serve_scenario(httpserver, "solved")

    response = deliver_to(delivered(raw("webhook_simple_mode_resolved.json")))

    assert response.status_code == 202
    assert Ticket.objects.get(external_id=TICKET_ID).status == Status.SOLVED


# ---------------------------------------------------------------- mapping into the queue


def test_full_ticket_maps_codes_and_people(deliver_to, httpserver: HTTPServer) -> None:
    helpers.serve_scenario(httpserver, "agent_reply")

    deliver_to(delivered(raw("webhook_agent_replied.json")))

    ticket = Ticket.objects.get(source="freshdesk", external_id=TICKET_ID)
    assert ticket.channel == Channel.WEB_FORM
    assert ticket.priority == Priority.NORMAL
    assert ticket.status == Status.PENDING_CUSTOMER
    assert ticket.category == Category.DONATION
    assert ticket.contact.email == "sipho.dlamini@example.com"
    assert ticket.contact.identities.filter(kind="freshdesk", value="80012345678").exists()
    first = ticket.messages.get(external_id="3071:description")
    assert first.author_kind == "customer"
    assert "Section 18A" in first.body_text
    reply = ticket.messages.get(external_id="80044000113")
    assert reply.author_email == "anele.khumalo@giving.example.org"
    assert reply.author_name == "Anele Khumalo"
    attachment = Attachment.objects.get()
    assert attachment.filename == "Section18A_SG-EFT-55231.pdf"
    assert attachment.message == reply


def test_open_with_agent_reply_is_open(deliver_to, httpserver: HTTPServer) -> None:
    show = helpers.show_body("agent_reply")
    show["status"] = 2
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}").respond_with_json(show)
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}/conversations").respond_with_json(
        helpers.conversations_body("agent_reply", httpserver)
    )
    helpers.serve_agents(httpserver)
    httpserver.expect_request("/files/80088000501").respond_with_data(b"%PDF")

    deliver_to(delivered(raw("webhook_agent_replied.json")))

    assert Ticket.objects.get(external_id=TICKET_ID).status == Status.OPEN


def test_custom_status_uses_status_map(
    deliver_to, httpserver: HTTPServer, freshdesk: Connection
) -> None:
    freshdesk.config["status_map"] = {"6": "on_hold"}
    freshdesk.save()
    show = helpers.show_body("created")
    show["status"] = 6
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}").respond_with_json(show)
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}/conversations").respond_with_json([])

    deliver_to(delivered(raw("webhook_ticket_created.json")))

    assert Ticket.objects.get(external_id=TICKET_ID).status == Status.ON_HOLD


def test_unreadable_agent_keeps_id_only(deliver_to, httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}").respond_with_json(
        helpers.show_body("internal_note")
    )
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}/conversations").respond_with_json(
        helpers.conversations_body("internal_note")
    )
    httpserver.expect_request("/api/v2/agents/80000000021").respond_with_response(
        Response("no", status=403)
    )

    deliver_to(delivered(raw("webhook_customer_replied.json")))

    note = Ticket.objects.get(external_id=TICKET_ID).messages.get(is_public=False)
    assert note.author_kind == "agent"
    assert note.author_email == ""


# ---------------------------------------------------------------- listing by updated_since


def test_list_follows_link_header(httpserver: HTTPServer, freshdesk: Connection) -> None:
    helpers.serve_list(httpserver)

    report = sync_connection(freshdesk, since=datetime(2025, 3, 11, tzinfo=UTC))

    lists = [r[0] for r in httpserver.log if r[0].path == helpers.LIST_PATH]
    assert len(lists) == 2
    assert lists[0].args["per_page"] == "100"
    assert lists[0].args["order_by"] == "updated_at"
    assert lists[0].args["order_type"] == "asc"
    assert lists[1].args["page"] == "2"
    assert report.done
    freshdesk.refresh_from_db()
    assert freshdesk.cursor == {"window": "2025-03-11T11:30:44Z"}
    assert Ticket.objects.get(external_id="3068").status == Status.CLOSED
    assert Ticket.objects.get(external_id="3075").channel == Channel.CHAT
    assert Ticket.objects.get(external_id="3075").priority == Priority.HIGH


def test_list_moves_window_instead_of_paging_deep(
    httpserver: HTTPServer, freshdesk: Connection
) -> None:
    freshdesk.config["pages_per_window"] = 1
    freshdesk.save()
    helpers.serve_list(httpserver)

    report = sync_connection(freshdesk, since=datetime(2025, 3, 11, tzinfo=UTC))

    lists = [r[0] for r in httpserver.log if r[0].path == helpers.LIST_PATH]
    assert lists[0].args["updated_since"] == "2025-03-11T00:00:00Z"
    assert lists[1].args["page"] == "1"
    assert lists[1].args["updated_since"] == "2025-03-11T10:41:19Z"
    assert report.pages == 2
    assert report.done


def test_list_resumes_from_window(httpserver: HTTPServer, freshdesk: Connection) -> None:
    freshdesk.cursor = {"window": "2025-03-11T11:30:44Z"}
    freshdesk.save()
    httpserver.expect_request(helpers.LIST_PATH).respond_with_json([])

    report = sync_connection(freshdesk)

    assert httpserver.log[0][0].args["updated_since"] == "2025-03-11T11:30:44Z"
    assert report.done
    freshdesk.refresh_from_db()
    assert freshdesk.cursor == {"window": "2025-03-11T11:30:44Z"}


def test_spent_budget_pauses_next_call(httpserver: HTTPServer, freshdesk: Connection) -> None:
    httpserver.expect_oneshot_request(helpers.LIST_PATH).respond_with_json(
        [],
        headers={
            "X-RateLimit-Remaining": "0",
            "Link": f'<{httpserver.url_for(helpers.LIST_PATH)}?page=2>; rel="next"',
        },
    )
    httpserver.expect_oneshot_request(helpers.LIST_PATH).respond_with_json([])
    sleep = SleepRecorder()

    report = sync_connection(freshdesk, adapter=adapter_for(freshdesk, sleep=sleep))

    assert report.pages == 2
    assert sleep.waits == [pytest.approx(60.0, abs=1.0)]


def test_recorded_429_waits_retry_after(httpserver: HTTPServer, freshdesk: Connection) -> None:
    recorded = exchange("api_rate_limited_429.json")["response"]
    httpserver.expect_oneshot_request(helpers.LIST_PATH).respond_with_json(
        recorded["body"], status=429, headers=recorded["headers"]
    )
    httpserver.expect_oneshot_request(helpers.LIST_PATH).respond_with_json([])
    sleep = SleepRecorder()

    page = adapter_for(freshdesk, sleep=sleep).fetch_changes({"window": "2025-03-11T00:00:00Z"})

    assert sleep.waits == [31.0]
    assert page.done
