from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tickets import services
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_user(
        "api-agent", "a@impactlink.org", "pw", is_staff=True
    )
    client = Client()
    client.force_login(user)
    return client


def open_ticket(subject: str, hint: str) -> int:
    result = services.ingest_message(
        incoming=IncomingMessage(
            source=Source.EMAIL,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            contact=ContactInput(email="nomsa@example.org"),
            author_email="nomsa@example.org",
            subject=subject,
            body_text="Please help.",
            sent_at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
            message_id=f"{subject}@example.org",
            category_hints=(f"category:{hint}",),
        ),
        actor_label="test",
    )
    assert result.ticket is not None
    return result.ticket.pk


def test_api_lists_and_filters(staff: Client) -> None:
    open_ticket("card-declined", "payment_issues")
    open_ticket("otp-missing", "account_problems")

    everything = staff.get("/api/tickets/").json()
    payments = staff.get("/api/tickets/?category=payment_issues").json()

    assert len(everything["results"]) == 2
    assert [t["subject"] for t in payments["results"]] == ["card-declined"]


def test_api_detail_has_thread(staff: Client) -> None:
    pk = open_ticket("refund", "payment_issues")

    detail = staff.get(f"/api/tickets/{pk}/").json()

    assert detail["reference"] == f"IL-{pk}"
    assert detail["messages"][0]["body_text"] == "Please help."
    assert detail["events"][0]["kind"] == "created"


def test_api_needs_staff(client: Client) -> None:
    assert client.get("/api/tickets/").status_code == 403


def test_schema_lists_ticket_paths(staff: Client) -> None:
    schema = staff.get("/api/schema/").content.decode()

    assert "/api/tickets/{id}/" in schema


def test_schema_lists_filters(staff: Client) -> None:
    schema = staff.get("/api/schema/").content.decode()

    for name in ("status", "category", "source", "channel"):
        assert f"name: {name}" in schema
