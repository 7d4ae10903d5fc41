"""Chat writes around a ticket: following a conversation's life, agents' availability.

The chat providers' processors call `sync_conversation` after the provider's data for a
ticket was applied (tickets.services did the queue writes). Admin actions and the staff page
call `set_availability`; the housekeeping task calls `close_finished_conversations`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from chat import routing
from chat.models import AgentAvailability, ChatConversation
from integrations.models import Connection
from tickets import services
from tickets.models import Source, Status, Ticket, TicketEvent

logger = logging.getLogger(__name__)

FINISHED_STATUSES = (Status.SOLVED, Status.CLOSED)
CHAT_SOURCES = (Source.INTERCOM, Source.CRISP)


def ensure_conversation(
    *, ticket: Ticket, provider: str, external_id: str, connection: Connection | None
) -> tuple[ChatConversation, bool]:
    """Return the chat record of a ticket, creating it on the conversation's first message."""
    conversation, created = ChatConversation.objects.get_or_create(
        ticket=ticket,
        defaults={
            "provider": provider,
            "external_id": external_id,
            "connection": connection,
            "queued_at": ticket.created_in_source_at,
        },
    )
    return conversation, created


def sync_conversation(
    *, ticket: Ticket, connection: Connection | None, now: datetime | None = None
) -> ChatConversation:
    """Bring a chat in line with its ticket after the provider's data was applied.

    A conversation seen for the first time is routed. A solved, closed or deleted one is
    closed and gets its transcript. A closed one the customer reopened goes back in line.
    The decision reads stored state only, so calling it again for a redelivery changes nothing.
    The ticket must be freshly read; its chat record is used when it was loaded with it.
    """
    now = now or timezone.now()
    provider = connection.provider if connection else ticket.source
    try:
        conversation: ChatConversation = ticket.chat  # type: ignore[attr-defined]
        created = False
    except ChatConversation.DoesNotExist:
        conversation, created = ensure_conversation(
            ticket=ticket, provider=provider, external_id=ticket.external_id, connection=connection
        )

    if ticket.status in FINISHED_STATUSES:
        # The provider's deletion closes the ticket, so only a finished ticket can be deleted.
        if connection is not None and _deleted_at_provider(connection, ticket):
            if conversation.deleted_at is None:
                conversation_deleted(
                    conversation=conversation,
                    deleted_at=_closed_at(ticket, now),
                    actor_label=provider,
                )
            return conversation
        if conversation.routing != ChatConversation.Routing.CLOSED or created:
            conversation_closed(
                conversation=conversation, closed_at=_closed_at(ticket, now), actor_label=provider
            )
        return conversation
    if conversation.routing == ChatConversation.Routing.CLOSED:
        _reopen(conversation, ticket, now=now)
    elif conversation.routing == ChatConversation.Routing.NEW:
        routing.route_conversation(conversation=conversation, now=now)
    return conversation


def sync_would_change(ticket: Ticket) -> bool:
    """Return whether sync_conversation has anything to do for a ticket read with its chat.

    False only for an unfinished ticket whose chat is already queued or assigned, the case
    of most replies; the conditions mirror sync_conversation's branches.
    """
    try:
        conversation: ChatConversation = ticket.chat  # type: ignore[attr-defined]
    except ChatConversation.DoesNotExist:
        return True
    if ticket.status in FINISHED_STATUSES:
        return True
    return conversation.routing in (ChatConversation.Routing.CLOSED, ChatConversation.Routing.NEW)


def _deleted_at_provider(connection: Connection, ticket: Ticket) -> bool:
    from integrations.models import ExternalTicket

    return ExternalTicket.objects.filter(
        connection=connection, external_id=ticket.external_id, deleted=True
    ).exists()


def _closed_at(ticket: Ticket, now: datetime) -> datetime:
    """When the ticket got its current status: the latest status change, else now."""
    changed = (
        TicketEvent.objects.filter(ticket=ticket, kind=TicketEvent.Kind.STATUS)
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", flat=True)
        .first()
    )
    return changed or now


def _reopen(conversation: ChatConversation, ticket: Ticket, *, now: datetime) -> None:
    conversation.closed_at = None
    conversation.queued_at = now
    conversation.routing = ChatConversation.Routing.WAITING
    conversation.save(update_fields=["closed_at", "queued_at", "routing"])
    services.record_event(
        ticket,
        kind=TicketEvent.Kind.NOTE,
        actor_label=routing.ROUTING_ACTOR,
        reason="Chat reopened by the customer.",
        occurred_at=now,
    )
    routing.route_conversation(conversation=conversation, now=now)


