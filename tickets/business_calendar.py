"""Business hours as a calendar, and exact interval arithmetic on aware datetimes.

The public methods take and return aware datetimes. Internally an instant is a whole number of
microseconds since the Unix epoch, so adding and measuring are exact and cost only integer
arithmetic plus one cached lookup per local date.

Nothing here reads the clock or the database: callers pass every instant and the closed dates.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import holidays

DEFAULT_TIME_ZONE = ZoneInfo("Africa/Johannesburg")
MONDAY_TO_FRIDAY = frozenset(range(5))

MICROSECONDS_PER_SECOND = 1_000_000
_DAY_MICROSECONDS = 86_400 * MICROSECONDS_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_ONE_MICROSECOND = timedelta(microseconds=1)

# A span in which a clock runs: (start, end) in epoch microseconds. An end of None means the
# clock is still running, so the span is open towards the future.
Span = tuple[int, int | None]
# measure(start, end) returns the counted microseconds in [start, end). advance(start, amount)
# returns the earliest instant at which measure(start, instant) == amount.
Measure = Callable[[int, int], int]
Advance = Callable[[int, int], int]


def to_microseconds(instant: datetime) -> int:
    """Convert an aware datetime to whole microseconds since the Unix epoch."""
    try:
        return (instant - _EPOCH) // _ONE_MICROSECOND
    except TypeError:
        # Subtracting an aware datetime from a naive one raises TypeError.
        raise ValueError(
            f"Naive datetime {instant.isoformat()} has no UTC offset; pass an aware one."
        ) from None


def from_microseconds(microseconds: int, zone: tzinfo) -> datetime:
    """Convert microseconds since the Unix epoch to an aware datetime in `zone`."""
    return (_EPOCH + timedelta(microseconds=microseconds)).astimezone(zone)


def elapsed_microseconds(start: int, end: int) -> int:
    """Return the calendar time in [start, end), or 0 when end is not after start."""
    return end - start if end > start else 0


def add_elapsed_microseconds(start: int, amount: int) -> int:
    """Return the instant `amount` calendar microseconds after `start`."""
    return start + amount


class CountedSpans:
    """Counted time over the spans in which a clock runs, such as a timer between its pauses.

    Each closed span is measured once, so that several thresholds and the elapsed time can be
    looked up on the same spans without measuring them again.
    """

    __slots__ = ("_spans", "_lengths", "_measure", "_advance")

    def __init__(self, spans: Sequence[Span], measure: Measure, advance: Advance) -> None:
        self._spans = spans
        self._measure = measure
        self._advance = advance
        self._lengths = [measure(start, end) if end is not None else 0 for start, end in spans]

    def instant_reaching(self, amount: int) -> int | None:
        """Return the earliest instant at which the counted time reaches `amount`.

        The instant returned always lies inside a span and before its end, so the clock runs
        just after it. When the amount is used up exactly at the end of a closed span, the
        instant is the start of the next span instead. Returns None when the spans run out
        first, which can happen only when the last span is closed (a pause or a stop).
        """
        remaining = amount
        for (start, end), length in zip(self._spans, self._lengths, strict=True):
            if end is None:
                return self._advance(start, remaining)
            if length >= remaining and end > start:
                instant = self._advance(start, remaining)
                if instant < end:
                    return instant
            remaining -= length
        return None

    def counted_until(self, instant: int) -> int:
        """Return the counted time from the first span's start up to `instant`."""
        total = 0
        for (start, end), length in zip(self._spans, self._lengths, strict=True):
            if start >= instant:
                break
            if end is None or end > instant:
                return total + self._measure(start, instant)
            total += length
        return total


def south_african_holidays(years: Iterable[int]) -> dict[date, str]:
    """Return South Africa's public holidays in `years`, mapped to their names.

    The `holidays` package applies the Public Holidays Act 36 of 1994: a holiday on a Sunday
    also makes the Monday after it a holiday ("... (observed)"), a Saturday holiday does not
    move, and days declared under section 2A (such as the 4 November 2026 elections) are listed.
    """
    return dict(holidays.country_holidays("ZA", years=sorted(set(years))))


