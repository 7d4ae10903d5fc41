"""Every write to the queue. Each change records a TicketEvent saying who made it and why.

Sources call `ingest_message`; agents' admin actions call the `change_*` functions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from tickets import selectors
from tickets.inputs import AttachmentInput, ContactInput, IncomingMessage
from tickets.models import (
    Attachment,
    AuthorKind,
    Category,
    Contact,
    ContactIdentity,
    Direction,
    EscalationLevel,
    Message,
    MessageKind,
    Priority,
    SlaState,
    Status,
    Ticket,
    TicketEvent,
)

if TYPE_CHECKING:
    from tickets.sla_sync import TicketHistory

logger = logging.getLogger(__name__)

UserModel = get_user_model()

# Statuses a customer's new message moves back to "open".
_REOPEN_ON_CUSTOMER_MESSAGE = {Status.PENDING_CUSTOMER, Status.SOLVED, Status.CLOSED}


@dataclass(frozen=True)
class IngestResult:
    """Result of ingest_message; outcome is created, threaded, duplicate or not_threaded."""

    outcome: str
    ticket: Ticket | None
    message: Message | None
    detail: str = ""


# ---------------------------------------------------------------- contacts


def get_or_create_contact(*, contact: ContactInput) -> Contact | None:
    """Find the contact that owns any of the given identities, or create one.

    Identities not yet known are attached to the contact found, so one person writing by
    mail and by chat becomes one contact.
    """
    identities = list(contact.identities)
    email = contact.email.strip().lower()
    if email and ("email", email) not in identities:
        identities.insert(0, ("email", email))
    if not identities:
        return None

    known = list(
        ContactIdentity.objects.select_related("contact").filter(_identity_filter(identities))
    )
    if known:
        person = known[0].contact
    else:
        person = Contact.objects.create(name=contact.name[:200], email=email)

    if contact.name and not person.name:
        Contact.objects.filter(pk=person.pk).update(name=contact.name[:200])
        person.name = contact.name[:200]
    if email and not person.email:
        Contact.objects.filter(pk=person.pk).update(email=email)
        person.email = email

    present = {(i.kind, i.value) for i in known}
    missing = [
        ContactIdentity(contact=person, kind=kind, value=value[:320])
        for kind, value in identities
        if (kind, value) not in present
    ]
    # An identity another process attached first stays with that contact.
    ContactIdentity.objects.bulk_create(missing, ignore_conflicts=True)
    return person


def _identity_filter(identities: list[tuple[str, str]]):  # type: ignore[no-untyped-def]
    from django.db.models import Q

    condition = Q()
    for kind, value in identities:
        condition |= Q(kind=kind, value=value)
    return condition


# ---------------------------------------------------------------- ingest


def content_fingerprint(incoming: IncomingMessage) -> str:
    """Hash of what a person would call the same message: sender, subject and text."""
    digest = hashlib.sha256()
    for part in (
        incoming.author_email.lower(),
        incoming.subject.strip(),
        incoming.body_text.strip(),
    ):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def ingest_message(
    *, incoming: IncomingMessage, actor_label: str, ticket: Ticket | None = None
) -> IngestResult:
    """Store one message in the queue: thread it, or open a ticket, or recognise a duplicate.

    Idempotent: the same provider message id, or the same Message-ID with the same content,
    returns outcome "duplicate" and writes nothing. A reused Message-ID with different
    content is stored as a new message and the reuse is recorded on the ticket.

    ticket, when given, is the caller's current copy of the ticket with
    incoming.external_ticket_id, which spares reading it again; it is updated in place.
    The work joins the caller's transaction without a savepoint of its own, so a caller
    that catches an error from here inside an atomic block can only roll that block back.
    """
    fingerprint = content_fingerprint(incoming)
    with transaction.atomic(savepoint=False):
        if ticket is not None:
            how = "external ticket id"
        else:
            ticket, how = _find_thread(incoming)
        # On a known ticket, the unique constraint on the provider message id finds a
        # duplicate at insert time, which spares a SELECT round trip on every message.
        duplicate, id_reused = _find_duplicate(
            incoming, fingerprint, check_external_id=ticket is None
        )
        if duplicate is not None:
            return IngestResult("duplicate", duplicate.ticket, duplicate, "already stored")

        if ticket is None and not incoming.may_open_ticket:
            return IngestResult("not_threaded", None, None, "may not open a ticket")

        created = ticket is None
        opening_events: list[TicketEvent] = []
        if ticket is None:
            ticket, opening_events = _open_ticket(incoming, actor_label=actor_label)

        if incoming.external_message_id:
            try:
                with transaction.atomic():
                    message = _store_message(ticket, incoming, fingerprint)
            except IntegrityError:
                # Stored before, or by a concurrent worker a moment ago.
                existing = Message.objects.select_related("ticket").get(
                    source=incoming.source, external_id=incoming.external_message_id
                )
                return IngestResult("duplicate", existing.ticket, existing, "already stored")
        else:
            # Without a provider id no unique constraint can fail, so no savepoint is needed.
            message = _store_message(ticket, incoming, fingerprint)

        _after_message(
            ticket,
            message,
            incoming,
            actor_label=actor_label,
            created=created,
            how=how,
            id_reused=id_reused and not created,
            opening_events=opening_events,
        )

    outcome = "created" if created else "threaded"
    return IngestResult(outcome, ticket, message, how)


def _find_duplicate(
    incoming: IncomingMessage, fingerprint: str, *, check_external_id: bool
) -> tuple[Message | None, bool]:
    """Return the stored copy of this message, if any, and whether its Message-ID is taken.

    The same Message-ID with other content is a reuse (a broken mailer, a forged id): the
    message is kept, and the caller records the reuse.
    """
    if incoming.external_message_id and check_external_id:
        found = (
            Message.objects.select_related("ticket")
            .filter(source=incoming.source, external_id=incoming.external_message_id)
            .first()
        )
        if found is not None:
            return found, False
    if not incoming.message_id:
        return None, False
    same_id = list(
        Message.objects.filter(message_id=incoming.message_id).values_list("pk", "content_sha256")[
            :50
        ]
    )
    for pk, content in same_id:
        if content == fingerprint:
            return Message.objects.select_related("ticket").get(pk=pk), True
    return None, bool(same_id)


_HUB_MESSAGE_ID = re.compile(r"^ticket-(\d+)\.msg-\d+@", re.IGNORECASE)


def _find_thread(incoming: IncomingMessage) -> tuple[Ticket | None, str]:
    """Return the ticket a message belongs to, and how it was found."""
    if incoming.external_ticket_id:
        ticket = Ticket.objects.filter(
            source=incoming.source, external_id=incoming.external_ticket_id
        ).first()
        return ticket, "external ticket id" if ticket else ""

    header_ids = [i for i in (*incoming.in_reply_to, *reversed(incoming.references)) if i]
    if header_ids:
        found = selectors.ticket_for_message_ids(header_ids)
        if found is not None:
            return found, "In-Reply-To/References"
        for message_id in header_ids:
            match = _HUB_MESSAGE_ID.match(message_id)
            if match:
                ticket = Ticket.objects.filter(pk=int(match.group(1))).first()
                if ticket is not None:
                    return ticket, "hub Message-ID in References"

    token = selectors.ticket_token(incoming.subject)
    if token is not None:
        ticket = Ticket.objects.filter(pk=token).first()
        if ticket is not None:
            return ticket, f"subject token IL-{token}"
    return None, ""


def _open_ticket(
    incoming: IncomingMessage, *, actor_label: str
) -> tuple[Ticket, list[TicketEvent]]:
    """Create the ticket for a first message; return it with its opening events, unsaved.

    The ticket already counts the message about to be stored, so no update follows.
    """
    now = timezone.now()
    contact = get_or_create_contact(contact=incoming.contact)
    created_at = incoming.ticket_created_at or incoming.sent_at
    decision = decide_category(incoming)
    ticket = Ticket.objects.create(
        source=incoming.source,
        channel=incoming.channel,
        external_id=incoming.external_ticket_id,
        subject=selectors.clean_subject(incoming.subject)[:500],
        category=decision.category,
        category_reason=decision.reason[:2000],
        status=incoming.ticket_status or Status.NEW,
        priority=incoming.ticket_priority or Priority.NORMAL,
        contact=contact,
        tags=list(incoming.tags),
        created_in_source_at=created_at,
        received_at=incoming.received_at or now,
        message_count=1,
        last_message_at=incoming.sent_at,
    )
    events = [
        TicketEvent(
            ticket=ticket,
            kind=TicketEvent.Kind.CREATED,
            actor_label=actor_label[:64],
            new_value=ticket.source,
            reason=f"first message from {incoming.channel}",
            occurred_at=created_at,
        ),
        TicketEvent(
            ticket=ticket,
            kind=TicketEvent.Kind.CATEGORY,
            actor_label="categoriser",
            new_value=ticket.category,
            reason=decision.reason,
            occurred_at=created_at,
        ),
    ]
    return ticket, events


def _store_message(ticket: Ticket, incoming: IncomingMessage, fingerprint: str) -> Message:
    author_user = None
    if incoming.author_kind == AuthorKind.AGENT and incoming.author_email:
        author_user = UserModel.objects.filter(email__iexact=incoming.author_email).first()
    author_contact_id = None
    if incoming.direction == Direction.INBOUND and incoming.author_kind == AuthorKind.CUSTOMER:
        author_contact_id = ticket.contact_id
    message = Message.objects.create(
        ticket=ticket,
        source=incoming.source,
        channel=incoming.channel,
        external_id=incoming.external_message_id,
        direction=incoming.direction,
        is_public=incoming.is_public,
        kind=incoming.kind,
        author_kind=incoming.author_kind,
        author_contact_id=author_contact_id,
        author_user=author_user,
        author_name=incoming.author_name[:200],
        author_email=incoming.author_email[:320],
        subject=incoming.subject[:500],
        body_text=incoming.body_text,
        body_html=incoming.body_html,
        message_id=incoming.message_id[:998],
        in_reply_to=" ".join(incoming.in_reply_to),
        references=" ".join(incoming.references),
        content_sha256=fingerprint,
        sent_at=incoming.sent_at,
        received_at=incoming.received_at or timezone.now(),
    )
    for attachment in incoming.attachments:
        store_attachment(message, attachment)
    return message


def store_attachment(message: Message, attachment: AttachmentInput) -> Attachment:
    """Save an attachment's bytes through Django storage, named by their SHA-256."""
    digest = hashlib.sha256(attachment.payload).hexdigest()
    record = Attachment(
        message=message,
        filename=(attachment.filename or "attachment")[:255],
        content_type=(attachment.content_type or "application/octet-stream")[:255],
        size=len(attachment.payload),
        sha256=digest,
        content_id=attachment.content_id[:255],
        inline=attachment.inline,
    )
    existing = Attachment.objects.filter(sha256=digest).exclude(file="").first()
    if existing is not None:
        # Same bytes already stored: share the file instead of writing a copy.
        record.file.name = existing.file.name
    else:
        record.file.save(digest, ContentFile(attachment.payload), save=False)
    record.save()
    return record


