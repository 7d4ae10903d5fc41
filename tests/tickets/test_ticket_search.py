"""The agents' ticket search and the queue's changelist: what matches, and queries per page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tickets.models import AuthorKind, Contact, Direction, Message, Source, Ticket
from tickets.search import search_tickets

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def make_ticket(subject: str, *, email: str = "", name: str = "", body: str = "") -> Ticket:
    contact = Contact.objects.create(email=email, name=name) if email or name else None
    ticket = Ticket.objects.create(
        source=Source.EMAIL,
        subject=subject,
        contact=contact,
        created_in_source_at=RECEIVED,
        received_at=RECEIVED + timedelta(minutes=Ticket.objects.count()),
    )
    if body:
        Message.objects.create(
            ticket=ticket,
            source=Source.EMAIL,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            body_text=body,
            sent_at=RECEIVED,
        )
    return ticket


def found(term: str) -> set[str]:
    return set(search_tickets(Ticket.objects.all(), term).values_list("subject", flat=True))


@pytest.fixture
def queue() -> None:
    make_ticket("Refund request", email="thandi@example.org", name="Thandi Mokoena")
    make_ticket("Login problem", email="sipho@example.org", body="My card was declined twice.")
    make_ticket("Tax certificate", name="Ubuntu Trust", body="Please send the 18A certificate.")


def test_subject_matches_any_case(queue) -> None:
    assert found("REFUND") == {"Refund request"}


def test_subject_matches_inside_words(queue) -> None:
    assert found("fund") == {"Refund request"}


def test_contact_email_and_name(queue) -> None:
    assert found("sipho@example.org") == {"Login problem"}
    assert found("mokoena") == {"Refund request"}


def test_message_text_matches(queue) -> None:
    assert found("declined") == {"Login problem"}


def test_all_words_must_match(queue) -> None:
    assert found("card twice") == {"Login problem"}
    assert found("card refund") == set()


def test_quoted_phrase_is_one_word(queue) -> None:
    assert found('"tax certificate"') == {"Tax certificate"}


def test_ticket_number_matches(queue) -> None:
    ticket = Ticket.objects.get(subject="Login problem")

    assert found(str(ticket.pk)) == {"Login problem"}


def test_short_word_skips_message_text(queue) -> None:
    assert found("18") == set()


def test_no_match_is_empty(queue) -> None:
    assert found("zzzq") == set()


# ---------------------------------------------------------------- the changelist


@pytest.fixture
def agent_client(settings) -> Client:
    # Admin pages name static files; the manifest exists only after collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    get_user_model().objects.create_superuser("agent", "agent@impactlink.org", "agent-password")
    client = Client()
    client.login(username="agent", password="agent-password")
    return client


def changelist_queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/tickets/ticket/",
        "/admin/tickets/ticket/?status__exact=new",
        "/admin/tickets/ticket/?q=donor",
        "/admin/tickets/ticket/?assignee__isnull=True",
    ],
)
def test_changelist_queries_independent_of_rows(agent_client: Client, url: str) -> None:
    agents = [get_user_model().objects.create_user(f"a{n}", is_staff=True) for n in range(3)]
    for number in range(3):
        make_ticket(f"Question {number} from a donor", email=f"donor{number}@example.org")
    few = changelist_queries(agent_client, url)

    for number in range(3, 40):
        ticket = make_ticket(f"Question {number} from a donor", email=f"donor{number}@example.org")
        Ticket.objects.filter(pk=ticket.pk).update(assignee=agents[number % 3])
    many = changelist_queries(agent_client, url)

    assert many == few


def test_changelist_lists_staff_assignees(agent_client: Client) -> None:
    get_user_model().objects.create_user("customer-login", is_staff=False)
    get_user_model().objects.create_user("lerato", is_staff=True)

    content = agent_client.get("/admin/tickets/ticket/").content.decode()

    assert "lerato" in content
    assert "customer-login" not in content


def test_changelist_search_by_reference(agent_client: Client) -> None:
    ticket = make_ticket("Matching programme question")

    content = agent_client.get(f"/admin/tickets/ticket/?q=IL-{ticket.pk}").content.decode()

    assert "Matching programme question" in content
