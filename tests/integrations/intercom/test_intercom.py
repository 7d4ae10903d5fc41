"""Intercom: signatures, the notification mapping, chat routing and pushes, polling."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_httpserver import HTTPServer
from requests.structures import CaseInsensitiveDict

from chat import pushes
from chat.models import AgentAvailability, ChatConversation, ChatTeam, ChatTranscript, ProviderPush
from chat.transcripts import verify_chain
from integrations.base import WebhookRejected
from integrations.intercom import mapping, webhooks
from integrations.models import Connection, InboundItem
from integrations.registry import adapter_for
from integrations.types import Role
from tests.integrations.contract import Delivery, SleepRecorder
from tests.integrations.intercom import helpers
from tests.integrations.intercom.helpers import CONVERSATION_ID, SECRET, exchange, raw, signed
from tests.integrations.intercom.test_intercom_contract import make_connection
from tickets.models import AuthorKind, Category, Direction, Status, Ticket

pytestmark = pytest.mark.django_db

# Tuesday 11 March 2025, 20:00 SAST: after chat hours.
AFTER_HOURS = datetime(2025, 3, 11, 18, 0, tzinfo=UTC)


# ---------------------------------------------------------------- signatures


def vectors() -> list[dict]:
    return json.loads(raw("signature_vectors.json"))["vectors"]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_signature_vector_verifies(index: int) -> None:
    vector = vectors()[index]
    body = raw(vector["body_file"].rsplit("/", 1)[-1])

    assert len(body) == vector["body_length"]
    assert webhooks.signature_for(body, SECRET) == vector["expected_signature"]
    webhooks.verify_signature(body, CaseInsensitiveDict(vector["headers"]), secret=SECRET)


def test_signature_rejects_trailing_newline() -> None:
    vector = vectors()[0]
    body = raw(vector["body_file"].rsplit("/", 1)[-1]) + b"\n"
    with pytest.raises(WebhookRejected) as raised:
        webhooks.verify_signature(body, CaseInsensitiveDict(vector["headers"]), secret=SECRET)
    assert raised.value.reason == "bad_signature"


def test_signature_rejects_sha256() -> None:
    import hashlib
    import hmac

    body = raw("webhook_ping.json")
    wrong = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(WebhookRejected) as raised:
        webhooks.verify_signature(body, {"X-Hub-Signature": wrong}, secret=SECRET)
    assert raised.value.status == 401


@pytest.mark.parametrize(
    ("headers", "secret", "status", "reason"),
    [
        ({}, SECRET, 401, "missing_signature"),
        ({"X-Hub-Signature": "sha256=abc"}, SECRET, 401, "bad_signature"),
        ({"X-Hub-Signature": "sha1=abc"}, "", 403, "not_configured"),
    ],
)
def test_signature_failures(headers, secret, status, reason) -> None:
    with pytest.raises(WebhookRejected) as raised:
        webhooks.verify_signature(raw("webhook_ping.json"), headers, secret=secret)
    assert (raised.value.status, raised.value.reason) == (status, reason)


# ---------------------------------------------------------------- mapping


def event(name: str):  # type: ignore[no-untyped-def]
    return mapping.notification_event(json.loads(raw(name)), bot_admin_ids=frozenset({"7381999"}))


def test_created_maps_source_message() -> None:
    (record,) = event("webhook_conversation_user_created.json").records

    assert record.external_id == CONVERSATION_ID
    assert record.complete
    assert record.requester.email == "lindiwe.nkosi@example.com"
    assert record.requester.external_id == "65f1c2a9e4b0d1a2b3c4d5e6"
    assert record.created_at == datetime(2025, 3, 11, 11, 0, tzinfo=UTC)
    assert record.status is None
    (comment,) = record.comments
    assert comment.external_id == "source:2298813374"
    assert comment.body_text.startswith("Hi, my card payment of R1 000")
    assert comment.body_html.startswith("<p>")
    assert record.subject.startswith("Hi, my card payment of R1 000")


def test_reply_with_all_parts_is_complete() -> None:
    (record,) = event("webhook_conversation_user_replied.json").records
    assert record.complete
    assert [c.external_id for c in record.comments] == ["source:2298813374", "28719044511"]


def test_admin_reply_without_history_is_incomplete() -> None:
    (record,) = event("webhook_conversation_admin_replied.json").records
    assert not record.complete
    assert record.status == Status.OPEN
    assert record.assignee.email == helpers.JOHAN_EMAIL


def test_close_part_adds_no_message() -> None:
    (record,) = event("webhook_conversation_admin_closed.json").records
    assert record.status == Status.SOLVED
    assert "28719063350" not in [c.external_id for c in record.comments]


def test_ping_and_unknown_topics_ignored() -> None:
    assert event("webhook_ping.json").ignored == "test delivery (ping)"
    snoozed = mapping.notification_event(json.loads(helpers.snoozed_body()))
    assert snoozed.ignored == "topic conversation.admin.snoozed is not used by the hub"


def test_hub_admin_part_is_bot() -> None:
    conversation = helpers.conversation_at("agent_reply")
    agent_part = conversation["conversation_parts"]["conversation_parts"][-1]
    agent_part["author"]["id"] = "7381999"
    record = mapping.conversation_record(conversation, bot_admin_ids=frozenset({"7381999"}))
    assert record.comments[-1].author.role == Role.BOT


def test_assignment_note_is_internal() -> None:
    record = mapping.conversation_record(helpers.conversation_at("internal_note"))
    note = next(c for c in record.comments if c.external_id == helpers.NOTE_PART["id"])
    assert not note.is_public


def test_part_with_file_needs_fetch() -> None:
    conversation = helpers.conversation_at("customer_reply")
    conversation["conversation_parts"]["conversation_parts"][0]["attachments"] = [
        {
            "type": "upload",
            "name": "statement.pdf",
            "url": "https://downloads.intercomcdn.com/statement.pdf",
            "content_type": "application/pdf",
            "filesize": 2048,
        }
    ]
    record = mapping.conversation_record(conversation)
    assert not record.complete
    assert record.comments[-1].attachments[0].filename == "statement.pdf"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"topic": ""}'])
def test_malformed_bodies(body: bytes) -> None:
    from integrations.base import MalformedPayload

    with pytest.raises(MalformedPayload):
        mapping.notification_event(webhooks.load_envelope(body))


# ---------------------------------------------------------------- the webhook endpoint


@pytest.fixture
def connection(httpserver: HTTPServer) -> Connection:
    return make_connection(
        httpserver.url_for("/").rstrip("/"), admins={helpers.JOHAN_EMAIL: helpers.JOHAN_ID}
    )


@pytest.fixture
def deliver(client: Client, connection: Connection, django_capture_on_commit_callbacks, settings):  # type: ignore[no-untyped-def]
    # One attempt per provider call: a failing push is then retried by the outbox, not slept on.
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1

    def post(delivery: Delivery):  # type: ignore[no-untyped-def]
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                connection.webhook_path,
                data=delivery.body,
                content_type="application/json",
                headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
            )

    return post


@pytest.fixture
def johan(db):  # type: ignore[no-untyped-def]
    user = get_user_model().objects.create_user(
        username="johan", email=helpers.JOHAN_EMAIL, first_name="Johan", last_name="Botha"
    )
    for category in Category.values:
        team, _ = ChatTeam.objects.get_or_create(category=category, defaults={"name": category})
        team.members.add(user)
    AgentAvailability.objects.create(user=user, status=AgentAvailability.Status.AVAILABLE)
    return user


def serve_write(server: HTTPServer, path: str, exchange_name: str, *, status: int = 200) -> None:
    body = exchange(exchange_name)["response"]["body"]
    server.expect_request(path, method="POST").respond_with_json(body, status=status)


def test_head_check_answers(client: Client, connection: Connection) -> None:
    assert client.head(connection.webhook_path).status_code == 200


def test_ping_answered_and_stored(deliver, httpserver: HTTPServer) -> None:  # type: ignore[no-untyped-def]
    response = deliver(signed(raw("webhook_ping.json")))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert InboundItem.objects.get().state == InboundItem.State.IGNORED
    assert not Ticket.objects.exists()
    assert httpserver.log == []


def test_redelivery_keyed_by_notification_id(deliver, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    first = raw("webhook_conversation_user_created.json")
    retried = first.replace(b'"delivery_attempts":1', b'"delivery_attempts":2')

    deliver(signed(first))
    again = deliver(signed(retried))

    assert again.json()["status"] == "duplicate"
    assert InboundItem.objects.count() == 1


def test_new_chat_routed_and_assignment_pushed(
    deliver,
    httpserver: HTTPServer,
    johan,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to(helpers.FIXTURE_NOW)
    path = f"/conversations/{CONVERSATION_ID}/parts"
    serve_write(httpserver, path, "outbound_assign.json")

    deliver(signed(raw("webhook_conversation_user_created.json")))

    ticket = Ticket.objects.get(source="intercom", external_id=CONVERSATION_ID)
    assert ticket.assignee_id == johan.pk
    assert ticket.chat.routing == ChatConversation.Routing.ASSIGNED
    ((request, _),) = [entry for entry in httpserver.log if entry[0].path == path]
    assert request.get_json() == {
        "message_type": "assignment",
        "type": "admin",
        "admin_id": helpers.BOT_ADMIN_ID,
        "assignee_id": helpers.JOHAN_ID,
    }
    assert request.headers["Intercom-Version"] == "2.11"
    assert request.headers["Authorization"] == "Bearer ic-access-token-not-real"
    push = ProviderPush.objects.get(kind=ProviderPush.Kind.ASSIGN)
    assert push.state == ProviderPush.State.SENT
    assert push.provider_ref == "28719080102"


def test_closed_chat_gets_transcript(deliver, httpserver: HTTPServer, johan, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    serve_write(httpserver, f"/conversations/{CONVERSATION_ID}/parts", "outbound_assign.json")
    deliver(signed(raw("webhook_conversation_user_created.json")))
    deliver(signed(raw("webhook_conversation_user_replied.json")))
    httpserver.clear_all_handlers()
    helpers.serve_scenario(httpserver, "solved")

    deliver(signed(raw("webhook_conversation_admin_closed.json")))

    ticket = Ticket.objects.get(source="intercom", external_id=CONVERSATION_ID)
    assert ticket.status == Status.SOLVED
    assert ticket.chat.routing == ChatConversation.Routing.CLOSED
    transcript = ChatTranscript.objects.get(ticket=ticket)
    assert transcript.message_count == 4
    document = json.loads(transcript.json_text)
    assert document["ticket"]["conversation_id"] == CONVERSATION_ID
    assert [m["author_role"] for m in document["messages"]] == [
        "customer",
        "customer",
        "agent",
        "agent",
    ]
    assert verify_chain().ok


def test_off_hours_message_sent_once(
    deliver,
    httpserver: HTTPServer,
    johan,
    time_machine,  # type: ignore[no-untyped-def]
) -> None:
    time_machine.move_to(AFTER_HOURS)
    path = f"/conversations/{CONVERSATION_ID}/reply"
    serve_write(httpserver, path, "outbound_reply_comment.json")
    created = json.loads(raw("webhook_conversation_user_created.json"))
    created["data"]["item"]["created_at"] = int(AFTER_HOURS.timestamp())
    body = json.dumps(created).encode()

    deliver(signed(body))
    deliver(signed(raw("webhook_conversation_user_replied.json")))

    ticket = Ticket.objects.get(source="intercom", external_id=CONVERSATION_ID)
    assert ticket.assignee_id is None
    assert ticket.chat.routing == ChatConversation.Routing.OFF_HOURS
    assert ticket.sla_policy == "OH"
    sent = [entry[0] for entry in httpserver.log if entry[0].path == path]
    assert len(sent) == 1
    payload = sent[0].get_json()
    assert payload["admin_id"] == helpers.BOT_ADMIN_ID
    assert payload["message_type"] == "comment"
    assert payload["body"].startswith("<p>Hi Lindiwe, thanks for your message.")
    assert ticket.reference in payload["body"]


def test_echo_of_hub_message_is_bot(deliver, httpserver: HTTPServer, time_machine) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    deliver(signed(raw("webhook_conversation_user_created.json")))
    echo = json.loads(raw("webhook_conversation_admin_replied.json"))
    item = echo["data"]["item"]
    item["statistics"]["count_conversation_parts"] = 1
    item["conversation_parts"]["conversation_parts"][0]["author"] = {
        "id": helpers.BOT_ADMIN_ID,
        "type": "admin",
        "name": "ImpactLink",
        "email": "hub@giving.example.org",
    }

    deliver(signed(json.dumps(echo).encode()))

    ticket = Ticket.objects.get(source="intercom", external_id=CONVERSATION_ID)
    message = ticket.messages.get(external_id="28719061007")
    assert message.author_kind == AuthorKind.BOT
    assert message.direction == Direction.OUTBOUND
    assert ticket.sla_responded_at is None


# ---------------------------------------------------------------- push failures


def queued_assignment(connection: Connection, johan) -> ProviderPush:  # type: ignore[no-untyped-def]
    from tickets import services
    from tickets.inputs import ContactInput, IncomingMessage

    incoming = IncomingMessage(
        source="intercom",
        channel="chat",
        direction="in",
        author_kind="customer",
        contact=ContactInput(name="Kayla Naidoo"),
        sent_at=helpers.FIXTURE_NOW,
        body_text="Memorial gift question",
        external_ticket_id="21546713",
        external_message_id="source:1",
        category_hints=("category:donation_issues",),
    )
    ticket = services.ingest_message(incoming=incoming, actor_label="test").ticket
    conversation = ChatConversation.objects.create(
        ticket=ticket, provider="intercom", external_id="21546713", connection=connection
    )
    return pushes.queue_assignment(conversation=conversation, agent=johan)


def test_push_not_found_not_retried(
    httpserver: HTTPServer, connection, johan, settings, caplog
) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    serve_write(httpserver, "/conversations/21546713/parts", "outbound_error_404.json", status=404)
    push = queued_assignment(connection, johan)

    pushes.send_push(push.pk)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.GAVE_UP
    assert "404" in push.last_error
    assert push.next_attempt_at is None
    assert f"chat push {push.pk} (assign)" in caplog.text


def test_push_rate_limited_retried_later(
    httpserver: HTTPServer, connection, johan, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.PROVIDER_HTTP_MAX_ATTEMPTS = 1
    limited = exchange("api_rate_limited_429.json")["response"]
    httpserver.expect_oneshot_request("/conversations/21546713/parts").respond_with_json(
        limited["body"], status=429, headers={"Retry-After": "120"}
    )
    push = queued_assignment(connection, johan)
    now = datetime(2025, 3, 11, 11, 0, tzinfo=UTC)

    pushes.send_push(push.pk, now=now)

    push.refresh_from_db()
    assert push.state == ProviderPush.State.FAILED
    assert push.next_attempt_at == now + timedelta(seconds=120)
    serve_write(httpserver, "/conversations/21546713/parts", "outbound_assign.json")
    assert pushes.retry_due_pushes(now=now + timedelta(minutes=1)) == 0
    assert pushes.retry_due_pushes(now=now + timedelta(minutes=3)) == 1
    push.refresh_from_db()
    assert push.state == ProviderPush.State.SENT
    assert push.attempts == 2


def test_admin_found_through_api(httpserver: HTTPServer, johan) -> None:  # type: ignore[no-untyped-def]
    # GET /admins as documented (composed): the teammates with their e-mail addresses.
    connection = make_connection(httpserver.url_for("/").rstrip("/"))
    httpserver.expect_request("/admins").respond_with_json(
        {
            "type": "admin.list",
            "admins": [
                {
                    "type": "admin",
                    "id": helpers.JOHAN_ID,
                    "name": "Johan Botha",
                    "email": helpers.JOHAN_EMAIL,
                },
            ],
        }
    )
    adapter = adapter_for(connection)
    assert adapter.admin_id_for("Johan.Botha@giving.example.org") == helpers.JOHAN_ID
    with pytest.raises(Exception, match="No Intercom teammate has the e-mail address"):
        adapter.admin_id_for("nobody@giving.example.org")


# ---------------------------------------------------------------- polling


def test_search_request_and_cursor(
    httpserver: HTTPServer, connection: Connection, time_machine
) -> None:
    time_machine.move_to(helpers.FIXTURE_NOW, tick=False)
    helpers.serve_search(httpserver)
    adapter = adapter_for(connection, sleep=SleepRecorder())
    since = datetime(2025, 3, 11, 8, 0, tzinfo=UTC)

    first = adapter.fetch_changes({}, since=since)
    second = adapter.fetch_changes(first.cursor)

    searches = [
        entry[0].get_json() for entry in httpserver.log if entry[0].path == helpers.SEARCH_PATH
    ]
    assert searches[0]["query"]["value"] == [
        {"field": "updated_at", "operator": ">", "value": int(since.timestamp())}
    ]
    assert searches[0]["pagination"] == {"per_page": 50}
    assert searches[1]["pagination"]["starting_after"] == "WzE3NDE2OTA4MDAwMDAsMjE1NDY3MTI5LDJd"
    assert not first.done
    assert [r.external_id for r in first.records] == ["215467130", "215467129"]
    assert all(not r.complete for r in first.records)
    assert second.done
    started = int(helpers.FIXTURE_NOW.timestamp())
    assert second.cursor == {"updated_after": started - 300}


def test_unreadable_api_answer_fails_for_good(
    deliver, httpserver: HTTPServer, time_machine
) -> None:  # type: ignore[no-untyped-def]
    time_machine.move_to(helpers.FIXTURE_NOW)
    httpserver.expect_request(f"/conversations/{CONVERSATION_ID}").respond_with_json(
        {"type": "conversation", "id": CONVERSATION_ID, "created_at": "yesterday"}
    )

    response = deliver(signed(raw("webhook_conversation_admin_replied.json")))

    assert response.status_code == 202
    item = InboundItem.objects.get()
    assert item.state == InboundItem.State.FAILED
    assert "cannot read" in item.last_error
    assert item.next_attempt_at is None


def test_malformed_body_is_400(deliver) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(
        {"type": "notification_event", "topic": "conversation.user.created", "data": []}
    ).encode()
    response = deliver(signed(body))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed_body"}
    assert not InboundItem.objects.exists()