def _after_message(
    ticket: Ticket,
    message: Message,
    incoming: IncomingMessage,
    *,
    actor_label: str,
    created: bool,
    how: str,
    id_reused: bool,
    opening_events: list[TicketEvent],
) -> None:
    if not created:
        updates: dict[str, object] = {"message_count": F("message_count") + 1}
        if ticket.last_message_at is None or message.sent_at > ticket.last_message_at:
            updates["last_message_at"] = message.sent_at
        Ticket.objects.filter(pk=ticket.pk).update(**updates)
        # F() keeps the stored count right under concurrent writers; this copy is for the caller.
        ticket.message_count += 1
        if "last_message_at" in updates:
            ticket.last_message_at = message.sent_at

    message_event = TicketEvent(
        ticket=ticket,
        kind=TicketEvent.Kind.MESSAGE,
        actor_label=actor_label[:64],
        new_value=f"{message.direction}:{message.kind}",
        reason=how or ("new ticket" if created else ""),
        data={"message": message.pk, "public": message.is_public},
        occurred_at=message.sent_at,
    )
    TicketEvent.objects.bulk_create([*opening_events, message_event])
    if id_reused:
        record_event(
            ticket,
            kind=TicketEvent.Kind.NOTE,
            actor_label=actor_label,
            reason=f"Message-ID {incoming.message_id} reused with different content; kept both",
        )

    # change_status refreshes the SLA timer itself.
    if incoming.ticket_status and incoming.ticket_status != ticket.status and not created:
        change_status(
            ticket=ticket,
            status=incoming.ticket_status,
            actor=None,
            actor_label=actor_label,
            reason="status in source",
            occurred_at=message.sent_at,
        )
    elif (
        not created
        and message.direction == Direction.INBOUND
        and message.kind == MessageKind.NORMAL
        and ticket.status in _REOPEN_ON_CUSTOMER_MESSAGE
    ):
        change_status(
            ticket=ticket,
            status=Status.OPEN,
            actor=None,
            actor_label=actor_label,
            reason="customer wrote again",
            occurred_at=message.sent_at,
        )
    elif created and _times_are_aware(ticket, message):
        from tickets.sla_sync import opening_history

        # The ticket's whole history is this message, so it need not be read back.
        refresh_sla(ticket, history=opening_history(ticket, message))
    elif created or not _leaves_timer_unchanged(ticket, message):
        refresh_sla(ticket)


