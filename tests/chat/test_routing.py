from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from chat import routing, services
from chat.models import AgentAvailability, ChatConversation, ProviderPush
from tickets.models import Category, Status, TicketEvent
from tickets.sla_calendar import seed_south_african_holidays

from .conftest import AFTER_HOURS, OPEN_HOURS, ticket_of

pytestmark = pytest.mark.django_db


def test_assigns_agent_with_fewest_open_chats(make_agent, open_chat):
    busy = make_agent("Johan Botha", Category.PAYMENT)
    idle = make_agent("Nomvula Sithole", Category.PAYMENT)
    first = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=first, now=OPEN_HOURS)
    assert ticket_of(first).assignee_id == busy.pk  # tie: the first to become available

    second = open_chat(Category.PAYMENT)
    decision = routing.route_conversation(conversation=second, now=OPEN_HOURS)

    assert decision.outcome == "assigned"
    assert decision.agent_id == idle.pk
    assert ticket_of(second).assignee_id == idle.pk
    second.refresh_from_db()
    assert second.routing == ChatConversation.Routing.ASSIGNED
    assert second.routed_at == OPEN_HOURS


def test_assignment_recorded_as_ticket_event(make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    event = TicketEvent.objects.get(ticket_id=chat.ticket_id, kind=TicketEvent.Kind.ASSIGNEE)
    assert event.new_value == agent.get_username()
    assert event.actor_label == routing.ROUTING_ACTOR
    assert "Payment Issues team, 0 of 3 open chats" in event.reason


def test_only_team_of_the_category(make_agent, open_chat):
    make_agent("Anele Khumalo", Category.ACCOUNT)
    donation_agent = make_agent("Pieter Merwe", Category.DONATION)
    chat = open_chat(Category.DONATION)
    decision = routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    assert decision.agent_id == donation_agent.pk


def test_skips_away_and_full_agents(make_agent, open_chat):
    make_agent("Away Agent", Category.PAYMENT, status=AgentAvailability.Status.AWAY)
    full = make_agent("Full Agent", Category.PAYMENT, capacity=1)
    free = make_agent("Free Agent", Category.PAYMENT, capacity=2)
    routing.route_conversation(conversation=open_chat(Category.PAYMENT), now=OPEN_HOURS)
    routing.route_conversation(conversation=open_chat(Category.PAYMENT), now=OPEN_HOURS)
    # Full Agent has one chat (capacity 1), Free Agent one of two.
    third = open_chat(Category.PAYMENT)
    decision = routing.route_conversation(conversation=third, now=OPEN_HOURS)
    assert decision.agent_id == free.pk
    assert ticket_of(third).assignee_id != full.pk


def test_closed_chats_do_not_count(make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT, capacity=1)
    first = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=first, now=OPEN_HOURS)
    services_ticket = ticket_of(first)
    from tickets.services import change_status

    change_status(ticket=services_ticket, status=Status.SOLVED, actor=None, reason="done")
    second = open_chat(Category.PAYMENT)
    decision = routing.route_conversation(conversation=second, now=OPEN_HOURS)
    assert decision.agent_id == agent.pk


def test_queues_when_nobody_free(make_agent, open_chat):
    make_agent("Johan Botha", Category.PAYMENT, capacity=1)
    routing.route_conversation(conversation=open_chat(Category.PAYMENT), now=OPEN_HOURS)
    waiting = open_chat(Category.PAYMENT)

    decision = routing.route_conversation(conversation=waiting, now=OPEN_HOURS)

    assert decision.outcome == "queued"
    assert ticket_of(waiting).assignee_id is None
    waiting.refresh_from_db()
    assert waiting.routing == ChatConversation.Routing.WAITING
    note = TicketEvent.objects.get(ticket_id=waiting.ticket_id, kind=TicketEvent.Kind.NOTE)
    assert "Waiting in the team queue" in note.reason


def test_queue_without_team(open_chat):
    chat = open_chat(Category.CHARITY)
    decision = routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    assert decision.outcome == "queued"
    assert "no chat team takes Charity Questions" in decision.reason


def test_agent_becoming_available_takes_oldest(make_agent, open_chat, time_machine):
    time_machine.move_to(OPEN_HOURS, tick=False)
    agent = make_agent("Johan Botha", Category.PAYMENT, status=AgentAvailability.Status.AWAY)
    older = open_chat(Category.PAYMENT, sent_at=OPEN_HOURS - timedelta(minutes=5))
    newer = open_chat(Category.PAYMENT, sent_at=OPEN_HOURS - timedelta(minutes=1))
    for chat in (newer, older):
        routing.route_conversation(conversation=chat, now=OPEN_HOURS)

    services.set_availability(agent=agent, status=AgentAvailability.Status.AVAILABLE, capacity=1)

    assert ticket_of(older).assignee_id == agent.pk
    assert ticket_of(newer).assignee_id is None


