"""Reads of the queue that more than one caller needs."""

from __future__ import annotations

from collections.abc import Sequence

from tickets.models import Message, Ticket
from tickets.subjects import clean_subject, find_ticket_token

__all__ = ["clean_subject", "ticket_for_message_ids", "ticket_token"]


def ticket_for_message_ids(message_ids: Sequence[str]) -> Ticket | None:
    """Return the ticket of the newest stored message (inbound or sent) with one of the ids."""
    if not message_ids:
        return None
    found = (
        Message.objects.filter(message_id__in=list(message_ids)[:200])
        .select_related("ticket")
        .order_by("-sent_at", "-id")
        .first()
    )
    return found.ticket if found else None


def ticket_token(subject: str) -> int | None:
    return find_ticket_token(subject)
