"""Routing: which agent takes a chat, decided from the ticket's category.

Each category has a team. A new chat goes to the team's available agent with the fewest open
chats, as long as that is below the agent's capacity. Otherwise it waits in the team queue,
oldest first, until an agent becomes available or closes a chat. Outside chat hours nothing
is routed, and the visitor gets the off-hours message once.

The decision is two indexed queries: one locks the team's available agents (so two workers
cannot both give an agent their last free slot), one counts their open chats in SQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, F, FilteredRelation, Q
from django.utils import timezone

from chat.hours import is_chat_open
from chat.models import AgentAvailability, ChatConversation, ChatTeam
from tickets import services
from tickets.models import OPEN_STATUSES, Channel, Ticket, TicketEvent

logger = logging.getLogger(__name__)

User = get_user_model()

ROUTING_ACTOR = "chat routing"
# A chat found long after it began (a backfill, a delivery retried for hours) gets no
# off-hours message: the visitor has left, and the message would arrive out of context.
OFF_HOURS_MESSAGE_MAX_AGE = timedelta(hours=1)

# Routing states from which a conversation still waits for an agent.
WAITING_STATES = (
    ChatConversation.Routing.NEW,
    ChatConversation.Routing.WAITING,
    ChatConversation.Routing.OFF_HOURS,
)


@dataclass(frozen=True)
class AgentChoice:
    agent_id: int
    open_chats: int
    capacity: int


@dataclass(frozen=True)
class RoutingDecision:
    """The result of routing one chat: outcome is assigned, already_assigned, queued,
    off_hours or closed."""

    outcome: str
    agent_id: int | None = None
    reason: str = ""


def choose_agent(*, category: str) -> AgentChoice | None:
    """Pick the team's available agent with the fewest open chats below their capacity.

    Ties go to the agent who became available first. Call inside a transaction: on
    PostgreSQL the candidates' availability rows stay locked until it ends.
    """
    candidates = AgentAvailability.objects.filter(
        status=AgentAvailability.Status.AVAILABLE,
        user__is_active=True,
        user__chat_teams__category=category,
    )
    # Both routers lock shared agents in primary key order, so neither waits for a row the
    # other locked after one it holds: the lock order rules out a deadlock between them.
    locked = list(
        candidates.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True)
    )
    if not locked:
        return None

    row = (
        AgentAvailability.objects.filter(pk__in=locked)
        .annotate(
            open_tickets=FilteredRelation(
                "user__assigned_tickets",
                condition=Q(
                    user__assigned_tickets__channel=Channel.CHAT,
                    user__assigned_tickets__status__in=OPEN_STATUSES,
                ),
            )
        )
        .annotate(open_chats=Count("open_tickets"))
        .filter(open_chats__lt=F("capacity"))
        .order_by("open_chats", "changed_at", "pk")
        .values_list("user_id", "open_chats", "capacity")
        .first()
    )
    if row is None:
        return None
    return AgentChoice(agent_id=row[0], open_chats=row[1], capacity=row[2])


def route_conversation(
    *, conversation: ChatConversation, now: datetime | None = None
) -> RoutingDecision:
    """Assign a chat to an agent of its category's team, or queue it, or hold it off-hours.

    Idempotent: a conversation that already has an assignee or is closed is left alone
    apart from its routing state. Pushes the assignment to the provider after commit.
    """
    from chat import pushes

    now = now or timezone.now()
    with transaction.atomic():
        conversation = ChatConversation.objects.select_for_update().get(pk=conversation.pk)
        ticket = Ticket.objects.select_for_update().get(pk=conversation.ticket_id)

        if ticket.status not in OPEN_STATUSES:
            _set_routing(conversation, ChatConversation.Routing.CLOSED, now=now)
            return RoutingDecision("closed", reason=f"ticket is {ticket.status}")
        if ticket.assignee_id is not None:
            _set_routing(conversation, ChatConversation.Routing.ASSIGNED, now=now)
            return RoutingDecision("already_assigned", ticket.assignee_id)

        if not is_chat_open(now):
            if conversation.routing != ChatConversation.Routing.OFF_HOURS:
                _set_routing(conversation, ChatConversation.Routing.OFF_HOURS, now=now)
                services.record_event(
                    ticket,
                    kind=TicketEvent.Kind.NOTE,
                    actor_label=ROUTING_ACTOR,
                    reason="Arrived outside chat hours (09:00–18:00 SAST on working days); "
                    "waits for the next opening.",
                    occurred_at=now,
                )
            if now - conversation.queued_at <= OFF_HOURS_MESSAGE_MAX_AGE:
                pushes.queue_off_hours_message(conversation=conversation)
            return RoutingDecision("off_hours", reason="outside chat hours")

        choice = choose_agent(category=ticket.category)
        if choice is None:
            team = ChatTeam.objects.filter(category=ticket.category).first()
            reason = (
                f"nobody in the {team} team is available with a free slot"
                if team is not None
                else f"no chat team takes {ticket.get_category_display()}"
            )
            if conversation.routing != ChatConversation.Routing.WAITING:
                _set_routing(conversation, ChatConversation.Routing.WAITING, now=now)
                services.record_event(
                    ticket,
                    kind=TicketEvent.Kind.NOTE,
                    actor_label=ROUTING_ACTOR,
                    reason=f"Waiting in the team queue: {reason}.",
                    occurred_at=now,
                )
            return RoutingDecision("queued", reason=reason)

        agent = User.objects.get(pk=choice.agent_id)
        services.assign_ticket(
            ticket=ticket,
            assignee=agent,
            actor=None,
            actor_label=ROUTING_ACTOR,
            reason=(
                f"{ticket.get_category_display()} team, {choice.open_chats} of "
                f"{choice.capacity} open chats before this one"
            ),
        )
        _set_routing(conversation, ChatConversation.Routing.ASSIGNED, now=now)
        pushes.queue_assignment(conversation=conversation, agent=agent)
    logger.info(
        "chat %s (ticket %s) assigned to user %s", conversation.pk, ticket.pk, choice.agent_id
    )
    return RoutingDecision("assigned", choice.agent_id)


def _set_routing(conversation: ChatConversation, routing: str, *, now: datetime) -> None:
    if conversation.routing == routing:
        return
    conversation.routing = routing
    fields = ["routing"]
    if routing == ChatConversation.Routing.ASSIGNED:
        conversation.routed_at = now
        fields.append("routed_at")
    elif routing == ChatConversation.Routing.CLOSED:
        conversation.closed_at = now
        fields.append("closed_at")
    conversation.save(update_fields=fields)


def waiting_conversations(*, category: str | None = None):  # type: ignore[no-untyped-def]
    """Chats waiting for an agent, oldest first."""
    waiting = ChatConversation.objects.filter(
        routing__in=WAITING_STATES, ticket__status__in=OPEN_STATUSES
    )
    if category is not None:
        waiting = waiting.filter(ticket__category=category)
    return waiting.order_by("queued_at", "pk")


def route_waiting(
    *, categories: Iterable[str] | None = None, now: datetime | None = None, limit: int = 500
) -> int:
    """Route waiting chats of the given categories (all when None); return how many got an agent.

    Stops a category at its first chat that finds no agent, since the chats behind it would
    find none either.
    """
    now = now or timezone.now()
    if not is_chat_open(now):
        return 0
    if categories is None:
        categories = list(
            waiting_conversations().values_list("ticket__category", flat=True).distinct()
        )
    assigned = 0
    for category in categories:
        for conversation in waiting_conversations(category=category)[:limit]:
            decision = route_conversation(conversation=conversation, now=now)
            if decision.outcome == "assigned":
                assigned += 1
            elif decision.outcome == "queued":
                break
    return assigned


def categories_of_agent(agent: AbstractBaseUser) -> list[str]:
    return list(ChatTeam.objects.filter(members__pk=agent.pk).values_list("category", flat=True))
