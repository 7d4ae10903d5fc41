"""The behaviour every desk and chat adapter shares, written once.

A provider's test module subclasses DeskContract as `Test<Provider>Contract`, sets the class
attributes and implements the hooks; pytest then runs every test below against that provider.
The provider is faked at the HTTP boundary only: a local pytest-httpserver answers with the
provider's documented shapes, webhooks go through the real URL, and the tests assert on what
was stored and on the requests that reached the fake API.

The scenario is one ticket's life in stages: created, customer_reply, internal_note,
agent_reply, solved. `serve_ticket(stage)` makes the fake API answer as the provider would
after that stage, and `delivery(stage)` is the webhook body the provider sends for it
("unknown" names an event the hub does not use).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from django.test import Client
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations.base import DeskAdapter, ProviderError
from integrations.models import Connection, ExternalTicket, InboundItem
from integrations.registry import adapter_for
from integrations.sync import sync_connection
from tickets.models import AuthorKind, Direction, Message, Ticket

STAGES = ("created", "customer_reply", "internal_note", "agent_reply", "solved")


@dataclass(frozen=True)
class Delivery:
    """A webhook request as the provider sends it: raw body and headers."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "application/json")


@dataclass(frozen=True)
class Expect:
    """What the hub holds for the scenario ticket after a stage."""

    status: str
    inbound: int
    outbound: int = 0
    notes: int = 0