def conversation_closed(
    *, conversation: ChatConversation, closed_at: datetime, actor_label: str
) -> None:
    """Mark a chat closed, write its transcript and let its agent's teams route waiting chats.

    The ticket's status is the caller's to set (it comes from the provider's data).
    """
    from chat.transcripts import write_transcript

    conversation = ChatConversation.objects.select_related("ticket").get(pk=conversation.pk)
    ticket = conversation.ticket
    if conversation.routing != ChatConversation.Routing.CLOSED:
        conversation.routing = ChatConversation.Routing.CLOSED
        conversation.closed_at = closed_at
        conversation.save(update_fields=["routing", "closed_at"])
    write_transcript(ticket=ticket, closed_at=closed_at)
    if ticket.assignee_id is not None:
        categories = routing.categories_of_agent(ticket.assignee)  # type: ignore[arg-type]
        schedule_routing(categories)
    logger.info("chat %s (ticket %s) closed by %s", conversation.pk, ticket.pk, actor_label)


def conversation_deleted(
    *, conversation: ChatConversation, deleted_at: datetime, actor_label: str
) -> None:
    """Record that the provider deleted the conversation; the ticket and its history stay.

    The ticket was closed by the code that applied the deletion; this closes the chat side.
    """
    conversation = ChatConversation.objects.select_related("ticket").get(pk=conversation.pk)
    if conversation.deleted_at is None:
        conversation.deleted_at = deleted_at
        conversation.save(update_fields=["deleted_at"])
    conversation_closed(conversation=conversation, closed_at=deleted_at, actor_label=actor_label)


def schedule_routing(categories: Iterable[str]) -> None:
    """Route the given categories' waiting chats once the current transaction commits."""
    from chat.tasks import route_waiting_chats

    wanted = sorted(set(categories))
    if wanted:
        transaction.on_commit(lambda: route_waiting_chats.delay(wanted))


def set_availability(
    *, agent: AbstractBaseUser, status: str, capacity: int | None = None
) -> AgentAvailability:
    """Set an agent available or away; an agent who becomes available takes waiting chats."""
    if status not in AgentAvailability.Status.values:
        raise ValueError(
            f"Status {status!r} is invalid; expected one of {AgentAvailability.Status.values}."
        )
    if capacity is not None and not 1 <= capacity <= 50:
        raise ValueError(f"Capacity {capacity} is invalid; expected 1 to 50 open chats.")
    with transaction.atomic():
        availability, _ = AgentAvailability.objects.select_for_update().get_or_create(user=agent)
        became_available = (
            status == AgentAvailability.Status.AVAILABLE and availability.status != status
        )
        fields = []
        if availability.status != status:
            availability.status = status
            availability.changed_at = timezone.now()
            fields += ["status", "changed_at"]
        if capacity is not None and capacity != availability.capacity:
            availability.capacity = capacity
            fields.append("capacity")
        if fields:
            availability.save(update_fields=fields)
    # Routing runs after the update has committed, so this agent's row lock is not held while
    # routers lock their own conversations.
    if became_available or (capacity is not None and "capacity" in fields):
        routing.route_waiting(categories=routing.categories_of_agent(agent))
    logger.info("agent %s set %s (capacity %s)", agent.pk, status, availability.capacity)
    return availability


def close_finished_conversations(*, now: datetime | None = None, limit: int = 200) -> int:
    """Close chats whose ticket an agent solved in the hub, and write missing transcripts.

    A transcript is missing when writing it failed at the close. Returns how many chats
    were handled."""
    from django.db.models import Exists, Max, OuterRef, Subquery

    from chat.models import ChatTranscript
    from tickets.models import Message

    now = now or timezone.now()
    newest_message = (
        Message.objects.filter(ticket=OuterRef("ticket"))
        .order_by()
        .values("ticket")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    covered = ChatTranscript.objects.filter(
        ticket=OuterRef("ticket"), last_message_id=Subquery(newest_message)
    )
    pending = (
        ChatConversation.objects.filter(
            ticket__status__in=FINISHED_STATUSES, ticket__updated_at__gte=now - timedelta(days=7)
        )
        .annotate(covered=Exists(covered))
        .filter(covered=False)
        .select_related("ticket")
        .order_by("pk")[:limit]
    )
    handled = 0
    for conversation in pending:
        closed_at = conversation.closed_at or _closed_at(conversation.ticket, now)
        with transaction.atomic():
            conversation_closed(
                conversation=conversation, closed_at=closed_at, actor_label="chat housekeeping"
            )
        handled += 1
    return handled


def adopt_unlinked_chats(*, now: datetime | None = None, limit: int = 200) -> int:
    """Run the chat steps for recent chat tickets that have no chat record yet.

    That happens when the steps failed after the messages were stored. Returns how many
    tickets were handled."""
    from integrations.models import ExternalTicket

    now = now or timezone.now()
    unlinked = (
        Ticket.objects.select_related("chat")
        .filter(
            source__in=CHAT_SOURCES,
            chat__isnull=True,
            received_at__gte=now - timedelta(days=7),
        )
        .order_by("pk")[:limit]
    )
    handled = 0
    for ticket in unlinked:
        link = (
            ExternalTicket.objects.select_related("connection")
            .filter(ticket=ticket, connection__provider=ticket.source)
            .first()
        )
        with transaction.atomic():
            sync_conversation(ticket=ticket, connection=link.connection if link else None, now=now)
        handled += 1
    return handled
