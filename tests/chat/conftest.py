"""Builders for chat tests: agents in teams, and chat tickets opened through ingest_message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from itertools import count

import pytest
from django.contrib.auth import get_user_model

from chat.models import AgentAvailability, ChatConversation, ChatTeam
from chat.services import ensure_conversation
from tickets import services
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import AuthorKind, Category, Channel, Direction, Source, Ticket

# Tuesday 11 March 2025, 13:00 SAST: inside chat hours.
OPEN_HOURS = datetime(2025, 3, 11, 11, 0, tzinfo=UTC)
# The same Tuesday at 20:00 SAST: after hours.
AFTER_HOURS = datetime(2025, 3, 11, 18, 0, tzinfo=UTC)

_numbers = count(1)


@pytest.fixture
def make_agent(db) -> Callable[..., object]:  # type: ignore[no-untyped-def]
    def build(
        name: str,
        *categories: str,
        status: str = AgentAvailability.Status.AVAILABLE,
        capacity: int = 3,
    ):  # type: ignore[no-untyped-def]
        first, _, last = name.partition(" ")
        user = get_user_model().objects.create_user(
            username=name.lower().replace(" ", "."),
            email=f"{name.lower().replace(' ', '.')}@impactlink.org",
            first_name=first,
            last_name=last,
            is_staff=True,
        )
        for category in categories:
            team, _ = ChatTeam.objects.get_or_create(
                category=category, defaults={"name": Category(category).label}
            )
            team.members.add(user)
        AgentAvailability.objects.create(user=user, status=status, capacity=capacity)
        return user

    return build


@pytest.fixture
def open_chat(db) -> Callable[..., ChatConversation]:  # type: ignore[no-untyped-def]
    """Open a chat ticket in a category through ingest_message; no routing happens."""

    def build(
        category: str = Category.PAYMENT,
        *,
        sent_at: datetime = OPEN_HOURS,
        text: str = "My card payment failed",
        name: str = "Lindiwe Nkosi",
    ) -> ChatConversation:
        number = next(_numbers)
        incoming = IncomingMessage(
            source=Source.INTERCOM,
            channel=Channel.CHAT,
            direction=Direction.INBOUND,
            author_kind=AuthorKind.CUSTOMER,
            contact=ContactInput(name=name, identities=(("intercom", f"visitor-{number}"),)),
            author_name=name,
            sent_at=sent_at,
            subject=text,
            body_text=text,
            external_ticket_id=f"conv-{number}",
            external_message_id=f"source:{number}",
            category_hints=(f"category:{category}",),
        )
        result = services.ingest_message(incoming=incoming, actor_label="intercom")
        assert result.ticket is not None
        conversation, _ = ensure_conversation(
            ticket=result.ticket, provider="intercom", external_id=f"conv-{number}", connection=None
        )
        return conversation

    return build


def ticket_of(conversation: ChatConversation) -> Ticket:
    return Ticket.objects.get(pk=conversation.ticket_id)


@pytest.fixture(autouse=True)
def _plain_static_files(settings) -> None:  # type: ignore[no-untyped-def]
    # Admin pages name static files; the manifest storage needs collectstatic, tests do not.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
