"""Crisp: plugin and website hooks, the mapping, chat routing and pushes, polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict
from werkzeug import Response

from chat import pushes
from chat.models import AgentAvailability, ChatConversation, ChatTeam, ChatTranscript, ProviderPush
from chat.transcripts import verify_chain
from integrations.base import MalformedPayload, WebhookRejected
from integrations.crisp import mapping, webhooks
from integrations.models import Connection, InboundItem
from integrations.registry import adapter_for
from integrations.types import DELETED, ContactRecord, StatusRecord, TicketRef
from tests.integrations.contract import Delivery, SleepRecorder
from tests.integrations.crisp import helpers
from tests.integrations.crisp.helpers import KEY, SECRET, SESSION_ID, WEBSITE_ID, exchange, raw
from tests.integrations.crisp.test_crisp_contract import make_connection
from tickets.models import Attachment, Category, Status, Ticket

pytestmark = pytest.mark.django_db

TOLERANCE = timedelta(minutes=5)
# Tuesday 11 March 2025, 20:00 SAST: after chat hours.
AFTER_HOURS = datetime(2025, 3, 11, 18, 0, tzinfo=UTC)


# ---------------------------------------------------------------- signatures


def signed_at(vector: dict) -> datetime:
    return datetime.fromtimestamp(int(vector["timestamp"]) / 1000, tz=UTC)


def verify(body: bytes, headers: dict[str, str], *, now: datetime, secret: str = SECRET) -> None:
    webhooks.verify_plugin_hook(
        body, CaseInsensitiveDict(headers), secret=secret, now=now, tolerance=TOLERANCE
    )


@pytest.mark.parametrize("index", range(6))
def test_signature_vector_verifies(index: int) -> None:
    vector = helpers.vectors()[index]
    body = raw(vector["body_file"].rsplit("/", 1)[-1])

    assert len(body) == vector["body_length"]
    assert webhooks.signature_for(body, vector["timestamp"], SECRET) == vector["expected_signature"]
    verify(body, vector["headers"], now=signed_at(vector) + timedelta(seconds=1))


def test_signature_without_brackets_fails() -> None:
    vector = helpers.vectors()[0]
    unbracketed = vector["negative_checks"][0]["signature_without_brackets"]
    headers = {**vector["headers"], "X-Crisp-Signature": unbracketed}
    with pytest.raises(WebhookRejected) as raised:
        verify(raw("webhook_message_send_new_conversation.json"), headers, now=signed_at(vector))
    assert raised.value.reason == "bad_signature"


def test_signature_over_spaced_json_fails() -> None:
    vector = helpers.vectors()[0]
    body = raw("webhook_message_send_new_conversation.json")
    spaced = json.dumps(json.loads(body)).encode()
    headers = {
        **vector["headers"],
        "X-Crisp-Signature": webhooks.signature_for(spaced, vector["timestamp"], SECRET),
    }
    with pytest.raises(WebhookRejected):
        verify(body, headers, now=signed_at(vector))


def test_compact_reserialised_body_accepted() -> None:
    # A proxy that re-indented the body: Crisp signed the compact form.
    vector = helpers.vectors()[0]
    body = raw("webhook_message_send_new_conversation.json")
    reindented = json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode()
    verify(reindented, vector["headers"], now=signed_at(vector))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Crisp-Signature": ""}, "missing_signature"),
        ({"X-Crisp-Request-Timestamp": ""}, "missing_signature"),
        ({"X-Crisp-Signature": "0" * 64}, "bad_signature"),
    ],
)
def test_signature_failures(change: dict[str, str], reason: str) -> None:
    vector = helpers.vectors()[0]
    headers = {**vector["headers"], **change}
    with pytest.raises(WebhookRejected) as raised:
        verify(raw("webhook_message_send_new_conversation.json"), headers, now=signed_at(vector))
    assert (raised.value.status, raised.value.reason) == (401, reason)


def test_stale_timestamp_rejected() -> None:
    vector = helpers.vectors()[0]
    with pytest.raises(WebhookRejected) as raised:
        verify(
            raw("webhook_message_send_new_conversation.json"),
            vector["headers"],
            now=signed_at(vector) + timedelta(minutes=6),
        )
    assert raised.value.reason == "stale_timestamp"


def test_timestamp_must_be_milliseconds() -> None:
    body = raw("webhook_session_set_email.json")
    headers = {
        "X-Crisp-Request-Timestamp": "yesterday",
        "X-Crisp-Signature": webhooks.signature_for(body, "yesterday", SECRET),
    }
    with pytest.raises(WebhookRejected) as raised:
        verify(body, headers, now=datetime(2025, 3, 11, tzinfo=UTC))
    assert raised.value.reason == "bad_timestamp"


def test_no_signing_secret_is_403() -> None:
    vector = helpers.vectors()[0]
    with pytest.raises(WebhookRejected) as raised:
        verify(
            raw("webhook_message_send_new_conversation.json"),
            vector["headers"],
            now=signed_at(vector),
            secret="",
        )
    assert (raised.value.status, raised.value.reason) == (403, "not_configured")


# ---------------------------------------------------------------- mapping


def hook(name: str):  # type: ignore[no-untyped-def]
    return mapping.hook_event(json.loads(raw(name)))


def test_visitor_message_maps_to_comment() -> None:
    (comment,) = hook("webhook_message_send_new_conversation.json").records

    assert comment.ticket_id == KEY
    assert comment.external_id == f"{SESSION_ID}:174169800012345"
    assert comment.created_at == datetime(2025, 3, 11, 13, 0, 0, 123000, tzinfo=UTC)
    assert comment.author.name == ""  # "visitor482915" is Crisp's generated name
    assert comment.author.external_id == SESSION_ID


def test_named_visitor_updates_contact() -> None:
    comment, contact = hook("webhook_message_send_customer_reply.json").records
    assert isinstance(contact, ContactRecord)
    assert contact.person.name == "Ayesha Patel"


def test_operator_reply_opens_conversation() -> None:
    comment, status = hook("webhook_message_received_operator_reply.json").records
    assert comment.author.role == "agent"
    assert comment.author.external_id == helpers.NOMVULA_ID
    assert isinstance(status, StatusRecord)
    assert status.status == Status.OPEN


def test_session_events() -> None:
    (email,) = hook("webhook_session_set_email.json").records
    assert email.person.email == "ayesha.patel@example.com"
    (resolved,) = hook("webhook_session_set_state_resolved.json").records
    assert (resolved.status, resolved.occurred_at) == (
        Status.SOLVED,
        datetime(2025, 3, 11, 13, 5, 0, 345000, tzinfo=UTC),
    )
    (removed,) = hook("webhook_session_removed.json").records
    assert removed.status == DELETED


def test_pending_state_keeps_status() -> None:
    body = json.loads(raw("webhook_session_set_state_resolved.json"))
    body["data"]["state"] = "pending"
    assert mapping.hook_event(body).ignored == "state pending keeps the hub's status"
    body["data"]["state"] = "archived"
    with pytest.raises(MalformedPayload):
        mapping.hook_event(body)


def test_file_message_needs_fetch() -> None:
    body = json.loads(raw("webhook_message_send_customer_reply.json"))
    body["data"]["type"] = "file"
    body["data"]["content"] = {
        "name": "debit.pdf",
        "url": "https://storage.crisp.chat/debit.pdf",
        "type": "application/pdf",
    }
    (ref,) = mapping.hook_event(body).records
    assert isinstance(ref, TicketRef)
    assert ref.ticket_id == KEY


def test_note_is_internal() -> None:
    (comment,) = mapping.hook_event(json.loads(helpers.note_body())).records
    assert not comment.is_public


def test_typing_ignored() -> None:
    assert mapping.hook_event(json.loads(helpers.compose_body())).ignored


def test_rest_conversation_maps_messages() -> None:
    messages, conversation = helpers.stage_state("solved")
    record = mapping.conversation_record(conversation, messages)
    assert record.requester.email == "ayesha.patel@example.com"
    assert record.requester.name == "Ayesha Patel"
    assert record.status == Status.SOLVED
    assert record.updated_at == datetime(2025, 3, 11, 13, 5, 0, 345000, tzinfo=UTC)
    assert [c.external_id.split(":")[1] for c in record.comments] == [
        "174169800012345",
        "174169810078911",
        "174169812000001",
        "174169816001277",
    ]
    assert "tag:recurring-donor" in record.category_hints


# ---------------------------------------------------------------- hooks through the endpoint


@pytest.fixture
def connection(httpserver: HTTPServer) -> Connection:
    return make_connection(httpserver.url_for("/").rstrip("/"))


@pytest.fixture
def deliver(client: Client, connection: Connection, django_capture_on_commit_callbacks, settings):  # type: ignore[no-untyped-def]
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1

    def post(delivery: Delivery, *, path: str | None = None):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                path or connection.webhook_path,
                data=delivery.body,
                content_type="application/json",
                headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
            )

    return post


@pytest.fixture
def nomvula(db):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(
        username="nomvula", email=helpers.NOMVULA_EMAIL, first_name="Nomvula", last_name="Sithole"
    )
    for category in Category.values:
        team, _ = ChatTeam.objects.get_or_create(category=category, defaults={"name": category})
        team.members.add(user)
    AgentAvailability.objects.create(user=user, status=AgentAvailability.Status.AVAILABLE)
    return user


def serve_operators(server: HTTPServer) -> None:
    server.expect_request(f"/website/{WEBSITE_ID}/operators/list").respond_with_json(
        exchange("outbound_list_operators.json")["response"]["body"]
    )


def serve_write(server: HTTPServer, suffix: str, exchange_name: str, method: str) -> None:
    response = exchange(exchange_name)["response"]
    server.expect_request(f"{helpers.CONVERSATION_PATH}/{suffix}", method=method).respond_with_json(
        response["body"], status=response["status"]
    )


def test_unsigned_hook_rejected(deliver) -> None:  # type: ignore[no-untyped-def]
    response = deliver(Delivery(raw("webhook_session_set_email.json")))
    assert response.status_code == 401
    assert not InboundItem.objects.exists()


def test_website_hook_needs_opt_in_and_key(deliver, connection: Connection, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    connection.config = {**connection.config, "website_hooks": True}
    connection.credentials = {**connection.credentials, "website_hook_key": "wh-key-7f3a"}
    connection.save()
    body = raw("webhook_message_send_new_conversation.json")

    missing = deliver(Delivery(body))
    wrong = deliver(Delivery(body, {"X-Hub-Webhook-Key": "guess"}))
    right = deliver(Delivery(body, {"X-Hub-Webhook-Key": "wh-key-7f3a"}))

    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 401, 202)


def test_hook_for_other_website_ignored(deliver, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    body = raw("webhook_session_set_email.json").replace(
        WEBSITE_ID.encode(), b"0" * 8 + WEBSITE_ID[8:].encode()
    )
    response = deliver(helpers.signed(body))
    assert response.json()["status"] == "ignored"


def test_chat_life_through_hooks(
    deliver,
    httpserver: HTTPServer,
    nomvula,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to(helpers.FIXTURE_NOW)
    helpers.serve_scenario(httpserver, "created")
    serve_operators(httpserver)
    serve_write(httpserver, "routing", "outbound_routing_assign.json", "PATCH")

    deliver(helpers.recorded_delivery("webhook_message_send_new_conversation.json"))
    deliver(helpers.recorded_delivery("webhook_session_set_email.json"))
    deliver(helpers.recorded_delivery("webhook_message_send_customer_reply.json"))
    deliver(helpers.recorded_delivery("webhook_message_received_operator_reply.json"))

    ticket = Ticket.objects.get(source="crisp", external_id=KEY)
    assert ticket.assignee_id == nomvula.pk
    assert ticket.contact.email == "ayesha.patel@example.com"
    assert ticket.contact.name == "Ayesha Patel"
    routed = [e[0] for e in httpserver.log if e[0].path.endswith("/routing")]
    assert routed[0].get_json() == {"assigned": {"user_id": helpers.NOMVULA_ID}}
    assert routed[0].headers["X-Crisp-Tier"] == "plugin"
    assert routed[0].headers["Authorization"].startswith("Basic ")
    assert ProviderPush.objects.get().state == ProviderPush.State.SENT

    time_machine.move_to(helpers.FIXTURE_NOW + timedelta(minutes=2, seconds=30))
    deliver(helpers.recorded_delivery("webhook_session_set_state_resolved.json"))

    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    transcript = ChatTranscript.objects.get(ticket=ticket)
    assert transcript.message_count == 3
    assert "Ayesha Patel (customer)" in transcript.text
    assert verify_chain().ok


def test_removed_session_keeps_history(deliver, httpserver: HTTPServer, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    helpers.serve_scenario(httpserver, "customer_reply")
    deliver(helpers.recorded_delivery("webhook_message_send_new_conversation.json"))
    deliver(helpers.recorded_delivery("webhook_message_send_customer_reply.json"))
    removed = raw("webhook_session_removed.json")

    deliver(helpers.signed(removed))

    ticket = Ticket.objects.get(source="crisp", external_id=KEY)
    assert ticket.status == Status.CLOSED
    assert ticket.messages.count() == 2
    assert ticket.chat.deleted_at == datetime(2025, 3, 12, 13, 0, tzinfo=UTC)
    assert ticket.chat.routing == ChatConversation.Routing.CLOSED
    assert ChatTranscript.objects.filter(ticket=ticket).count() == 1


def test_file_message_downloaded(deliver, httpserver: HTTPServer, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    messages, conversation = helpers.stage_state("customer_reply")
    messages[1]["type"] = "file"
    messages[1]["content"] = {
        "name": "debit-order.pdf",
        "url": httpserver.url_for("/files/debit-order.pdf"),
        "type": "application/pdf",
    }
    httpserver.expect_request(helpers.CONVERSATION_PATH).respond_with_json(
        helpers.envelope(conversation)
    )
    httpserver.expect_request(f"{helpers.CONVERSATION_PATH}/messages").respond_with_json(
        helpers.envelope(messages)
    )
    httpserver.expect_request("/files/debit-order.pdf").respond_with_data(
        b"%PDF-1.4 mandate", content_type="application/pdf"
    )
    hook_body = json.loads(raw("webhook_message_send_customer_reply.json"))
    hook_body["data"].update(type="file", content=messages[1]["content"])

    deliver(helpers.signed(json.dumps(hook_body, separators=(",", ":")).encode()))

    attachment = Attachment.objects.get()
    assert attachment.filename == "debit-order.pdf"
    assert attachment.size == len(b"%PDF-1.4 mandate")


# ---------------------------------------------------------------- pushes


def conversation_for(connection: Connection) -> ChatConversation:
    from tickets import services
    from tickets.inputs import ContactInput, IncomingMessage

    incoming = IncomingMessage(
        source="crisp",
        channel="chat",
        direction="in",
        author_kind="customer",
        contact=ContactInput(name="Ayesha Patel", identities=(("crisp", SESSION_ID),)),
        sent_at=AFTER_HOURS,
        body_text="Hi! How do I change my monthly donation?",
        external_ticket_id=KEY,
        external_message_id=f"{SESSION_ID}:1",
        category_hints=("category:donation_issues",),
    )
    ticket = services.ingest_message(incoming=incoming, actor_label="test").ticket
    return ChatConversation.objects.create(
        ticket=ticket, provider="crisp", external_id=KEY, connection=connection
    )


def test_off_hours_message_sent(httpserver: HTTPServer, connection: Connection, settings) -> None:
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    serve_write(httpserver, "message", "outbound_send_message.json", "POST")
    push = pushes.queue_off_hours_message(conversation=conversation_for(connection))

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.SENT
    assert push.provider_ref == "174169816001277"
    ((request, _),) = httpserver.log
    sent = request.get_json()
    assert sent["type"] == "text"
    assert sent["from"] == "operator"
    assert sent["origin"] == "chat"
    assert sent["automated"] is True
    assert sent["content"].startswith("Hi Ayesha, thanks for your message.")


def test_removed_session_push_not_retried(
    httpserver: HTTPServer, connection: Connection, settings
) -> None:
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    serve_write(httpserver, "message", "outbound_error_session_not_found.json", "POST")
    push = pushes.queue_off_hours_message(conversation=conversation_for(connection))

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.GAVE_UP
    assert "404" in push.last_error


def test_enhance_your_calm_retried(
    httpserver: HTTPServer, connection: Connection, settings
) -> None:
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    httpserver.expect_request(f"{helpers.CONVERSATION_PATH}/message").respond_with_json(
        {"error": True, "reason": "rate_limited", "data": {}}, status=420
    )
    push = pushes.queue_off_hours_message(conversation=conversation_for(connection))

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.FAILED
    assert push.next_attempt_at is not None


def test_error_envelope_is_failure(
    httpserver: HTTPServer, connection: Connection, settings
) -> None:
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    httpserver.expect_request(f"{helpers.CONVERSATION_PATH}/message").respond_with_json(
        {"error": True, "reason": "invalid_data", "data": {}}, status=200
    )
    push = pushes.queue_off_hours_message(conversation=conversation_for(connection))

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.GAVE_UP
    assert "invalid_data" in push.last_error


def test_unknown_operator_not_retried(
    httpserver: HTTPServer, connection: Connection, settings, nomvula
) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    serve_operators(httpserver)
    nomvula.email = "nomvula@elsewhere.example.org"
    nomvula.save()
    push = pushes.queue_assignment(conversation=conversation_for(connection), agent=nomvula)

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.GAVE_UP
    assert "No Crisp operator" in push.last_error


# ---------------------------------------------------------------- polling


def test_list_walk_and_cursor(httpserver: HTTPServer, connection: Connection, time_machine) -> None:
    time_machine.move_to(helpers.FIXTURE_NOW, tick=False)
    helpers.serve_list(httpserver)
    adapter = adapter_for(connection, sleep=SleepRecorder())
    since = datetime(2025, 3, 11, 12, 0, tzinfo=UTC)

    first = adapter.fetch_changes({}, since=since)
    second = adapter.fetch_changes(first.cursor)

    (listed,) = first.records
    assert listed.external_id == KEY
    assert not listed.complete
    assert not first.done
    assert second.records == ()
    assert second.done
    started = int(helpers.FIXTURE_NOW.timestamp() * 1000)
    assert second.cursor == {"since": started - 5 * 60 * 1000}
    request = httpserver.log[0][0]
    assert request.args["filter_date_start"] == since.isoformat()
    assert request.args["order_date_updated"] == "1"


def test_fetch_pages_back_through_messages(httpserver: HTTPServer, connection: Connection) -> None:
    messages, conversation = helpers.stage_state("solved")
    batches = {None: messages[2:], str(messages[2]["timestamp"]): messages[:2]}

    def answer(request):  # type: ignore[no-untyped-def]
        batch = batches.get(request.args.get("timestamp_before"), [])
        return Response(json.dumps(helpers.envelope(batch)), content_type="application/json")

    httpserver.expect_request(helpers.CONVERSATION_PATH).respond_with_json(
        helpers.envelope(conversation)
    )
    httpserver.expect_request(f"{helpers.CONVERSATION_PATH}/messages").respond_with_handler(answer)

    record = adapter_for(connection, sleep=SleepRecorder()).fetch_ticket(KEY)

    assert len(record.comments) == 4
    assert record.complete
    asked = [
        e[0].args.get("timestamp_before") for e in httpserver.log if e[0].path.endswith("/messages")
    ]
    assert asked == [None, str(messages[2]["timestamp"]), str(messages[0]["timestamp"])]


def test_fetch_removed_session_is_none(httpserver: HTTPServer, connection: Connection) -> None:
    httpserver.expect_request(helpers.CONVERSATION_PATH).respond_with_json(
        {"error": True, "reason": "session_not_found", "data": {}}, status=404
    )
    assert adapter_for(connection, sleep=SleepRecorder()).fetch_ticket(KEY) is None