def test_closing_chat_frees_agent(
    make_agent, open_chat, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(OPEN_HOURS, tick=False)
    agent = make_agent("Johan Botha", Category.PAYMENT, capacity=1)
    first = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=first, now=OPEN_HOURS)
    waiting = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=waiting, now=OPEN_HOURS)
    assert ticket_of(waiting).assignee_id is None

    from tickets.services import change_status

    change_status(ticket=ticket_of(first), status=Status.SOLVED, actor=None, reason="done")
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_closed(conversation=first, closed_at=OPEN_HOURS, actor_label="test")

    assert ticket_of(waiting).assignee_id == agent.pk


def test_off_hours_not_routed(make_agent, open_chat):
    make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT, sent_at=AFTER_HOURS)

    decision = routing.route_conversation(conversation=chat, now=AFTER_HOURS)

    assert decision.outcome == "off_hours"
    assert ticket_of(chat).assignee_id is None
    chat.refresh_from_db()
    assert chat.routing == ChatConversation.Routing.OFF_HOURS


def test_off_hours_message_once(make_agent, open_chat):
    chat = open_chat(Category.PAYMENT, sent_at=AFTER_HOURS, name="Ayesha Patel")
    routing.route_conversation(conversation=chat, now=AFTER_HOURS)
    routing.route_conversation(conversation=chat, now=AFTER_HOURS + timedelta(minutes=5))

    pushes = ProviderPush.objects.filter(
        conversation=chat, kind=ProviderPush.Kind.OFF_HOURS_MESSAGE
    )
    assert pushes.count() == 1
    text = pushes.get().payload["text"]
    assert text.startswith("Hi Ayesha,")
    assert ticket_of(chat).reference in text
    notes = TicketEvent.objects.filter(ticket_id=chat.ticket_id, kind=TicketEvent.Kind.NOTE)
    assert notes.count() == 1


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2025, 3, 21, 9, 0, tzinfo=UTC),  # Human Rights Day, a Friday, 11:00 SAST
        datetime(2025, 3, 15, 9, 0, tzinfo=UTC),  # Saturday 11:00 SAST
        datetime(2025, 3, 11, 6, 59, tzinfo=UTC),  # Tuesday 08:59 SAST
        datetime(2025, 3, 11, 16, 0, tzinfo=UTC),  # Tuesday 18:00 SAST, closing time
    ],
)
def test_closed_times(make_agent, open_chat, instant, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        seed_south_african_holidays(years=[2025])
    make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT, sent_at=instant)
    assert routing.route_conversation(conversation=chat, now=instant).outcome == "off_hours"


def test_off_hours_chat_routed_at_opening(make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT, sent_at=AFTER_HOURS)
    routing.route_conversation(conversation=chat, now=AFTER_HOURS)

    assert routing.route_waiting(now=AFTER_HOURS + timedelta(hours=1)) == 0
    wednesday_opening = datetime(2025, 3, 12, 7, 0, tzinfo=UTC)
    assert routing.route_waiting(now=wednesday_opening) == 1
    assert ticket_of(chat).assignee_id == agent.pk


def test_already_assigned_left_alone(make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT)
    other = make_agent("Nomvula Sithole", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT)
    from tickets.services import assign_ticket

    assign_ticket(ticket=ticket_of(chat), assignee=other, actor=None, reason="by hand")
    decision = routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    assert decision.outcome == "already_assigned"
    assert ticket_of(chat).assignee_id == other.pk
    assert not ProviderPush.objects.filter(payload__agent_id=agent.pk).exists()


def test_assignment_push_queued(make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    push = ProviderPush.objects.get(conversation=chat)
    assert push.kind == ProviderPush.Kind.ASSIGN
    assert push.payload == {
        "agent_id": agent.pk,
        "agent_email": "johan.botha@impactlink.org",
        "agent_name": "Johan Botha",
    }
    assert push.state == ProviderPush.State.PENDING


def test_decision_is_two_queries(make_agent, open_chat, django_assert_max_num_queries):
    for number in range(5):
        make_agent(f"Agent {number}", Category.PAYMENT)
    open_chat(Category.PAYMENT)
    with django_assert_max_num_queries(2):
        choice = routing.choose_agent(category=Category.PAYMENT)
    assert choice is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_routing_respects_capacity(requires_postgres, make_agent, open_chat):
    agent = make_agent("Johan Botha", Category.PAYMENT, capacity=1)
    chats = [open_chat(Category.PAYMENT) for _ in range(4)]
    barrier = threading.Barrier(len(chats))
    outcomes: list[str] = []

    def route(chat: ChatConversation) -> None:
        try:
            barrier.wait()
            outcomes.append(routing.route_conversation(conversation=chat, now=OPEN_HOURS).outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=route, args=(chat,)) for chat in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["assigned", "queued", "queued", "queued"]
    assigned = [c for c in chats if ticket_of(c).assignee_id == agent.pk]
    assert len(assigned) == 1


def test_off_hours_chat_gets_off_hours_sla(open_chat):
    after_hours = ticket_of(open_chat(Category.PAYMENT, sent_at=AFTER_HOURS))
    in_hours = ticket_of(open_chat(Category.PAYMENT, sent_at=OPEN_HOURS))
    assert after_hours.sla_policy == "OH"
    assert after_hours.sla_due_at == AFTER_HOURS + timedelta(hours=24)
    assert in_hours.sla_policy == "BH"
    assert in_hours.sla_due_at == OPEN_HOURS + timedelta(hours=2)