def _times_are_aware(ticket: Ticket, message: Message) -> bool:
    # A naive time is stored as local time, so only the stored copy is certain to match.
    return all(
        timezone.is_aware(value)
        for value in (message.sent_at, ticket.received_at, ticket.created_in_source_at)
    )


def _leaves_timer_unchanged(ticket: Ticket, message: Message) -> bool:
    """Return whether a message on an existing ticket cannot move its first-response timer.

    An inbound message is never a first response. It could only end a pause, and a pause
    exists only while the status is a pause status, a case change_status handles. A ticket
    with no timer yet (opened by an agent) starts one with the customer's first message.
    """
    return (
        message.direction == Direction.INBOUND
        and ticket.sla_state in _TIMER_STATES_WITHOUT_PAUSE
        and ticket.status not in settings.SLA_PAUSE_STATUSES
    )


_TIMER_STATES_WITHOUT_PAUSE = {
    SlaState.RUNNING,
    SlaState.BREACHED,
    SlaState.ACHIEVED,
    SlaState.CANCELLED,
}


# ---------------------------------------------------------------- categorising


@dataclass(frozen=True)
class CategoryDecision:
    category: str
    reason: str


def decide_category(incoming: IncomingMessage) -> CategoryDecision:
    """Pick a category for a new ticket from provider hints, then the text rules."""
    for hint in incoming.category_hints:
        # A form or provider field that names one of our categories outright.
        if hint.startswith("category:") and hint[9:] in Category.values:
            return CategoryDecision(hint[9:], f"chosen by the sender ({Category(hint[9:]).label})")
    from tickets.categorisation.service import categorise_text

    decision = categorise_text(
        channel=incoming.channel,
        subject=incoming.subject,
        body=incoming.body_text,
        from_name=incoming.author_name,
        from_email=incoming.author_email,
        hints=incoming.category_hints,
    )
    return CategoryDecision(decision.category, decision.reason)


