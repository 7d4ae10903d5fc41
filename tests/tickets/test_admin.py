from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tickets import services
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Channel, Direction, Source, Status, Ticket, TicketEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent_client() -> Client:
    user = get_user_model().objects.create_superuser("agent", "agent@impactlink.org", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ticket() -> Ticket:
    result = services.ingest_message(
        incoming=IncomingMessage(
            source=Source.EMAIL,
            channel=Channel.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            contact=ContactInput(name="Lerato", email="lerato@example.org"),
            author_email="lerato@example.org",
            subject="Refund for a double EFT",
            body_text="I paid twice.",
            sent_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
            message_id="admin-test@example.org",
            category_hints=("category:payment_issues",),
        ),
        actor_label="test",
    )
    assert result.ticket is not None
    return result.ticket


def change_form_data(ticket: Ticket, **changes: str) -> dict[str, str]:
    data = {
        "category": ticket.category,
        "status": ticket.status,
        "priority": ticket.priority,
        "assignee": "",
        "escalation_level": str(ticket.escalation_level),
        "change_reason": "",
        "_continue": "Save and continue editing",
    }
    data.update(changes)
    return data


def management_forms(client: Client, url: str) -> dict[str, str]:
    """Return the inline formsets' management fields as rendered on the change page."""
    response = client.get(url)
    assert response.status_code == 200
    data: dict[str, str] = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name, field in management.fields.items():
            value = management.initial.get(name, field.initial or "")
            data[f"{management.prefix}-{name}"] = str(value)
        for form in formset.initial_forms:
            data[f"{form.prefix}-id"] = str(form.instance.pk)
            data[f"{form.prefix}-{formset.fk.name}"] = str(formset.instance.pk)
    return data


def test_change_form_saves_status(agent_client: Client, ticket: Ticket) -> None:
    url = f"/admin/tickets/ticket/{ticket.pk}/change/"
    data = management_forms(agent_client, url) | change_form_data(
        ticket, status=Status.OPEN, change_reason="picked up"
    )

    response = agent_client.post(url, data)

    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    event = ticket.events.filter(kind=TicketEvent.Kind.STATUS).get()
    assert event.reason == "picked up"
    assert event.actor is not None


def test_change_form_level_needs_reason(agent_client: Client, ticket: Ticket) -> None:
    url = f"/admin/tickets/ticket/{ticket.pk}/change/"
    data = management_forms(agent_client, url) | change_form_data(ticket, escalation_level="2")

    response = agent_client.post(url, data)

    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.escalation_level == 1


def test_queue_list_renders(agent_client: Client, ticket: Ticket) -> None:
    response = agent_client.get("/admin/tickets/ticket/?q=IL-" + str(ticket.pk))

    assert response.status_code == 200
    assert ticket.subject in response.content.decode()


def test_tickets_cannot_be_deleted(agent_client: Client, ticket: Ticket) -> None:
    response = agent_client.get(f"/admin/tickets/ticket/{ticket.pk}/delete/")

    assert response.status_code == 403
