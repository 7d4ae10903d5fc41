"""Intercom runs the shared adapter contract, with time set inside chat hours."""

from __future__ import annotations

import re

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations.models import Connection, InboundItem
from tests.integrations.contract import Delivery, DeskContract, Expect
from tests.integrations.intercom import helpers
from tickets.models import Status, Ticket

pytestmark = pytest.mark.django_db


def make_connection(base_url: str, **config: object) -> Connection:
    return Connection.objects.create(
        name="intercom-test",
        provider="intercom",
        config={"api_base_url": base_url, "admin_id": helpers.BOT_ADMIN_ID, **config},
        credentials={"access_token": "ic-access-token-not-real", "client_secret": helpers.SECRET},
    )


class TestIntercomContract(DeskContract):
    provider = "intercom"
    ticket_id = helpers.CONVERSATION_ID
    changes_path = helpers.SEARCH_PATH
    polled_ticket_ids = {"215467129", "215467130", "215467101"}
    expected = {
        "created": Expect(Status.NEW, inbound=1),
        "customer_reply": Expect(Status.NEW, inbound=2),
        "internal_note": Expect(Status.NEW, inbound=2, notes=1),
        "agent_reply": Expect(Status.OPEN, inbound=2, outbound=1, notes=1),
        "solved": Expect(Status.SOLVED, inbound=2, outbound=1, notes=1),
    }

    @pytest.fixture(autouse=True)
    def _chat_hours(self, time_machine) -> None:  # type: ignore[no-untyped-def]
        # Routing runs after each delivery; inside chat hours it sends nothing to Intercom.
        time_machine.move_to(helpers.FIXTURE_NOW)

    def make_connection(self, base_url: str) -> Connection:
        return make_connection(base_url)

    def delivery(self, name: str) -> Delivery:
        if name == "internal_note":
            return helpers.signed(helpers.note_body())
        if name == "unknown":
            return helpers.signed(helpers.snoozed_body())
        return helpers.signed(helpers.raw(helpers.STAGE_BODIES[name]))

    def forged(self, delivery: Delivery) -> Delivery:
        return helpers.signed(delivery.body, secret="not-the-client-secret")

    def serve_ticket(self, server: HTTPServer, stage: str) -> None:
        helpers.serve_scenario(server, stage)

    def serve_changes(self, server: HTTPServer, *, first: list[Response] = ()) -> None:  # type: ignore[assignment]
        helpers.serve_search(server, first=first)

    def test_auth_failure_fails_delivery_for_good(
        self,
        deliver,
        httpserver: HTTPServer,
        connection: Connection,  # type: ignore[no-untyped-def]
    ) -> None:
        """Intercom's conversation.user.created carries the whole new conversation, so it
        needs no API call; the failure shows on a reply whose earlier parts must be fetched."""
        httpserver.expect_request(re.compile(r"/.*")).respond_with_response(
            Response("denied", status=401)
        )

        response = deliver(self.delivery("agent_reply"))

        assert response.status_code == 202
        item = InboundItem.objects.get()
        assert item.state == InboundItem.State.FAILED
        assert "401" in item.last_error
        assert item.next_attempt_at is None
        assert not Ticket.objects.exists()