# ---------------------------------------------------------------- agent changes


def record_event(
    ticket: Ticket,
    *,
    kind: str,
    actor: User | None = None,
    actor_label: str = "",
    old_value: str = "",
    new_value: str = "",
    reason: str = "",
    data: dict[str, object] | None = None,
    occurred_at: datetime | None = None,
) -> TicketEvent:
    return TicketEvent.objects.create(
        ticket=ticket,
        kind=kind,
        actor=actor,
        actor_label=actor_label[:64] or (actor.get_username() if actor else ""),
        old_value=str(old_value)[:200],
        new_value=str(new_value)[:200],
        reason=reason,
        data=data or {},
        occurred_at=occurred_at or timezone.now(),
    )


def change_category(
    *,
    ticket: Ticket,
    category: str,
    actor: User | None,
    reason: str,
    actor_label: str = "",
) -> Ticket:
    if category not in Category.values:
        raise ValueError(f"Unknown category {category!r}; expected one of {Category.values}.")
    if ticket.category == category:
        return ticket
    old = ticket.category
    ticket.category = category
    ticket.category_reason = reason
    ticket.save(update_fields=["category", "category_reason", "updated_at"])
    record_event(
        ticket,
        kind=TicketEvent.Kind.CATEGORY,
        actor=actor,
        actor_label=actor_label,
        old_value=old,
        new_value=category,
        reason=reason,
    )
    return ticket


