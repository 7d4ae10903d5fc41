"""The business calendar and SLA settings as the hub runs them, and the holiday table's services.

`current_calendar()` combines the SLA_* settings with the Holiday table. Building it reads the
table once; the result is kept per process and rebuilt when the table's version changes. The
version lives in Django's cache, so every web and worker process picks up an edit on its
next read.
"""

from __future__ import annotations

import logging
import threading
import time as monotonic_time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from tickets.business_calendar import BusinessCalendar, south_african_holidays
from tickets.models import Holiday
from tickets.sla import SlaSettings

logger = logging.getLogger(__name__)

_VERSION_KEY = "sla:calendar-version"
# Without a reachable cache each process rebuilds the calendar this often, in seconds.
_FALLBACK_LIFETIME = 60.0
# Words in the names the `holidays` package gives to days the President declares under
# section 2A of the Public Holidays Act (election days, decree days). Every other name is a
# holiday of the Act itself.
_DECLARED_NAME_WORDS = ("election", "decree")


@dataclass(frozen=True)
class _Memo:
    version: str
    calendar: BusinessCalendar
    built_at: float


_memo: _Memo | None = None
_memo_lock = threading.Lock()


def current_sla_settings() -> SlaSettings:
    """Return the first-response targets and thresholds from the SLA_* settings."""
    return SlaSettings(
        first_response_bh_minutes=settings.SLA_FIRST_RESPONSE_BH,
        first_response_oh_minutes=settings.SLA_FIRST_RESPONSE_OH,
        warning_fraction=settings.SLA_WARNING_FRACTION,
        escalation_minutes=tuple(settings.SLA_ESCALATION),
        pause_statuses=frozenset(settings.SLA_PAUSE_STATUSES),
    )


def sla_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.SLA_TIME_ZONE)


def current_calendar() -> BusinessCalendar:
    """Return the business calendar: SLA settings plus every date in the Holiday table."""
    global _memo
    version = _read_version()
    memo = _memo
    if memo is not None:
        if version and memo.version == version:
            return memo.calendar
        if not version and monotonic_time.monotonic() - memo.built_at < _FALLBACK_LIFETIME:
            return memo.calendar
    with _memo_lock:
        calendar = build_calendar(Holiday.objects.values_list("date", flat=True))
        _memo = _Memo(version=version, calendar=calendar, built_at=monotonic_time.monotonic())
    return calendar


def build_calendar(closed_dates: Iterable[date]) -> BusinessCalendar:
    """Build a calendar from the SLA settings and the given closed dates."""
    opens, closes = (time.fromisoformat(value) for value in settings.SLA_BUSINESS_HOURS)
    return BusinessCalendar(
        time_zone=sla_time_zone(),
        business_weekdays=frozenset(settings.SLA_BUSINESS_DAYS),
        opens_at=opens,
        closes_at=closes,
        closed_dates=frozenset(closed_dates),
    )


def invalidate_calendar() -> None:
    """Make every process rebuild the calendar on its next use."""
    global _memo
    _memo = None
    try:
        cache.set(_VERSION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # noqa: BLE001 - any cache backend error; the memo expires on its own
        logger.warning("SLA calendar version could not be written to the cache", exc_info=True)


def _read_version() -> str:
    """Return the table's version token, or "" when the cache cannot be reached."""
    try:
        version = cache.get(_VERSION_KEY)
        if version is None:
            cache.add(_VERSION_KEY, uuid.uuid4().hex, timeout=None)
            version = cache.get(_VERSION_KEY)
    except Exception:  # noqa: BLE001 - any cache backend error; fall back to a short-lived memo
        logger.warning("SLA calendar version could not be read from the cache", exc_info=True)
        return ""
    return str(version or "")


# ---------------------------------------------------------------- holiday services


def holiday_source_for(name: str) -> str:
    lowered = name.lower()
    if any(word in lowered for word in _DECLARED_NAME_WORDS):
        return Holiday.Source.DECLARED
    return Holiday.Source.ACT


@dataclass(frozen=True)
class SeedResult:
    created: int
    kept: int


def seed_south_african_holidays(*, years: Iterable[int]) -> SeedResult:
    """Add South Africa's public holidays for `years` to the Holiday table.

    Dates already in the table are kept as they are, so an admin's renaming or a company
    closure on the same date survives a re-seed. Recomputes open timers when anything was added.
    """
    public_holidays = south_african_holidays(years)
    stored = Holiday.objects.filter(date__in=list(public_holidays))
    existing = set(stored.values_list("date", flat=True))
    new_rows = [
        Holiday(date=day, name=name[:200], source=holiday_source_for(name))
        for day, name in sorted(public_holidays.items())
        if day not in existing
    ]
    with transaction.atomic():
        Holiday.objects.bulk_create(new_rows, ignore_conflicts=True)
        if new_rows:
            holiday_table_changed()
    return SeedResult(created=len(new_rows), kept=len(existing))


def save_holiday(*, holiday: Holiday) -> Holiday:
    """Create or change a holiday, then recompute every timer that has not stopped."""
    with transaction.atomic():
        holiday.full_clean()
        holiday.save()
        holiday_table_changed()
    return holiday


def delete_holidays(*, dates: Iterable[date]) -> int:
    """Delete the holidays on `dates`, then recompute every timer that has not stopped."""
    with transaction.atomic():
        deleted, _ = Holiday.objects.filter(date__in=list(dates)).delete()
        if deleted:
            holiday_table_changed()
    return deleted


def holiday_table_changed() -> None:
    """Invalidate the calendar and recompute running, paused and unanswered breached timers.

    Runs after the surrounding transaction commits, so the recompute reads the new table.
    """
    from tickets.tasks import recompute_open_sla_timers

    def after_commit() -> None:
        invalidate_calendar()
        recompute_open_sla_timers.delay()

    transaction.on_commit(after_commit)


def local_date(instant: datetime) -> date:
    """Return the SLA time zone's date of an instant."""
    return instant.astimezone(sla_time_zone()).date()
