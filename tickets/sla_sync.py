"""Keeps each ticket's stored SLA timer fields in step with its history."""

from __future__ import annotations

from datetime import datetime

from tickets.models import Ticket


def refresh_ticket_sla(ticket: Ticket, *, now: datetime) -> None:
    # TODO: evaluate tickets.sla for the ticket and store the timer fields.
    return None