@dataclass(frozen=True)
class BusinessCalendar:
    """Business hours in one time zone: a daily window on business weekdays, minus closed dates.

    The window runs from `opens_at` inclusive to `closes_at` exclusive, in local wall-clock time.
    `closed_dates` contains public holidays, declared days and company closures alike, since each
    is a whole day without a window. Weekdays count from Monday = 0, as `date.weekday()` does.
    """

    time_zone: tzinfo = DEFAULT_TIME_ZONE
    business_weekdays: frozenset[int] = MONDAY_TO_FRIDAY
    opens_at: time = time(9)
    closes_at: time = time(18)
    closed_dates: frozenset[date] = field(default=frozenset(), repr=False)

    # Derived values and the per-date cache, left out of equality, hashing and repr.
    _days: dict[int, tuple[int, int, int, int]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )
    _closed_ordinals: list[int] = field(init=False, repr=False, compare=False, default_factory=list)
    _window_microseconds: int = field(init=False, repr=False, compare=False, default=0)
    _offset_microseconds: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        self._validate()
        closed_business_days = sorted(
            day.toordinal() for day in self.closed_dates if day.weekday() in self.business_weekdays
        )
        window = datetime.combine(date.min, self.closes_at) - datetime.combine(
            date.min, self.opens_at
        )
        reference_offset = datetime(2000, 1, 1, tzinfo=self.time_zone).utcoffset() or timedelta()
        # The dataclass is frozen, so derived values are set the way dataclasses set fields.
        object.__setattr__(self, "_closed_ordinals", closed_business_days)
        object.__setattr__(self, "_window_microseconds", window // _ONE_MICROSECOND)
        object.__setattr__(self, "_offset_microseconds", reference_offset // _ONE_MICROSECOND)

    def _validate(self) -> None:
        if not isinstance(self.time_zone, tzinfo):
            raise TypeError(
                f"time_zone must be a tzinfo such as ZoneInfo('Africa/Johannesburg'), "
                f"not {self.time_zone!r}."
            )
        if not self.business_weekdays or not self.business_weekdays <= frozenset(range(7)):
            raise ValueError(
                f"business_weekdays={sorted(self.business_weekdays)} must be a non-empty set of "
                "weekday numbers from 0 (Monday) to 6 (Sunday)."
            )
        if self.opens_at.tzinfo is not None or self.closes_at.tzinfo is not None:
            raise ValueError("opens_at and closes_at must be naive wall-clock times.")
        if not self.opens_at < self.closes_at:
            raise ValueError(
                f"opens_at={self.opens_at} must be before closes_at={self.closes_at}; "
                "windows that span midnight are not supported."
            )

    # Public interface on aware datetimes.

    def is_business_instant(self, instant: datetime) -> bool:
        """Return whether `instant` lies inside a business window (closing time is outside)."""
        return self.is_business_microsecond(to_microseconds(instant))

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Return the business seconds in [start, end), or 0 when end is not after start."""
        counted = self.business_microseconds_between(to_microseconds(start), to_microseconds(end))
        return counted / MICROSECONDS_PER_SECOND

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """Return the earliest instant at which `seconds` business seconds have passed since start.

        A target used up at closing time returns the closing time itself, not the next opening.
        Zero seconds returns `start`, even off-hours. The result is in the calendar's time zone.
        """
        amount = round(seconds * MICROSECONDS_PER_SECOND)
        end = self.add_business_microseconds(to_microseconds(start), amount)
        return from_microseconds(end, self.time_zone)

    # The same operations on epoch microseconds, for callers that convert once.

    def is_business_microsecond(self, instant: int) -> bool:
        _, opens, closes = self._locate(instant)
        return opens <= instant < closes

    def business_microseconds_between(self, start: int, end: int) -> int:
        if end <= start:
            return 0
        first, opens, closes = self._locate(start)
        if end <= closes:
            return max(0, end - max(opens, start))
        last, last_opens, last_closes = self._locate(end)
        if first == last:
            return max(0, closes - max(opens, start))

        total = max(0, closes - max(opens, start))
        total += self._whole_days_microseconds(first + 1, last)
        return total + max(0, min(last_closes, end) - last_opens)

    def add_business_microseconds(self, start: int, amount: int) -> int:
        if amount < 0:
            raise ValueError(f"Invalid business time to add: {amount} microseconds is negative.")
        if amount == 0:
            return start

        ordinal, opens, closes = self._locate(start)
        begin = max(opens, start)
        if closes - begin >= amount:
            return begin + amount
        remaining = amount - max(0, closes - begin)
        ordinal += 1

        # Jump whole weeks while more than two weeks of business time remain. The exact count
        # of the skipped days, closures included, keeps the remainder correct.
        week = self._window_microseconds * len(self.business_weekdays)
        while remaining > 2 * week:
            skipped_days = 7 * (remaining // week - 1)
            remaining -= self._whole_days_microseconds(ordinal, ordinal + skipped_days)
            ordinal += skipped_days

        while True:
            _, opens, closes, _ = self._day(ordinal)
            if closes - opens >= remaining:
                return opens + remaining
            remaining -= closes - opens
            ordinal += 1

    # Per-date windows.

    def _day(self, ordinal: int) -> tuple[int, int, int, int]:
        """Return a date's local midnight, window opening, window closing and next midnight.

        All four are epoch microseconds. A date without a window gets an empty one at midnight,
        so clipping arithmetic needs no special case.
        """
        cached = self._days.get(ordinal)
        if cached is not None:
            return cached

        zone = self.time_zone
        day = date.fromordinal(ordinal)
        midnight = to_microseconds(datetime.combine(day, time(), tzinfo=zone))
        next_day = date.fromordinal(ordinal + 1)
        next_midnight = to_microseconds(datetime.combine(next_day, time(), tzinfo=zone))
        if day.weekday() in self.business_weekdays and day not in self.closed_dates:
            opens = to_microseconds(datetime.combine(day, self.opens_at, tzinfo=zone))
            closes = to_microseconds(datetime.combine(day, self.closes_at, tzinfo=zone))
            entry = (midnight, opens, closes, next_midnight)
        else:
            entry = (midnight, midnight, midnight, next_midnight)
        self._days[ordinal] = entry
        return entry

    def _locate(self, instant: int) -> tuple[int, int, int]:
        """Return the ordinal, window opening and window closing of the local date of `instant`."""
        ordinal = (instant + self._offset_microseconds) // _DAY_MICROSECONDS + _EPOCH_ORDINAL
        midnight, opens, closes, next_midnight = self._days.get(ordinal) or self._day(ordinal)
        # The guess uses one fixed UTC offset, so correct it where daylight saving moves midnight.
        while instant < midnight:
            ordinal -= 1
            midnight, opens, closes, next_midnight = self._day(ordinal)
        while instant >= next_midnight:
            ordinal += 1
            midnight, opens, closes, next_midnight = self._day(ordinal)
        return ordinal, opens, closes

    def _whole_days_microseconds(self, first: int, stop: int) -> int:
        """Return the business time of the whole dates with ordinals in [first, stop)."""
        count = stop - first
        if count <= 0:
            return 0
        total = 0
        if count >= 14:
            # NOTE: whole weeks are counted as a fixed window length per business day. A time
            # zone whose clock change falls inside the window would be off by that shift here.
            weeks = count // 7
            week_end = first + 7 * weeks
            closed = self._closed_ordinals
            closed_count = bisect.bisect_left(closed, week_end) - bisect.bisect_left(closed, first)
            business_days = weeks * len(self.business_weekdays) - closed_count
            total = business_days * self._window_microseconds
            first = week_end
        for ordinal in range(first, stop):
            _, opens, closes, _ = self._day(ordinal)
            total += closes - opens
        return total
