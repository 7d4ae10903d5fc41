"""Live chat opening hours: the SLA's business calendar (09:00–18:00 SAST, Monday to Friday,
closed on the dates in the Holiday table: South African public holidays and closures)."""

from __future__ import annotations

from datetime import datetime

from tickets.sla_calendar import current_calendar


def is_chat_open(at: datetime) -> bool:
    """Return whether live chat is staffed at the aware instant `at`."""
    return current_calendar().is_business_instant(at)
