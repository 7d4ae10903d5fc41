from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from chat.models import AgentAvailability, ChatConversation, ChatTeam, ProviderPush
from chat.transcripts import verify_chain
from tickets.models import Category, Ticket

from .conftest import OPEN_HOURS

pytestmark = pytest.mark.django_db

# Saturday 15 March 2025, 10:00 SAST: chat is closed.
WEEKEND = datetime(2025, 3, 15, 8, 0, tzinfo=UTC)


def assert_routed_by_category() -> None:
    open_chats = Ticket.objects.filter(chat__routing=ChatConversation.Routing.ASSIGNED)
    assert open_chats.count() == 6
    for ticket in open_chats:
        team = ChatTeam.objects.get(category=ticket.category)
        assert team.members.filter(pk=ticket.assignee_id).exists(), ticket.reference


def test_demo_routes_chats_in_hours(time_machine, capsys):
    time_machine.move_to(OPEN_HOURS)
    call_command("demo_chat")

    assert_routed_by_category()
    report = verify_chain()
    assert report.ok
    assert report.checked == 3
    assert not ProviderPush.objects.exists()  # demo connections are disabled
    call_command("demo_chat")
    assert "already loaded" in capsys.readouterr().out
    assert Ticket.objects.count() == 9


def test_demo_routes_as_at_last_opening(time_machine, capsys):
    time_machine.move_to(WEEKEND)
    call_command("demo_chat")

    assert "routed as at Friday 14 March 17:45 SAST" in capsys.readouterr().out
    assert_routed_by_category()


def test_availability_page_sets_status(
    admin_client, admin_user, make_agent, open_chat, time_machine
):
    time_machine.move_to(OPEN_HOURS)
    ChatTeam.objects.create(category=Category.PAYMENT, name="Payments").members.add(admin_user)
    chat = open_chat(Category.PAYMENT)
    from chat.routing import route_conversation

    route_conversation(conversation=chat, now=OPEN_HOURS)

    page = admin_client.get(reverse("chat:availability"))
    assert "Payments: 1 chat(s) waiting" in page.content.decode()
    saved = admin_client.post(
        reverse("chat:availability"), {"status": "available", "capacity": "2"}, follow=True
    )

    assert "Your chat availability is saved." in saved.content.decode()
    availability = AgentAvailability.objects.get(user=admin_user)
    assert (availability.status, availability.capacity) == ("available", 2)
    assert Ticket.objects.get(pk=chat.ticket_id).assignee_id == admin_user.pk


def test_availability_page_rejects_bad_capacity(admin_client, admin_user):
    response = admin_client.post(
        reverse("chat:availability"), {"status": "available", "capacity": "0"}
    )
    assert response.status_code == 200
    assert not AgentAvailability.objects.filter(user=admin_user).exists()


def test_admin_actions_set_availability(admin_client, make_agent):
    agent = make_agent("Sipho Ndlovu", Category.TECHNICAL, status=AgentAvailability.Status.AWAY)
    availability = AgentAvailability.objects.get(user=agent)
    admin_client.post(
        reverse("admin:chat_agentavailability_changelist"),
        {"action": "make_available", "_selected_action": [availability.pk]},
    )
    availability.refresh_from_db()
    assert availability.status == AgentAvailability.Status.AVAILABLE


def test_ticket_page_shows_chat_panel(admin_client, open_chat):
    chat = open_chat(Category.PAYMENT)
    page = admin_client.get(reverse("admin:tickets_ticket_change", args=[chat.ticket_id]))
    assert reverse("chat:ticket_canned", args=[chat.ticket_id]) in page.content.decode()
