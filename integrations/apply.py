"""Apply provider-neutral records to the queue, through tickets.services only.

Idempotent and order-tolerant. Messages are keyed by the provider's comment id, so a comment
seen by webhook and by polling is stored once. Status, priority and assignee are applied only
from a snapshot at least as new as the last one applied (ExternalTicket.source_updated_at),
so a late delivery never rolls a ticket back. A record that names a ticket the hub does not
hold yet, or carries only an id, is resolved by fetching the ticket through the adapter.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import nh3
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from inscriptis import get_text

from integrations.base import DeskAdapter
from integrations.models import Connection, ExternalTicket
from integrations.types import (
    DELETED,
    CommentRecord,
    ContactRecord,
    Person,
    Record,
    Role,
    StatusRecord,
    TicketRecord,
    TicketRef,
)
from tickets import services
from tickets.inputs import AttachmentInput, ContactInput, IncomingMessage
from tickets.models import AuthorKind, Direction, Message, Status, Ticket, TicketEvent

logger = logging.getLogger(__name__)

_AUTHOR_KINDS = {
    Role.CUSTOMER: AuthorKind.CUSTOMER,
    Role.AGENT: AuthorKind.AGENT,
    Role.BOT: AuthorKind.BOT,
    Role.SYSTEM: AuthorKind.SYSTEM,
}
# Outcomes, most telling first: the one reported for several records is the first present.
_OUTCOME_ORDER = ("created", "updated", "unchanged", "stale", "deleted", "not_found", "no_messages")


@dataclass(frozen=True)
class ApplyResult:
    """outcome: created, updated, unchanged, stale, deleted, not_found or no_messages."""

    outcome: str
    ticket_id: int | None = None
    messages_added: int = 0


def apply_records(
    *, adapter: DeskAdapter, records: tuple[Record, ...] | list[Record]
) -> ApplyResult:
    """Apply records in order; fetches through the adapter when a record is not enough.

    Raises ProviderError or NotConfigured from a fetch; the caller decides about retries.
    """
    results = [apply_record(adapter=adapter, record=record) for record in records]
    if not results:
        return ApplyResult("unchanged")
    outcome = min((r.outcome for r in results), key=_OUTCOME_ORDER.index)
    ticket_id = next((r.ticket_id for r in reversed(results) if r.ticket_id), None)
    return ApplyResult(outcome, ticket_id, sum(r.messages_added for r in results))


def apply_record(*, adapter: DeskAdapter, record: Record) -> ApplyResult:
    source = adapter.source
    if isinstance(record, TicketRecord) and record.complete:
        return apply_ticket(adapter=adapter, record=record)
    if isinstance(record, TicketRecord | TicketRef):
        ticket_id = record.external_id if isinstance(record, TicketRecord) else record.ticket_id
        return _fetch_and_apply(adapter, ticket_id)

    ticket = Ticket.objects.filter(source=source, external_id=record.ticket_id).first()
    if isinstance(record, CommentRecord):
        if ticket is None:
            return _fetch_and_apply(adapter, record.ticket_id)
        return _apply_comment(adapter, ticket, record)
    if ticket is None:
        # Out of order: the ticket's creation has not reached the hub yet.
        return _fetch_and_apply(adapter, record.ticket_id)
    if isinstance(record, StatusRecord):
        return _apply_status(adapter, ticket, record)
    if isinstance(record, ContactRecord):
        return _apply_contact(adapter, ticket, record)
    raise TypeError(f"Unknown record type {type(record).__name__}.")


def _fetch_and_apply(adapter: DeskAdapter, external_id: str) -> ApplyResult:
    fetched = adapter.fetch_ticket(external_id)
    if fetched is None:
        logger.info(
            "%s ticket %s not found in the source; nothing applied", adapter.provider, external_id
        )
        return ApplyResult("not_found")
    return apply_ticket(adapter=adapter, record=fetched)


# ---------------------------------------------------------------- whole tickets


def apply_ticket(*, adapter: DeskAdapter, record: TicketRecord) -> ApplyResult:
    """Add the ticket's new messages, then its status, priority and assignee if fresh.

    Joins the caller's transaction without a savepoint: an error inside leaves the
    caller's atomic block fit only for rollback, which is what process_item does.
    """
    with transaction.atomic(savepoint=False):
        state = _lock_state(adapter.connection, record.external_id)
        ticket = Ticket.objects.filter(
            source=adapter.source, external_id=record.external_id
        ).first()
        if record.deleted:
            return _apply_deletion(adapter, state, ticket, record.updated_at)

        added, opened, ticket = _add_comments(adapter, record, ticket)
        if ticket is None:
            logger.warning(
                "%s ticket %s has no comments; no hub ticket opened",
                adapter.provider,
                record.external_id,
            )
            return ApplyResult("no_messages")

        changed = False
        if _is_fresh(state, record.updated_at):
            # No re-read: the ticket was read after the lock above, and ingest_message and
            # the change_* services keep this copy up to date.
            changed = _apply_fields(adapter, ticket, record)
            state.source_updated_at = _seconds(record.updated_at)
        elif not added:
            _save_state(state, ticket)
            return ApplyResult("stale", ticket.pk)
        _save_state(state, ticket)

    if opened:
        return ApplyResult("created", ticket.pk, added)
    return ApplyResult("updated" if added or changed else "unchanged", ticket.pk, added)


def _add_comments(
    adapter: DeskAdapter, record: TicketRecord, ticket: Ticket | None
) -> tuple[int, bool, Ticket | None]:
    """Ingest the comments the hub lacks, oldest first; return (added, opened, ticket)."""
    comments = sorted(record.comments, key=lambda c: (c.created_at, c.external_id))
    stored = set(
        Message.objects.filter(
            source=adapter.source, external_id__in=[c.external_id for c in comments]
        ).values_list("external_id", flat=True)
    )
    added = 0
    opened = False
    channel = ticket.channel if ticket is not None else record.channel
    for comment in comments:
        if comment.external_id in stored:
            continue
        incoming = _incoming(adapter, comment, record=record, channel=channel)
        result = services.ingest_message(
            incoming=incoming, actor_label=adapter.provider, ticket=ticket
        )
        if result.outcome in ("created", "threaded"):
            added += 1
            opened = opened or result.outcome == "created"
        ticket = result.ticket or ticket
    return added, opened, ticket


def _apply_fields(adapter: DeskAdapter, ticket: Ticket, record: TicketRecord) -> bool:
    label = adapter.provider
    reason = f"{label} shows it at {record.updated_at.isoformat()}"
    changed = False
    if record.status and record.status != ticket.status:
        services.change_status(
            ticket=ticket,
            status=record.status,
            actor=None,
            actor_label=label,
            reason=f"status in {reason}",
            occurred_at=record.updated_at,
        )
        changed = True
    if record.priority and record.priority != ticket.priority:
        services.change_priority(
            ticket=ticket, priority=record.priority, actor=None, reason=f"priority in {reason}"
        )
        changed = True
    assignee = _agent_user(record.assignee)
    if assignee is not None and assignee.pk != ticket.assignee_id:
        services.assign_ticket(
            ticket=ticket,
            assignee=assignee,
            actor=None,
            actor_label=label,
            reason=f"assignee in {reason}",
        )
        changed = True
    return changed


def _agent_user(person: Person | None):  # type: ignore[no-untyped-def]
    # An assignee who is not a hub user leaves the hub's assignment as it is.
    if person is None or not person.email:
        return None
    return get_user_model().objects.filter(email__iexact=person.email, is_active=True).first()


def _apply_deletion(
    adapter: DeskAdapter, state: ExternalTicket, ticket: Ticket | None, occurred_at: datetime
) -> ApplyResult:
    """Close a deleted ticket and keep its history; never open one for it."""
    state.deleted = True
    state.source_updated_at = max(filter(None, [state.source_updated_at, _seconds(occurred_at)]))
    if ticket is not None and ticket.status != Status.CLOSED:
        services.change_status(
            ticket=ticket,
            status=Status.CLOSED,
            actor=None,
            actor_label=adapter.provider,
            reason=f"deleted in {adapter.provider}",
            occurred_at=occurred_at,
        )
        services.record_event(
            ticket,
            kind=TicketEvent.Kind.NOTE,
            actor_label=adapter.provider,
            reason=f"The ticket was deleted in {adapter.provider}; the hub keeps its history.",
            occurred_at=occurred_at,
        )
    _save_state(state, ticket)
    return ApplyResult("deleted", ticket.pk if ticket else None)


# ---------------------------------------------------------------- single events


def _apply_comment(adapter: DeskAdapter, ticket: Ticket, comment: CommentRecord) -> ApplyResult:
    incoming = _incoming(adapter, comment, record=None, channel=ticket.channel)
    result = services.ingest_message(
        incoming=incoming, actor_label=adapter.provider, ticket=ticket
    )
    added = int(result.outcome in ("created", "threaded"))
    return ApplyResult("updated" if added else "unchanged", ticket.pk, added)


def _apply_status(adapter: DeskAdapter, ticket: Ticket, record: StatusRecord) -> ApplyResult:
    with transaction.atomic(savepoint=False):
        state = _lock_state(adapter.connection, record.ticket_id)
        if record.status == DELETED:
            return _apply_deletion(adapter, state, ticket, record.occurred_at)
        if not _is_fresh(state, record.occurred_at):
            return ApplyResult("stale", ticket.pk)
        ticket.refresh_from_db()
        changed = record.status != ticket.status
        if changed:
            services.change_status(
                ticket=ticket,
                status=record.status,
                actor=None,
                actor_label=adapter.provider,
                reason=f"status in {adapter.provider} at {record.occurred_at.isoformat()}",
                occurred_at=record.occurred_at,
            )
        state.source_updated_at = _seconds(record.occurred_at)
        _save_state(state, ticket)
    return ApplyResult("updated" if changed else "unchanged", ticket.pk)


def _apply_contact(adapter: DeskAdapter, ticket: Ticket, record: ContactRecord) -> ApplyResult:
    person = record.person
    identities = ((adapter.provider, person.external_id),) if person.external_id else ()
    services.get_or_create_contact(
        contact=ContactInput(name=person.name, email=person.email, identities=identities)
    )
    return ApplyResult("updated", ticket.pk)


# ---------------------------------------------------------------- mapping to IncomingMessage


def _incoming(
    adapter: DeskAdapter, comment: CommentRecord, *, record: TicketRecord | None, channel: str
) -> IncomingMessage:
    author = comment.author
    is_customer = author.role == Role.CUSTOMER
    # A lone comment on a known ticket names no requester; ingest only needs one to open a ticket.
    requester = author if is_customer else Person()
    if record is not None:
        requester = record.requester
    text = comment.body_text or (get_text(comment.body_html).strip() if comment.body_html else "")
    return IncomingMessage(
        source=adapter.source,
        channel=channel,
        direction=Direction.INBOUND if is_customer else Direction.OUTBOUND,
        author_kind=_AUTHOR_KINDS.get(author.role, AuthorKind.CUSTOMER),
        contact=_contact(adapter, requester),
        sent_at=comment.created_at,
        subject=record.subject if record is not None else "",
        body_text=text,
        body_html=nh3.clean(comment.body_html) if comment.body_html else "",
        is_public=comment.is_public,
        kind=comment.kind,
        author_name=author.name,
        author_email=author.email,
        external_ticket_id=comment.ticket_id,
        external_message_id=comment.external_id,
        attachments=tuple(
            AttachmentInput(
                filename=a.filename, content_type=a.content_type, payload=a.content
            )
            for a in comment.attachments
            if a.content is not None
        ),
        ticket_created_at=record.created_at if record is not None else None,
        ticket_priority=record.priority if record is not None else None,
        tags=record.tags if record is not None else (),
        category_hints=record.category_hints if record is not None else (),
    )


def _contact(adapter: DeskAdapter, person: Person) -> ContactInput:
    identities = ((adapter.provider, person.external_id),) if person.external_id else ()
    return ContactInput(name=person.name, email=person.email, identities=identities)


# ---------------------------------------------------------------- sync state


def _lock_state(connection: Connection, external_id: str) -> ExternalTicket:
    state, _ = ExternalTicket.objects.select_for_update().get_or_create(
        connection=connection, external_id=external_id
    )
    return state


def _save_state(state: ExternalTicket, ticket: Ticket | None) -> None:
    state.ticket = ticket
    state.applied_at = timezone.now()
    state.save()


def _is_fresh(state: ExternalTicket, updated_at: datetime) -> bool:
    return state.source_updated_at is None or _seconds(updated_at) >= state.source_updated_at


def _seconds(value: datetime) -> datetime:
    # Providers stamp tickets to the second but events to the nanosecond; compare whole seconds.
    return value.replace(microsecond=0)
