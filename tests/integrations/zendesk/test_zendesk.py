"""Zendesk: the shared contract, the signature vectors, both body shapes and the export."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict
from werkzeug import Response

from integrations.base import MalformedPayload, WebhookRejected
from integrations.models import Connection, ExternalTicket, InboundItem
from integrations.sync import sync_connection
from integrations.types import CommentRecord, StatusRecord, TicketRef
from integrations.zendesk import webhooks
from tests.integrations.contract import Delivery, DeskContract, Expect, SleepRecorder
from tests.integrations.zendesk import helpers
from tests.integrations.zendesk.helpers import SECRET, TICKET_ID, exchange, raw, signed
from tickets.models import Attachment, Category, Status, Ticket

pytestmark = pytest.mark.django_db


def make_connection(base_url: str, **config: object) -> Connection:
    return Connection.objects.create(
        name="zendesk-test",
        provider="zendesk",
        config={"base_url": base_url, **config},
        credentials={
            "email": "hub@giving.example.org",
            "api_token": "zd-api-token-not-real",
            "signing_secret": SECRET,
        },
    )


class TestZendeskContract(DeskContract):
    provider = "zendesk"
    ticket_id = TICKET_ID
    changes_path = helpers.CHANGES_PATH
    polled_ticket_ids = {"48207", "48213", "48219"}
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
            return signed(helpers.note_body())
        if name == "unknown":
            return signed(
                helpers.event_body(
                    "ticket.tags_changed",
                    TICKET_ID,
                    time="2025-03-10T09:31:00Z",
                    event={"current": ["refund_done"], "previous": []},
                )
            )
        return signed(raw(helpers.STAGE_BODIES[name]))

    def forged(self, delivery: Delivery) -> Delivery:
        return signed(delivery.body, secret="not-the-signing-secret")

    def serve_ticket(self, server: HTTPServer, stage: str) -> None:
        helpers.serve_scenario(server, stage)

    def serve_changes(self, server: HTTPServer, *, first: list[Response] = ()) -> None:
        helpers.serve_export(server, first=first)


# ---------------------------------------------------------------- signatures


def vectors() -> list[dict]:
    return json.loads(raw("signature_vectors.json"))["vectors"]


def vector_body(vector: dict) -> bytes:
    return raw(vector["body_file"].rsplit("/", 1)[-1])


def verify(body: bytes, headers: dict[str, str], *, now: datetime, secret: str = SECRET) -> None:
    webhooks.verify_signature(
        body, CaseInsensitiveDict(headers), secret=secret, now=now, tolerance=timedelta(minutes=5)
    )


def signed_at(vector: dict) -> datetime:
    return datetime.fromisoformat(vector["timestamp"])


@pytest.mark.parametrize("index", [0, 1])
def test_signature_vector_verifies(index: int) -> None:
    vector = vectors()[index]
    body = vector_body(vector)

    assert len(body) == vector["body_length"]
    verify(body, vector["headers"], now=signed_at(vector) + timedelta(seconds=2))


def test_signature_rejects_trailing_newline() -> None:
    vector = vectors()[0]

    with pytest.raises(WebhookRejected) as raised:
        verify(vector_body(vector) + b"\n", vector["headers"], now=signed_at(vector))

    assert raised.value.reason == "bad_signature"
    assert raised.value.status == 401


def test_signature_rejects_reserialised_body() -> None:
    vector = vectors()[0]
    compact = json.dumps(json.loads(vector_body(vector)), separators=(",", ":")).encode()

    with pytest.raises(WebhookRejected) as raised:
        verify(compact, vector["headers"], now=signed_at(vector))

    assert raised.value.reason == "bad_signature"


def test_signature_rejects_legacy_order() -> None:
    vector = vectors()[0]
    legacy = vector["negative_checks"][2]["signature_legacy_order"]
    headers = {**vector["headers"], "X-Zendesk-Webhook-Signature": legacy}

    with pytest.raises(WebhookRejected) as raised:
        verify(vector_body(vector), headers, now=signed_at(vector))

    assert raised.value.reason == "bad_signature"


def test_signature_rejects_stale_timestamp() -> None:
    vector = vectors()[1]

    with pytest.raises(WebhookRejected) as raised:
        verify(vector_body(vector), vector["headers"], now=signed_at(vector) + timedelta(minutes=6))

    assert raised.value.reason == "stale_timestamp"


def test_signature_rejects_missing_headers() -> None:
    vector = vectors()[1]
    headers = {"Content-Type": "application/json"}

    with pytest.raises(WebhookRejected) as raised:
        verify(vector_body(vector), headers, now=signed_at(vector))

    assert raised.value.reason == "missing_signature"


def test_signature_vector_through_endpoint(
    client: Client, httpserver: HTTPServer, time_machine
) -> None:
    vector = vectors()[0]
    connection = make_connection(httpserver.url_for("/").rstrip("/"))
    time_machine.move_to(signed_at(vector) + timedelta(seconds=3), tick=False)
    headers = {k: v for k, v in vector["headers"].items() if k != "Content-Type"}

    response = client.post(
        connection.webhook_path,
        data=vector_body(vector),
        content_type=vector["headers"]["Content-Type"],
        headers=headers,
    )

    assert response.status_code == 202
    item = InboundItem.objects.get()
    assert bytes(item.payload) == vector_body(vector)
    assert item.meta["headers"]["X-Zendesk-Webhook-Invocation-Id"] == "8412739905"
    assert "X-Zendesk-Webhook-Signature" not in item.meta["headers"]


def test_endpoint_without_secret_answers_403(client: Client) -> None:
    connection = Connection.objects.create(
        name="zendesk-no-secret", provider="zendesk", config={"subdomain": "giving"}
    )
    delivery = signed(raw("webhook_trigger_ticket_created.json"))

    response = client.post(
        connection.webhook_path,
        data=delivery.body,
        content_type="application/json",
        headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
    )

    assert response.status_code == 403
    assert not InboundItem.objects.exists()


# ---------------------------------------------------------------- body shapes


@pytest.mark.parametrize(
    ("name", "event"),
    [
        ("webhook_trigger_ticket_created.json", "ticket.created"),
        ("webhook_trigger_customer_replied.json", "ticket.customer_replied"),
        ("webhook_trigger_agent_replied.json", "ticket.agent_replied"),
        ("webhook_trigger_ticket_solved.json", "ticket.solved"),
    ],
)
def test_trigger_body_is_a_nudge(name: str, event: str) -> None:
    parsed = webhooks.parse_body(raw(name))

    assert parsed.name == event
    assert parsed.records == (TicketRef("48213", reason=event),)
    assert parsed.ignored == ""


def test_trigger_body_with_broken_json_still_names_ticket() -> None:
    body = raw("webhook_trigger_customer_replied.json").replace(
        b"Sorry, forgot to add:", b'Sorry, "forgot" to add:\n'
    )

    parsed = webhooks.parse_body(body)

    assert parsed.records == (
        TicketRef("48213", reason="ticket.customer_replied (unparsable body)"),
    )


@pytest.mark.parametrize("body", [b'{"say": "hello"}', b"[1, 2]", b"not json at all", b""])
def test_body_without_ticket_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        webhooks.parse_body(body)


def test_event_subscription_created_is_fetched() -> None:
    parsed = webhooks.parse_body(raw("webhook_event_ticket_created.json"))

    assert parsed.name == "zen:event-type:ticket.created"
    assert parsed.records == (TicketRef("48219", reason="zen:event-type:ticket.created"),)


def test_event_subscription_comment_and_status() -> None:
    note = webhooks.parse_body(helpers.note_body()).records[0]
    status = webhooks.parse_body(
        helpers.event_body(
            "ticket.status_changed",
            TICKET_ID,
            time="2025-03-12T14:20:09.123456789Z",
            event={"current": "SOLVED", "previous": "PENDING"},
        )
    ).records[0]

    assert isinstance(note, CommentRecord)
    assert note.external_id == "29011000003"
    assert note.is_public is False
    assert note.author.role == "agent"
    assert isinstance(status, StatusRecord)
    assert status.status == Status.SOLVED
    assert status.occurred_at == datetime(2025, 3, 12, 14, 20, 9, 123456, tzinfo=UTC)


def test_event_subscription_non_ticket_is_ignored() -> None:
    body = json.dumps(
        {"type": "zen:event-type:user.created", "id": "x", "detail": {"id": "1"}}
    ).encode()

    parsed = webhooks.parse_body(body)

    assert parsed.ignored
    assert parsed.records == ()


def test_event_subscription_ticket_via_endpoint(deliver_to, httpserver: HTTPServer) -> None:
    helpers.serve_other_tickets(httpserver)

    response = deliver_to(signed(raw("webhook_event_ticket_created.json")))

    assert response.status_code == 202
    ticket = Ticket.objects.get(source="zendesk", external_id="48219")
    assert ticket.status == Status.NEW
    assert ticket.channel == "web_form"
    assert ticket.subject == "Section 18A certificate for a company donation"
    assert ticket.contact.email == "accounts@davidsbakery.example.co.za"
    # The "section_18a" tag names a category outright.
    assert ticket.category == Category.DONATION
    assert ticket.messages.get().external_id == "290110048219"


@pytest.fixture
def zendesk(db: None, httpserver: HTTPServer) -> Connection:
    return make_connection(httpserver.url_for("/").rstrip("/"))


@pytest.fixture
def deliver_to(client: Client, zendesk: Connection, django_capture_on_commit_callbacks):
    def post(delivery: Delivery):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                zendesk.webhook_path,
                data=delivery.body,
                content_type=delivery.content_type,
                headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
            )

    return post


# ---------------------------------------------------------------- mapping into the queue


def test_agents_map_to_users_by_email(deliver_to, httpserver: HTTPServer) -> None:
    pieter = get_user_model().objects.create_user(
        "pieter", email="Pieter.vdMerwe@giving.example.org", password="x-not-used"
    )
    helpers.serve_scenario(httpserver, "agent_reply")

    deliver_to(signed(raw("webhook_trigger_agent_replied.json")))

    ticket = Ticket.objects.get(external_id=TICKET_ID)
    assert ticket.assignee == pieter
    reply = ticket.messages.get(external_id="29011000004")
    assert reply.author_user == pieter
    assert reply.author_email == "pieter.vdmerwe@giving.example.org"
    customer = ticket.messages.get(external_id="29011000001")
    assert customer.author_email == "thandiwe.mokoena@example.com"
    assert ticket.contact.identities.filter(kind="zendesk", value="39120456781").exists()


def test_tag_mapping_from_config_names_category(
    deliver_to, httpserver: HTTPServer, zendesk: Connection
) -> None:
    zendesk.config["tag_categories"] = {"debit_order": "payment_issues"}
    zendesk.save()
    helpers.serve_scenario(httpserver, "created")

    deliver_to(signed(raw("webhook_trigger_ticket_created.json")))

    ticket = Ticket.objects.get(external_id=TICKET_ID)
    assert ticket.category == Category.PAYMENT
    assert "chosen by the sender" in ticket.category_reason
    assert ticket.tags == ["debit_order", "duplicate_payment", "masakhane_early_learning_trust"]


def test_late_status_event_does_not_roll_back(deliver_to, httpserver: HTTPServer) -> None:
    helpers.serve_scenario(httpserver, "solved")
    deliver_to(signed(raw("webhook_trigger_ticket_solved.json")))
    stale = helpers.event_body(
        "ticket.status_changed",
        TICKET_ID,
        time="2025-03-10T09:32:05.5Z",
        event={"current": "PENDING", "previous": "OPEN"},
    )
    fresh = helpers.event_body(
        "ticket.status_changed",
        TICKET_ID,
        time="2025-03-13T08:00:00Z",
        event={"current": "OPEN", "previous": "SOLVED"},
    )

    deliver_to(signed(stale))
    assert Ticket.objects.get(external_id=TICKET_ID).status == Status.SOLVED
    deliver_to(signed(fresh))

    assert Ticket.objects.get(external_id=TICKET_ID).status == Status.OPEN
    assert InboundItem.objects.filter(outcome="stale").count() == 1


def test_comment_event_for_unknown_ticket_fetches(deliver_to, httpserver: HTTPServer) -> None:
    helpers.serve_scenario(httpserver, "internal_note")

    deliver_to(signed(helpers.note_body()))

    ticket = Ticket.objects.get(external_id=TICKET_ID)
    assert ticket.messages.count() == 3
    assert ticket.messages.get(external_id="29011000001").author_kind == "customer"
    assert any(r[0].path == f"/api/v2/tickets/{TICKET_ID}/comments.json" for r in httpserver.log)


def test_attachment_is_downloaded(deliver_to, httpserver: HTTPServer) -> None:
    pdf = b"%PDF-1.4 refund confirmation\n%%EOF\n"
    comments = helpers.comments_body("agent_reply")
    comments["comments"][3]["attachments"] = [
        {
            "id": 1,
            "file_name": "refund.pdf",
            "content_type": "application/pdf",
            "size": len(pdf),
            "content_url": httpserver.url_for("/attachments/refund.pdf"),
        }
    ]
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}.json").respond_with_json(
        helpers.show_body("agent_reply")
    )
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}/comments.json").respond_with_json(
        comments
    )
    httpserver.expect_request("/attachments/refund.pdf").respond_with_data(
        pdf, content_type="application/pdf"
    )

    deliver_to(signed(raw("webhook_trigger_agent_replied.json")))

    attachment = Attachment.objects.get()
    assert attachment.filename == "refund.pdf"
    assert attachment.size == len(pdf)
    assert attachment.message.external_id == "29011000004"


def test_credentials_never_logged(deliver_to, httpserver: HTTPServer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request(f"/api/v2/tickets/{TICKET_ID}.json").respond_with_response(
        Response("denied", status=401)
    )

    deliver_to(signed(raw("webhook_trigger_ticket_created.json")))
    deliver_to(signed(raw("webhook_trigger_ticket_created.json"), secret="forged-secret"))

    assert "zd-api-token-not-real" not in caplog.text
    assert SECRET not in caplog.text
    assert "401" in caplog.text
    authorization = httpserver.log[0][0].headers["Authorization"]
    assert authorization.startswith("Basic ")


# ---------------------------------------------------------------- the cursor export


def test_export_follows_cursor_without_gaps(httpserver: HTTPServer, zendesk: Connection) -> None:
    helpers.serve_export(httpserver)

    report = sync_connection(zendesk)

    exports = [r[0] for r in httpserver.log if r[0].path == helpers.CHANGES_PATH]
    assert len(exports) == 2
    assert "start_time" in exports[0].args
    assert exports[1].args["cursor"] == "MTc0MTU5OTEyNS4wfHw0ODIxM3w="
    assert report.pages == 2
    assert report.done
    zendesk.refresh_from_db()
    assert zendesk.cursor == {"after_cursor": "MTc0MTY3ODgwMC4wfHw0ODE5MHw="}
    assert zendesk.last_success_at is not None
    assert zendesk.last_error == ""
    opened = set(Ticket.objects.values_list("external_id", flat=True))
    assert opened == {"48207", "48213", "48219"}
    deleted = ExternalTicket.objects.get(external_id="48190")
    assert deleted.deleted
    assert deleted.ticket is None
    assert Ticket.objects.get(external_id="48207").status == Status.SOLVED
    records = InboundItem.objects.filter(kind="record")
    assert records.filter(state="done").count() == 3
    assert records.get(state="ignored").outcome == "deleted"


def test_export_resumes_from_stored_cursor(httpserver: HTTPServer, zendesk: Connection) -> None:
    zendesk.cursor = {"after_cursor": "MTc0MTY3ODgwMC4wfHw0ODE5MHw="}
    zendesk.save()
    page = {"tickets": [], "after_cursor": "MTc0MTY3ODkwMC4wfHx8", "end_of_stream": True}
    httpserver.expect_request(helpers.CHANGES_PATH).respond_with_json(page)

    report = sync_connection(zendesk)

    request = httpserver.log[0][0]
    assert request.args["cursor"] == "MTc0MTY3ODgwMC4wfHw0ODE5MHw="
    assert "start_time" not in request.args
    assert report.done
    zendesk.refresh_from_db()
    assert zendesk.cursor == {"after_cursor": "MTc0MTY3ODkwMC4wfHx8"}


def test_export_since_restarts_walk(httpserver: HTTPServer, zendesk: Connection) -> None:
    zendesk.cursor = {"after_cursor": "old"}
    zendesk.save()
    page = {"tickets": [], "after_cursor": "new", "end_of_stream": True}
    httpserver.expect_request(helpers.CHANGES_PATH).respond_with_json(page)

    sync_connection(zendesk, since=datetime(2025, 3, 10, tzinfo=UTC))

    assert httpserver.log[0][0].args["start_time"] == "1741564800"


def test_deleted_ticket_known_in_hub_is_closed(
    deliver_to, httpserver: HTTPServer, zendesk: Connection
) -> None:
    helpers.serve_scenario(httpserver, "created")
    deliver_to(signed(raw("webhook_trigger_ticket_created.json")))
    deleted = dict(
        helpers.export_pages()[1]["tickets"][1], id=48213, updated_at="2025-03-14T07:40:00Z"
    )
    httpserver.expect_request(helpers.CHANGES_PATH).respond_with_json(
        {"tickets": [deleted], "after_cursor": "c", "end_of_stream": True}
    )

    sync_connection(zendesk)

    ticket = Ticket.objects.get(external_id=TICKET_ID)
    assert ticket.status == Status.CLOSED
    assert ticket.events.filter(kind="note", reason__contains="deleted").exists()
    assert ticket.messages.count() == 1


def test_rate_limit_budget_pauses_next_call(httpserver: HTTPServer, zendesk: Connection) -> None:
    spent = {"ratelimit-remaining": "0", "ratelimit-reset": "37"}
    page1, page2 = helpers.export_pages()
    page1 = dict(page1, tickets=[])
    page2 = dict(page2, tickets=[])
    httpserver.expect_oneshot_request(helpers.CHANGES_PATH).respond_with_json(page1, headers=spent)
    httpserver.expect_oneshot_request(helpers.CHANGES_PATH).respond_with_json(page2)
    sleep = SleepRecorder()

    from integrations.registry import adapter_for

    report = sync_connection(zendesk, adapter=adapter_for(zendesk, sleep=sleep))

    assert report.pages == 2
    assert sleep.waits == [pytest.approx(37.0, abs=1.0)]


def test_recorded_429_is_retried_after_wait(httpserver: HTTPServer, zendesk: Connection) -> None:
    recorded = exchange("api_rate_limited_429.json")["response"]
    httpserver.expect_oneshot_request(helpers.CHANGES_PATH).respond_with_data(
        recorded["body"], status=429, headers=recorded["headers"]
    )
    httpserver.expect_oneshot_request(helpers.CHANGES_PATH).respond_with_json(
        {"tickets": [], "after_cursor": "next", "end_of_stream": True}
    )
    sleep = SleepRecorder()

    from integrations.registry import adapter_for

    page = adapter_for(zendesk, sleep=sleep).fetch_changes(
        {"after_cursor": "MTc0MTY3ODgwMC4wfHw0ODE5MHw="}
    )

    assert sleep.waits == [42.0]
    cursors = [r[0].args["cursor"] for r in httpserver.log]
    assert cursors == ["MTc0MTY3ODgwMC4wfHw0ODE5MHw=", "MTc0MTY3ODgwMC4wfHw0ODE5MHw="]
    assert page.cursor == {"after_cursor": "next"}
