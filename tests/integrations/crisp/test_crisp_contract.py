"""Crisp runs the shared adapter contract, with time set inside chat hours."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from integrations.models import Connection
from tests.integrations.contract import Delivery, DeskContract, Expect
from tests.integrations.crisp import helpers
from tickets.models import Status

pytestmark = pytest.mark.django_db


def make_connection(base_url: str, **config: object) -> Connection:
    return Connection.objects.create(
        name="crisp-test",
        provider="crisp",
        config={"api_base_url": base_url, "website_id": helpers.WEBSITE_ID, **config},
        credentials={
            "identifier": "crisp-plugin-identifier",
            "key": "crisp-plugin-key-not-real",
            "signing_secret": helpers.SECRET,
        },
    )


class TestCrispContract(DeskContract):
    provider = "crisp"
    ticket_id = helpers.KEY
    changes_path = helpers.LIST_PATH
    polled_ticket_ids = {helpers.KEY}
    expected = {
        "created": Expect(Status.NEW, inbound=1),
        "customer_reply": Expect(Status.NEW, inbound=2),
        "internal_note": Expect(Status.NEW, inbound=2, notes=1),
        "agent_reply": Expect(Status.OPEN, inbound=2, outbound=1, notes=1),
        "solved": Expect(Status.SOLVED, inbound=2, outbound=1, notes=1),
    }

    @pytest.fixture(autouse=True)
    def _fixture_time(self, time_machine) -> None:  # type: ignore[no-untyped-def]
        # The recorded signatures are checked against the clock, and routing runs after each
        # delivery; at the recorded time both work without re-signing.
        time_machine.move_to(helpers.FIXTURE_NOW)

    def make_connection(self, base_url: str) -> Connection:
        return make_connection(base_url)

    def delivery(self, name: str) -> Delivery:
        if name == "internal_note":
            return helpers.signed(helpers.note_body())
        if name == "unknown":
            return helpers.signed(helpers.compose_body())
        return helpers.recorded_delivery(helpers.STAGE_BODIES[name])

    def forged(self, delivery: Delivery) -> Delivery:
        stamp = delivery.headers["X-Crisp-Request-Timestamp"]
        return helpers.signed(delivery.body, secret="not-the-signing-secret", timestamp=stamp)

    def serve_ticket(self, server: HTTPServer, stage: str) -> None:
        helpers.serve_scenario(server, stage)

    def serve_changes(self, server: HTTPServer, *, first: list[Response] = ()) -> None:  # type: ignore[assignment]
        helpers.serve_list(server, first=first)