def change_status(
    *,
    ticket: Ticket,
    status: str,
    actor: User | None,
    reason: str,
    actor_label: str = "",
    occurred_at: datetime | None = None,
) -> Ticket:
    if status not in Status.values:
        raise ValueError(f"Unknown status {status!r}; expected one of {Status.values}.")
    if ticket.status == status:
        return ticket
    old = ticket.status
    ticket.status = status
    ticket.save(update_fields=["status", "updated_at"])
    record_event(
        ticket,
        kind=TicketEvent.Kind.STATUS,
        actor=actor,
        actor_label=actor_label,
        old_value=old,
        new_value=status,
        reason=reason,
        occurred_at=occurred_at,
    )
    refresh_sla(ticket)
    return ticket


def change_priority(*, ticket: Ticket, priority: str, actor: User | None, reason: str) -> Ticket:
    if priority not in Priority.values:
        raise ValueError(f"Unknown priority {priority!r}; expected one of {Priority.values}.")
    if ticket.priority == priority:
        return ticket
    old = ticket.priority
    ticket.priority = priority
    ticket.save(update_fields=["priority", "updated_at"])
    record_event(
        ticket,
        kind=TicketEvent.Kind.PRIORITY,
        actor=actor,
        old_value=old,
        new_value=priority,
        reason=reason,
    )
    return ticket


def assign_ticket(
    *,
    ticket: Ticket,
    assignee: User | None,
    actor: User | None,
    reason: str,
    actor_label: str = "",
) -> Ticket:
    new_id = assignee.pk if assignee is not None else None
    if ticket.assignee_id == new_id:
        return ticket
    old = ticket.assignee.get_username() if ticket.assignee else ""
    ticket.assignee = assignee  # type: ignore[assignment]
    ticket.save(update_fields=["assignee", "updated_at"])
    record_event(
        ticket,
        kind=TicketEvent.Kind.ASSIGNEE,
        actor=actor,
        actor_label=actor_label,
        old_value=old,
        new_value=assignee.get_username() if assignee else "",
        reason=reason,
    )
    return ticket


def change_escalation_level(
    *,
    ticket: Ticket,
    level: int,
    actor: User | None,
    reason: str,
    actor_label: str = "",
) -> Ticket:
    """Move a ticket to another escalation level (by hand or by the SLA scheduler)."""
    if level not in EscalationLevel.values:
        raise ValueError(f"Escalation level {level!r} is invalid; expected 1 to 4.")
    if not reason.strip():
        raise ValueError("A reason is required to change the escalation level.")
    if ticket.escalation_level == level:
        return ticket
    old = ticket.escalation_level
    ticket.escalation_level = level
    ticket.save(update_fields=["escalation_level", "updated_at"])
    record_event(
        ticket,
        kind=TicketEvent.Kind.ESCALATION,
        actor=actor,
        actor_label=actor_label,
        old_value=f"L{old}",
        new_value=f"L{level}",
        reason=reason,
    )
    return ticket


def refresh_sla(ticket: Ticket, *, history: TicketHistory | None = None) -> None:
    """Recompute the ticket's stored SLA timer from its history, read unless given."""
    from tickets.sla_sync import refresh_ticket_sla

    refresh_ticket_sla(ticket, now=timezone.now(), history=history)
