from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from chat import canned
from chat.models import CannedResponse
from tickets.models import Category

from .conftest import ticket_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Hi {first_name}, see {ticket_reference}.", []),
        ("Braces {{like this}} are literal.", []),
        ("Hi {firstname}", ["Unknown placeholder {firstname}."]),
        ("Hi {}", ["Placeholders need a name"]),
        ("Hi {0}", ["Placeholders need a name"]),
        ("Hi {first_name!r}", ["Placeholder {first_name!r} has a conversion or format"]),
        ("Hi {first_name:>10}", ["has a conversion or format"]),
        ("Hi {first_name", ["The braces do not match"]),
        ("Hi first_name}", ["The braces do not match"]),
        ("{agent.name}", ["Unknown placeholder {agent.name}."]),
    ],
)
def test_placeholder_errors(body, expected):
    errors = canned.placeholder_errors(body)
    assert len(errors) == len(expected)
    for error, start in zip(errors, expected, strict=True):
        assert start in error


def test_model_validation_rejects_unknown():
    response = CannedResponse(title="Refund", shortcut="refund", body="Dear {customer}")
    with pytest.raises(ValidationError) as caught:
        response.full_clean()
    assert "body" in caught.value.message_dict


def test_render_with_ticket(open_chat, make_agent):
    agent = make_agent("Johan Botha", Category.PAYMENT)
    ticket = ticket_of(open_chat(Category.PAYMENT, name="Lindiwe Nkosi"))
    response = CannedResponse.objects.create(
        title="Refund timeline",
        shortcut="refund-timeline",
        body="Hi {first_name}, {agent_first_name} here about {ticket_reference} ({category}).",
    )

    rendered = canned.use_canned_response(response=response, ticket=ticket, agent=agent)

    assert rendered.text == f"Hi Lindiwe, Johan here about {ticket.reference} (Payment Issues)."
    response.refresh_from_db()
    assert response.usage_count == 1
    assert response.last_used_at is not None


def test_render_without_customer_name(open_chat):
    ticket = ticket_of(open_chat(Category.PAYMENT, name=""))
    values = canned.placeholder_values(ticket=ticket, agent=None)
    assert canned.render_body("Hi {first_name}, {agent_name}", values) == (
        "Hi there, the ImpactLink support team"
    )


def test_stored_bad_body_not_sent(open_chat):
    # A row written without validation (e.g. by a data import) must not reach a customer.
    response = CannedResponse.objects.create(title="Bad", shortcut="bad", body="Hi {nmae}")
    ticket = ticket_of(open_chat())
    with pytest.raises(ValidationError):
        canned.use_canned_response(response=response, ticket=ticket, agent=None)
    response.refresh_from_db()
    assert response.usage_count == 0


def test_category_responses_first():
    CannedResponse.objects.create(title="General", shortcut="general", body="Hi")
    CannedResponse.objects.create(
        title="Payment", shortcut="payment", body="Hi", category=Category.PAYMENT
    )
    CannedResponse.objects.create(
        title="Account", shortcut="account", body="Hi", category=Category.ACCOUNT
    )
    shortcuts = [r.shortcut for r in canned.responses_for(category=Category.PAYMENT)]
    assert shortcuts == ["payment", "general"]


def test_admin_form_shows_error(admin_client):
    response = admin_client.post(
        reverse("admin:chat_cannedresponse_add"),
        {"title": "Greeting", "shortcut": "greeting", "body": "Hi {frist_name}", "category": ""},
    )
    assert response.status_code == 200
    assert "Unknown placeholder {frist_name}" in response.content.decode()
    assert not CannedResponse.objects.exists()


def test_admin_preview_with_ticket(admin_client, open_chat):
    ticket = ticket_of(open_chat(name="Ayesha Patel"))
    response = CannedResponse.objects.create(
        title="Greeting", shortcut="greeting", body="Hi {first_name}, about {ticket_reference}"
    )
    url = reverse("admin:chat_cannedresponse_preview", args=[response.pk])

    page = admin_client.get(url, {"ticket": ticket.reference})

    assert page.status_code == 200
    assert f"Hi Ayesha, about {ticket.reference}" in page.content.decode()
    response.refresh_from_db()
    assert response.usage_count == 0


def test_admin_change_page_preview(admin_client):
    response = CannedResponse.objects.create(
        title="Greeting", shortcut="greeting", body="Hi {first_name}"
    )
    page = admin_client.get(reverse("admin:chat_cannedresponse_change", args=[response.pk]))
    assert "Hi Thandiwe" in page.content.decode()


def test_staff_page_use_counts(admin_client, open_chat):
    ticket = ticket_of(open_chat(name="Ayesha Patel"))
    response = CannedResponse.objects.create(
        title="Greeting", shortcut="greeting", body="Hi {first_name}"
    )

    listed = admin_client.get(reverse("chat:ticket_canned", args=[ticket.pk]))
    assert "Hi Ayesha" in listed.content.decode()
    used = admin_client.post(reverse("chat:use_canned", args=[ticket.pk, response.pk]), follow=True)

    assert "Ready to paste" in used.content.decode()
    response.refresh_from_db()
    assert response.usage_count == 1


def test_staff_page_needs_staff(client, open_chat):
    ticket = ticket_of(open_chat())
    page = client.get(reverse("chat:ticket_canned", args=[ticket.pk]))
    assert page.status_code == 302
