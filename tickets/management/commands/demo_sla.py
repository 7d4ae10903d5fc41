"""Give the demo's SLA report and scheduler something to show.

The demo mailbox contains customers' mail only, so every imported ticket would be an unanswered
breach. This step answers about two thirds of them as two demo agents would (some on time,
some late), and opens two help-centre tickets whose timers are at risk at the moment the
demo starts, so the scheduler's next run sends at-risk warnings as well as escalations.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.utils import timezone

from tickets import services
from tickets.inputs import ContactInput, IncomingMessage
from tickets.models import (
    AuthorKind,
    Channel,
    Direction,
    Message,
    SlaState,
    Source,
    Ticket,
)
from tickets.sla import SlaEvent, evaluate_sla
from tickets.sla_calendar import current_calendar, current_sla_settings

AGENTS = (
    ("pieter", "Pieter", "van der Merwe", "pieter@impactlink.org"),
    ("ayanda", "Ayanda", "Dlamini", "ayanda@impactlink.org"),
)
AT_RISK = (
    (
        "Lerato Khumalo",
        "lerato.khumalo@example.org",
        "Monthly donation to Ubuntu Pathways failed",
        "My R150 monthly donation failed on the 1st and the app asks me to re-enter my card.",
    ),
    (
        "Johan Pretorius",
        "johan.pretorius@example.org",
        "Company matching not applied to my donation",
        "Our matching programme should have doubled my R1 000 gift but the receipt shows R1 000.",
    ),
)
# Search window for an at-risk clock start: four days covers a long weekend.
_SEARCH = timedelta(days=4)
_STEP = timedelta(minutes=5)


class Command(BaseCommand):
    help = (
        "Demo only: reply to some imported demo tickets as two demo agents and open two tickets "
        "whose first-response timers are at risk now."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        agents = [_demo_agent(*agent) for agent in AGENTS]
        answered = _answer_demo_mail(agents, now=now)
        opened = _open_at_risk_tickets(now=now)
        self.stdout.write(
            f"SLA demo: {answered} imported ticket(s) answered, {opened} at-risk ticket(s) opened."
        )


def _demo_agent(username: str, first: str, last: str, email: str) -> User:
    user, created = get_user_model().objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": email, "is_staff": True},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _answer_demo_mail(agents: list[User], *, now: datetime) -> int:
    """Reply to two of every three unanswered mail tickets: one on time, one late."""
    tickets = (
        Ticket.objects.filter(
            source=Source.EMAIL,
            sla_state__in=[SlaState.RUNNING, SlaState.BREACHED],
            sla_stopped_at__isnull=True,
        )
        .exclude(messages__direction=Direction.OUTBOUND)
        .order_by("sla_started_at", "id")
    )
    answered = 0
    for index, ticket in enumerate(tickets):
        if index % 3 == 2 or ticket.sla_started_at is None or ticket.sla_due_at is None:
            continue
        on_time = index % 3 == 0
        target = ticket.sla_due_at - ticket.sla_started_at
        if on_time:
            sent_at = ticket.sla_started_at + target * 0.4
        else:
            sent_at = ticket.sla_due_at + timedelta(minutes=47)
        if sent_at >= now:
            continue
        agent = agents[index % len(agents)]
        services.assign_ticket(
            ticket=ticket, assignee=agent, actor=None, reason="demo", actor_label="demo"
        )
        first = Message.objects.filter(ticket=ticket).order_by("sent_at", "id").first()
        services.ingest_message(
            incoming=IncomingMessage(
                source=Source.EMAIL,
                channel=Channel.EMAIL,
                direction=Direction.OUTBOUND,
                author_kind=AuthorKind.AGENT,
                contact=ContactInput(),
                author_name=agent.get_full_name(),  # type: ignore[attr-defined]
                author_email=agent.email,  # type: ignore[attr-defined]
                subject=f"Re: [{ticket.reference}] {ticket.subject}",
                body_text="Thank you for writing to ImpactLink. We are checking this with "
                "our payments team and will update you today.",
                sent_at=sent_at,
                message_id=f"demo-reply-{ticket.pk}@impactlink.org",
                in_reply_to=(first.message_id,) if first and first.message_id else (),
            ),
            actor_label="demo",
        )
        answered += 1
    return answered


def _open_at_risk_tickets(*, now: datetime) -> int:
    start = _at_risk_start(now)
    if start is None:
        return 0
    stamp = now.strftime("%Y%m%d%H")
    for number, (name, email, subject, body) in enumerate(AT_RISK):
        services.ingest_message(
            incoming=IncomingMessage(
                source=Source.WEB,
                channel=Channel.WEB_FORM,
                direction=Direction.INBOUND,
                author_kind=AuthorKind.CUSTOMER,
                contact=ContactInput(name=name, email=email),
                author_name=name,
                author_email=email,
                subject=subject,
                body_text=body,
                sent_at=start - timedelta(minutes=number),
                message_id=f"demo-at-risk-{number}-{stamp}@impactlink.org",
            ),
            actor_label="demo",
        )
    return len(AT_RISK)


def _at_risk_start(now: datetime) -> datetime | None:
    """Return the latest clock start whose warning has passed at `now` and whose due time has not.

    Both demo tickets start within a few minutes of it, so each is between 75% and 100% of its
    target when the demo's scheduler runs, whatever the day and hour.
    """
    calendar, settings = current_calendar(), current_sla_settings()
    candidate = now.replace(second=0, microsecond=0) - _STEP
    while now - candidate < _SEARCH:
        result = evaluate_sla(
            created_at=candidate,
            channel=Channel.WEB_FORM,
            events=[SlaEvent("received", candidate)],
            calendar=calendar,
            settings=settings,
            now=now,
        )
        soon = now + timedelta(minutes=10)
        if result.warning_fired and result.due_at is not None and result.due_at > soon:
            return candidate
        candidate -= _STEP
    return None