class SleepRecorder:
    """Stands in for time.sleep: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class DeskContract:
    provider: ClassVar[str]
    ticket_id: ClassVar[str]
    expected: ClassVar[dict[str, Expect]]
    # Path the fake API serves for fetch_changes, and the tickets a full poll must open.
    changes_path: ClassVar[str]
    polled_ticket_ids: ClassVar[set[str]]

    # ------------------------------------------------------------ hooks

    def make_connection(self, base_url: str) -> Connection:
        """Create the Connection, with test credentials, whose API lives at base_url."""
        raise NotImplementedError

    def delivery(self, name: str) -> Delivery:
        """The webhook request for a stage, or for "unknown"."""
        raise NotImplementedError

    def forged(self, delivery: Delivery) -> Delivery:
        """The same request with a wrong signature or wrong credentials."""
        raise NotImplementedError

    def serve_ticket(self, server: HTTPServer, stage: str) -> None:
        """Make the fake API answer for the scenario ticket as after stage."""
        raise NotImplementedError

    def serve_changes(self, server: HTTPServer, *, first: list[Response] = ()) -> None:
        """Serve first (one response each, in order) and then the polling pages at
        changes_path, plus every ticket the pages name at its latest stage."""
        raise NotImplementedError

    # ------------------------------------------------------------ fixtures and helpers

    @pytest.fixture
    def connection(self, db: None, httpserver: HTTPServer) -> Connection:
        return self.make_connection(httpserver.url_for("/").rstrip("/"))

    @pytest.fixture
    def deliver(self, client: Client, connection: Connection, django_capture_on_commit_callbacks):
        """Post a Delivery to the connection's URL and run the queued processing."""

        def post(delivery: Delivery):
            with django_capture_on_commit_callbacks(execute=True):
                return client.post(
                    connection.webhook_path,
                    data=delivery.body,
                    content_type=delivery.content_type,
                    headers={k: v for k, v in delivery.headers.items() if k != "Content-Type"},
                )

        return post

    def adapter(self, connection: Connection, sleep: SleepRecorder | None = None) -> DeskAdapter:
        return adapter_for(connection, sleep=sleep or SleepRecorder())

    def ticket(self) -> Ticket:
        return Ticket.objects.get(source=self.provider, external_id=self.ticket_id)

    def assert_stage(self, stage: str) -> None:
        expect = self.expected[stage]
        ticket = self.ticket()
        messages = list(ticket.messages.all())
        inbound = [m for m in messages if m.direction == Direction.INBOUND]
        outbound = [m for m in messages if m.direction == Direction.OUTBOUND and m.is_public]
        notes = [m for m in messages if not m.is_public]
        assert ticket.status == expect.status, stage
        assert len(inbound) == expect.inbound, stage
        assert len(outbound) == expect.outbound, stage
        assert len(notes) == expect.notes, stage
        assert all(m.external_id for m in messages)
        assert len({m.external_id for m in messages}) == len(messages)

    def play(self, deliver, httpserver: HTTPServer, stage: str, *, status: int = 202) -> Any:
        httpserver.clear_all_handlers()
        self.serve_ticket(httpserver, stage)
        response = deliver(self.delivery(stage))
        assert response.status_code == status, response.content
        return response

    # ------------------------------------------------------------ the scenario

    def test_new_ticket(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        response = self.play(deliver, httpserver, "created")

        assert response.json()["status"] == "accepted"
        item = InboundItem.objects.get(pk=response.json()["item"])
        assert item.kind == InboundItem.Kind.WEBHOOK
        assert item.state == InboundItem.State.DONE
        assert item.outcome == "created"
        self.assert_stage("created")
        ticket = self.ticket()
        assert item.ticket_id == ticket.pk
        assert ticket.contact is not None
        assert ticket.contact.identities.filter(kind=self.provider).exists()
        first = ticket.messages.get()
        assert first.author_kind == AuthorKind.CUSTOMER
        assert first.author_contact_id == ticket.contact_id

    def test_customer_reply(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        self.play(deliver, httpserver, "created")
        self.play(deliver, httpserver, "customer_reply")

        assert Ticket.objects.filter(source=self.provider).count() == 1
        self.assert_stage("customer_reply")

    def test_internal_note(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        for stage in ("created", "customer_reply", "internal_note"):
            self.play(deliver, httpserver, stage)

        self.assert_stage("internal_note")
        note = self.ticket().messages.get(is_public=False)
        assert note.author_kind == AuthorKind.AGENT
        assert note.direction == Direction.OUTBOUND

    def test_agent_reply(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        for stage in ("created", "customer_reply", "internal_note", "agent_reply"):
            self.play(deliver, httpserver, stage)

        self.assert_stage("agent_reply")
        reply = self.ticket().messages.get(direction=Direction.OUTBOUND, is_public=True)
        assert reply.author_kind == AuthorKind.AGENT

    def test_status_change(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        for stage in STAGES:
            self.play(deliver, httpserver, stage)

        self.assert_stage("solved")
        assert (
            self.ticket()
            .events.filter(kind="status", new_value=self.expected["solved"].status)
            .exists()
        )

    def test_unknown_event(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        response = deliver(self.delivery("unknown"))

        assert response.status_code == 200
        assert response.json()["status"] == "ignored"
        item = InboundItem.objects.get()
        assert item.state == InboundItem.State.IGNORED
        assert not Ticket.objects.exists()
        assert httpserver.log == []

    def test_forged_delivery(self, deliver, httpserver: HTTPServer, connection: Connection) -> None:
        response = deliver(self.forged(self.delivery("created")))

        assert response.status_code == 401
        assert not InboundItem.objects.exists()
        assert not Ticket.objects.exists()
        connection.refresh_from_db()
        assert connection.webhook_rejection.startswith("401 ")

    def test_duplicate_delivery(
        self, deliver, httpserver: HTTPServer, connection: Connection
    ) -> None:
        self.play(deliver, httpserver, "created")
        again = deliver(self.delivery("created"))

        assert again.status_code == 200
        assert again.json()["status"] == "duplicate"
        assert InboundItem.objects.count() == 1
        self.assert_stage("created")

    def test_out_of_order_delivery(
        self, deliver, httpserver: HTTPServer, connection: Connection
    ) -> None:
        # The reply's webhook arrives first; the late "created" must neither add a message
        # nor roll the status back.
        self.play(deliver, httpserver, "agent_reply")
        self.assert_stage("agent_reply")
        for stage in ("created", "customer_reply"):
            deliver(self.delivery(stage))

        assert Ticket.objects.filter(source=self.provider).count() == 1
        self.assert_stage("agent_reply")

    def test_webhook_then_poll_stores_once(
        self, deliver, httpserver: HTTPServer, connection: Connection
    ) -> None:
        self.play(deliver, httpserver, "created")
        httpserver.clear_all_handlers()
        self.serve_changes(httpserver)

        report = sync_connection(connection, adapter=self.adapter(connection))

        assert report.error == "", report.error
        assert report.done
        opened = set(
            Ticket.objects.filter(source=self.provider).values_list("external_id", flat=True)
        )
        assert opened == self.polled_ticket_ids
        ids = list(
            Message.objects.filter(source=self.provider).values_list("external_id", flat=True)
        )
        assert len(ids) == len(set(ids))

    def test_poll_again_repeats_nothing(
        self, httpserver: HTTPServer, connection: Connection
    ) -> None:
        self.serve_changes(httpserver)
        first = sync_connection(connection, adapter=self.adapter(connection))
        messages = Message.objects.count()
        items = InboundItem.objects.count()
        assert first.applied >= len(self.polled_ticket_ids)
        httpserver.clear_all_handlers()
        self.serve_changes(httpserver)

        second = sync_connection(connection, adapter=self.adapter(connection))

        assert second.error == ""
        assert second.applied == 0
        assert second.fetched == 0
        assert Message.objects.count() == messages
        assert InboundItem.objects.count() == items
        assert ExternalTicket.objects.filter(connection=connection).count() >= len(
            self.polled_ticket_ids
        )

    # ------------------------------------------------------------ provider failures

    def test_rate_limited_waits_retry_after(
        self, httpserver: HTTPServer, connection: Connection
    ) -> None:
        limited = Response("slow down", status=429, headers={"Retry-After": "42"})
        self.serve_changes(httpserver, first=[limited])
        sleep = SleepRecorder()

        page = self.adapter(connection, sleep).fetch_changes({})

        assert sleep.waits[0] == 42.0
        assert page.records
        assert len([r for r in httpserver.log if r[0].path == self.changes_path]) == 2

    def test_server_error_then_success(
        self, httpserver: HTTPServer, connection: Connection
    ) -> None:
        self.serve_changes(httpserver, first=[Response("oops", status=500)])
        sleep = SleepRecorder()

        page = self.adapter(connection, sleep).fetch_changes({})

        assert page.records
        assert len(sleep.waits) == 1
        assert 0 < sleep.waits[0] <= 60

    def test_permanent_auth_failure(self, httpserver: HTTPServer, connection: Connection) -> None:
        denied = Response('{"error": "Couldn\'t authenticate you"}', status=401)
        self.serve_changes(httpserver, first=[denied, denied])
        sleep = SleepRecorder()
        adapter = self.adapter(connection, sleep)

        with pytest.raises(ProviderError) as raised:
            adapter.fetch_changes({})
        report = sync_connection(connection, adapter=self.adapter(connection, sleep))

        assert raised.value.retryable is False
        assert raised.value.status == 401
        assert sleep.waits == []
        assert "401" in report.error
        connection.refresh_from_db()
        assert "401" in connection.last_error
        assert connection.cursor == {}
        assert connection.sync_lease_until is None

    def test_auth_failure_fails_delivery_for_good(
        self, deliver, httpserver: HTTPServer, connection: Connection
    ) -> None:
        httpserver.expect_request(re.compile(r"/.*")).respond_with_response(
            Response("denied", status=401)
        )

        response = deliver(self.delivery("created"))

        assert response.status_code == 202
        item = InboundItem.objects.get()
        assert item.state == InboundItem.State.FAILED
        assert "401" in item.last_error
        assert item.next_attempt_at is None
        assert not Ticket.objects.exists()
