from __future__ import annotations

import pytest

from chat import routing
from chat.models import ChatConversation, ChatTranscript
from chat.tasks import chat_housekeeping
from tickets.models import Category, Status, Ticket
from tickets.services import change_status

from .conftest import OPEN_HOURS, ticket_of

pytestmark = pytest.mark.django_db


def test_solved_in_hub_gets_transcript(make_agent, open_chat, time_machine):
    time_machine.move_to(OPEN_HOURS)
    make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT)
    routing.route_conversation(conversation=chat, now=OPEN_HOURS)
    change_status(
        ticket=ticket_of(chat), status=Status.SOLVED, actor=None, reason="agent solved it"
    )

    chat_housekeeping()

    chat.refresh_from_db()
    assert chat.routing == ChatConversation.Routing.CLOSED
    transcript = ChatTranscript.objects.get()
    assert transcript.ticket_id == chat.ticket_id
    chat_housekeeping()
    assert ChatTranscript.objects.count() == 1


def test_unlinked_chat_ticket_adopted(make_agent, open_chat, time_machine):
    time_machine.move_to(OPEN_HOURS)
    agent = make_agent("Johan Botha", Category.PAYMENT)
    chat = open_chat(Category.PAYMENT)
    ticket_id = chat.ticket_id
    ChatConversation.objects.filter(pk=chat.pk).delete()

    chat_housekeeping()

    adopted = ChatConversation.objects.get(ticket_id=ticket_id)
    assert adopted.routing == ChatConversation.Routing.ASSIGNED
    assert Ticket.objects.get(pk=ticket_id).assignee_id == agent.pk
