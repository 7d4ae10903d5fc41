"""Business calendar: South African holidays, window edges and interval arithmetic.

The property tests also run on calendars with daylight saving: Europe/London with a six-day week
and a long closure, Australia/Sydney (summer time in January) and America/Santiago (clocks change
at midnight). So the arithmetic is not tied to one fixed offset. A plain day-by-day reference
implementation checks the fast one.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.business_calendar import (
    BusinessCalendar,
    from_microseconds,
    south_african_holidays,
    to_microseconds,
)

SAST = ZoneInfo("Africa/Johannesburg")
LONDON = ZoneInfo("Europe/London")
SOUTH_AFRICA = BusinessCalendar(closed_dates=frozenset(south_african_holidays(range(2024, 2031))))
LONDON_SHUTDOWN = frozenset(date(2026, 12, 21) + timedelta(days=offset) for offset in range(14))
SIX_DAY_LONDON = BusinessCalendar(
    time_zone=LONDON,
    business_weekdays=frozenset(range(6)),
    opens_at=time(8, 30),
    closes_at=time(17, 15),
    closed_dates=LONDON_SHUTDOWN | {date(2026, 4, 3), date(2027, 3, 26)},
)
CALENDARS = {
    "south_africa": SOUTH_AFRICA,
    "six_day_london": SIX_DAY_LONDON,
    "sydney": BusinessCalendar(time_zone=ZoneInfo("Australia/Sydney"), closes_at=time(17)),
    "santiago": BusinessCalendar(time_zone=ZoneInfo("America/Santiago")),
}
HOUR = 3_600_000_000
DAY = 24 * HOUR


def sast(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SAST)


def reference_business_microseconds(
    calendar: BusinessCalendar, start: datetime, end: datetime
) -> int:
    """Count business time one local date at a time, using datetimes only."""
    if end <= start:
        return 0
    zone = calendar.time_zone
    total = timedelta()
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        if day.weekday() in calendar.business_weekdays and day not in calendar.closed_dates:
            opens = datetime.combine(day, calendar.opens_at, tzinfo=zone)
            closes = datetime.combine(day, calendar.closes_at, tzinfo=zone)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total // timedelta(microseconds=1)


def instants(zone: tzinfo) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2025, 1, 1),
        max_value=datetime(2029, 6, 30),
        timezones=st.just(zone),
        allow_imaginary=False,
    )


calendars = st.sampled_from(sorted(CALENDARS)).map(CALENDARS.__getitem__)
# Up to about 150 business days, so that the whole-week shortcuts run too.
amounts = st.one_of(
    st.integers(min_value=0, max_value=2 * DAY),
    st.integers(min_value=0, max_value=1_400 * HOUR),
)


# South African holidays.


def test_holidays_sunday_rule_2027() -> None:
    holidays = south_african_holidays([2027])

    assert date(2027, 3, 21) in holidays
    assert date(2027, 3, 22) in holidays
    assert date(2027, 12, 27) in holidays


def test_holidays_declared_election_day() -> None:
    assert date(2026, 11, 4) in south_african_holidays([2026])


def test_holidays_saturday_not_moved() -> None:
    holidays = south_african_holidays([2026, 2027])

    assert date(2026, 3, 21) in holidays
    assert date(2026, 3, 23) not in holidays
    assert date(2027, 5, 1) in holidays
    assert date(2027, 5, 3) not in holidays


def test_holidays_accept_repeated_years() -> None:
    assert south_african_holidays([2026, 2026]) == south_african_holidays([2026])


@pytest.mark.parametrize(
    "day", ["2027-03-22", "2026-11-04", "2026-08-10", "2026-04-03", "2026-12-16"]
)
def test_holiday_has_no_business_window(day: str) -> None:
    for hour in (9, 12, 17):
        assert not SOUTH_AFRICA.is_business_instant(sast(f"{day} {hour:02}:00"))


@pytest.mark.parametrize("day", ["2026-03-23", "2026-12-24", "2026-12-28", "2027-05-03"])
def test_ordinary_weekday_is_open(day: str) -> None:
    assert SOUTH_AFRICA.is_business_instant(sast(f"{day} 12:00"))


# Window edges.


@pytest.mark.parametrize(
    ("clock", "expected"),
    [("08:59:59", False), ("09:00:00", True), ("17:59:59", True), ("18:00:00", False)],
)
def test_window_edges(clock: str, expected: bool) -> None:
    assert SOUTH_AFRICA.is_business_instant(sast(f"2026-03-02 {clock}")) is expected


def test_weekend_is_closed() -> None:
    assert not SOUTH_AFRICA.is_business_instant(sast("2026-03-07 12:00"))
    assert not SOUTH_AFRICA.is_business_instant(sast("2026-03-08 12:00"))


def test_instant_in_other_offset() -> None:
    assert SOUTH_AFRICA.is_business_instant(datetime.fromisoformat("2026-03-02T07:00:00Z"))
    assert not SOUTH_AFRICA.is_business_instant(datetime.fromisoformat("2026-03-02T06:59:59Z"))


# Adding and measuring.


def test_add_friday_afternoon_to_monday() -> None:
    due = SOUTH_AFRICA.add_business_seconds(sast("2026-03-06 17:30"), 7200)

    assert due == sast("2026-03-09 10:30")


def test_add_ends_at_closing_time() -> None:
    due = SOUTH_AFRICA.add_business_seconds(sast("2026-03-02 16:00"), 7200)

    assert due == sast("2026-03-02 18:00")
    assert due.tzinfo == SAST


def test_add_from_night_starts_at_opening() -> None:
    due = SOUTH_AFRICA.add_business_seconds(sast("2026-03-02 20:00"), 60)

    assert due == sast("2026-03-03 09:01")


def test_add_zero_returns_start() -> None:
    start = sast("2026-03-07 03:00")

    assert SOUTH_AFRICA.add_business_seconds(start, 0) == start


def test_add_negative_rejected() -> None:
    with pytest.raises(ValueError, match="negative"):
        SOUTH_AFRICA.add_business_seconds(sast("2026-03-02 10:00"), -1)


def test_add_skips_election_day() -> None:
    due = SOUTH_AFRICA.add_business_seconds(sast("2026-11-03 17:00"), 7200)

    assert due == sast("2026-11-05 10:00")


def test_seconds_between_over_weekend() -> None:
    seconds = SOUTH_AFRICA.business_seconds_between(
        sast("2026-03-06 17:00"), sast("2026-03-09 10:00")
    )

    assert seconds == 7200


def test_seconds_between_reversed_is_zero() -> None:
    seconds = SOUTH_AFRICA.business_seconds_between(
        sast("2026-03-09 10:00"), sast("2026-03-06 17:00")
    )

    assert seconds == 0


def test_seconds_between_full_year() -> None:
    seconds = SOUTH_AFRICA.business_seconds_between(
        sast("2026-01-01 00:00"), sast("2027-01-01 00:00")
    )

    # 2026 has 261 weekdays, 11 of them public holidays (10 Aug and 4 Nov included).
    assert seconds == (261 - 11) * 9 * 3600


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        SOUTH_AFRICA.is_business_instant(datetime(2026, 3, 2, 10))


@pytest.mark.parametrize(
    "overrides",
    [
        {"business_weekdays": frozenset()},
        {"business_weekdays": frozenset({7})},
        {"opens_at": time(18), "closes_at": time(9)},
        {"opens_at": time(9), "closes_at": time(9)},
    ],
)
def test_invalid_calendar_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BusinessCalendar(**overrides)  # type: ignore[arg-type]


def test_time_zone_name_rejected() -> None:
    with pytest.raises(TypeError, match="ZoneInfo"):
        BusinessCalendar(time_zone="Africa/Johannesburg")  # type: ignore[arg-type]


def test_calendars_compare_by_configuration() -> None:
    first = BusinessCalendar(closed_dates=frozenset({date(2026, 1, 1)}))
    second = BusinessCalendar(closed_dates=frozenset({date(2026, 1, 1)}))
    first.is_business_instant(sast("2026-03-02 10:00"))

    assert first == second
    assert hash(first) == hash(second)


# Properties.


@given(calendar=calendars, data=st.data(), amount=amounts)
def test_add_never_before_start(
    calendar: BusinessCalendar, data: st.DataObject, amount: int
) -> None:
    start = to_microseconds(data.draw(instants(calendar.time_zone)))

    assert calendar.add_business_microseconds(start, amount) >= start


@given(calendar=calendars, data=st.data(), amount=amounts)
def test_add_then_measure_returns_target(
    calendar: BusinessCalendar, data: st.DataObject, amount: int
) -> None:
    start = to_microseconds(data.draw(instants(calendar.time_zone)))

    end = calendar.add_business_microseconds(start, amount)

    assert calendar.business_microseconds_between(start, end) == amount


@given(calendar=calendars, data=st.data(), amount=amounts.filter(lambda amount: amount > 0))
def test_add_returns_earliest_instant(
    calendar: BusinessCalendar, data: st.DataObject, amount: int
) -> None:
    start = to_microseconds(data.draw(instants(calendar.time_zone)))

    end = calendar.add_business_microseconds(start, amount)

    assert calendar.business_microseconds_between(start, end - 1) == amount - 1


@given(calendar=calendars, data=st.data(), amount=amounts)
def test_add_monotonic_in_start(
    calendar: BusinessCalendar, data: st.DataObject, amount: int
) -> None:
    first = to_microseconds(data.draw(instants(calendar.time_zone)))
    second = to_microseconds(data.draw(instants(calendar.time_zone)))
    earlier, later = sorted((first, second))

    earlier_end = calendar.add_business_microseconds(earlier, amount)
    later_end = calendar.add_business_microseconds(later, amount)

    assert earlier_end <= later_end


@given(calendar=calendars, data=st.data())
def test_between_additive_over_split(calendar: BusinessCalendar, data: st.DataObject) -> None:
    points = sorted(to_microseconds(data.draw(instants(calendar.time_zone))) for _ in range(3))
    start, middle, end = points

    whole = calendar.business_microseconds_between(start, end)
    first_part = calendar.business_microseconds_between(start, middle)
    second_part = calendar.business_microseconds_between(middle, end)

    assert whole == first_part + second_part


@given(calendar=calendars, data=st.data())
def test_between_matches_reference(calendar: BusinessCalendar, data: st.DataObject) -> None:
    start = data.draw(instants(calendar.time_zone))
    end = data.draw(instants(calendar.time_zone))

    expected = reference_business_microseconds(calendar, start, end)
    counted = calendar.business_microseconds_between(to_microseconds(start), to_microseconds(end))

    assert counted == expected


@given(calendar=calendars, data=st.data())
def test_is_business_matches_reference(calendar: BusinessCalendar, data: st.DataObject) -> None:
    instant = data.draw(instants(calendar.time_zone))
    local = instant.astimezone(calendar.time_zone)
    day = local.date()
    expected = (
        day.weekday() in calendar.business_weekdays
        and day not in calendar.closed_dates
        and calendar.opens_at <= local.time().replace(tzinfo=None) < calendar.closes_at
    )

    assert calendar.is_business_instant(instant) is expected


@given(data=st.data())
def test_microseconds_round_trip(data: st.DataObject) -> None:
    instant = data.draw(instants(LONDON))

    assert from_microseconds(to_microseconds(instant), LONDON) == instant
