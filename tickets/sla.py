"""First-response SLA: a pure evaluation of one ticket's timer at a given instant.

The promise is a first response within 2 business hours when the clock starts inside business
hours (policy BH), and within 24 calendar hours otherwise (policy OH). `evaluate_sla` turns a
ticket's events into the timer's policy, due instant, state, warning and escalation level. It
reads no clock and no database, so the scheduler, the services and the tests call it alike.

The rules it applies:

- The clock starts at S = min(created_at, first `received`). A ticket an agent opened starts
  at the customer's first message instead, and has no timer without one.
- The policy is chosen once, from S: BH counts business seconds, OH counts every second.
- A status in `SlaSettings.pause_statuses` (pending customer, solved, closed) pauses the clock.
  A customer message, `open`, `reopened` and `on_hold` end a pause.
- The first public reply or connected call by a human agent at or after S stops the timer.
  Merging or marking as spam cancels it, unless it has already breached.
- A threshold (warning, due instant, escalation level) is passed only strictly after its
  instant, and only while the clock runs. A reply exactly at the due instant is on time.
- Escalation levels L2 and up fall due a set number of business minutes after the due instant,
  with paused time left out, for both policies.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from tickets.business_calendar import (
    MICROSECONDS_PER_SECOND,
    BusinessCalendar,
    CountedSpans,
    Span,
    add_elapsed_microseconds,
    elapsed_microseconds,
    from_microseconds,
    south_african_holidays,
    to_microseconds,
)

POLICY_BUSINESS_HOURS = "BH"
POLICY_OFF_HOURS = "OH"

STATE_RUNNING = "running"
STATE_PAUSED = "paused"
STATE_ACHIEVED = "achieved"
STATE_BREACHED = "breached"
STATE_CANCELLED = "cancelled"

AGENT_OUTBOUND_CHANNEL = "agent_outbound"

RESPONSE_KINDS = frozenset({"agent_public_reply", "agent_call"})
CUSTOMER_MESSAGE_KINDS = frozenset({"customer_reply", "customer_message"})
CANCEL_KINDS = frozenset({"merged", "spam"})
# The ticket status each status-changing event leaves behind.
STATUS_AFTER_KIND = {
    "customer_reply": "open",
    "customer_message": "open",
    "open": "open",
    "reopened": "open",
    "on_hold": "on_hold",
    "pending": "pending_customer",
    "solved": "solved",
    "closed": "closed",
}
# Kinds that neither pause, resume, stop nor cancel the timer. `received` only feeds S.
IGNORED_KINDS = frozenset({"received", "internal_note", "auto_ack", "bot_reply"})
EVENT_KINDS = RESPONSE_KINDS | CANCEL_KINDS | frozenset(STATUS_AFTER_KIND) | IGNORED_KINDS

_MICROSECONDS_PER_MINUTE = 60 * MICROSECONDS_PER_SECOND


@dataclass(frozen=True)
class SlaEvent:
    """One thing that happened on a ticket, as far as the first-response timer cares.

    `kind` is one of EVENT_KINDS. `channel` is where a message went, which never changes
    whether it counts. `customer_message` is the customer's opening message on a ticket an
    agent opened; `customer_reply` has the same effect.
    """

    kind: str
    at: datetime
    channel: str = ""


@dataclass(frozen=True)
class SlaSettings:
    """Targets and thresholds of the first-response timer.

    Escalation delays are business minutes after the due instant: the first delay is L2, the
    next L3, and so on, so the last level is 1 + len(escalation_minutes).
    """

    first_response_bh_minutes: int = 120
    first_response_oh_minutes: int = 1440
    warning_fraction: float = 0.75
    escalation_minutes: tuple[int, ...] = (60, 240, 480)
    pause_statuses: frozenset[str] = frozenset({"pending_customer", "solved", "closed"})

    def __post_init__(self) -> None:
        for name in ("first_response_bh_minutes", "first_response_oh_minutes"):
            minutes = getattr(self, name)
            if minutes <= 0:
                raise ValueError(f"{name}={minutes} must be a positive number of minutes.")
        if not 0 < self.warning_fraction < 1:
            raise ValueError(f"warning_fraction={self.warning_fraction} must lie between 0 and 1.")
        delays = self.escalation_minutes
        if any(delay <= 0 for delay in delays) or list(delays) != sorted(set(delays)):
            raise ValueError(
                f"escalation_minutes={delays} must be positive, strictly increasing business "
                "minutes after the due instant."
            )


DEFAULT_SETTINGS = SlaSettings()


@dataclass(frozen=True)
class SlaResult:
    """The first-response timer of one ticket as seen at one instant.

    `policy` and `state` are None when the ticket has no timer (an agent-opened ticket with no
    customer message yet). Instants are in the calendar's time zone.

    `due_at` and `warning_at` are the thresholds in force. They are None while the clock is
    paused short of them, and kept once passed. `warning_fired` is true once the warning passed.
    `next_check_at` is the earliest instant, to the microsecond, at which evaluating again
    without new events gives a different result. It is None when only a new event can change
    the result. `escalation_due` lists the levels from L2 up that were reached, each with the
    instant after which it applied.
    """

    policy: str | None
    state: str | None
    started_at: datetime | None = None
    due_at: datetime | None = None
    warning_at: datetime | None = None
    warning_fired: bool = False
    responded_at: datetime | None = None
    breached_at: datetime | None = None
    business_minutes: int = 0
    escalation_level: int = 1
    escalation_due: tuple[tuple[int, datetime], ...] = ()
    next_check_at: datetime | None = None
    # The status holding the clock paused at the evaluated instant; None while it runs or
    # after it stopped. Reports leave out timers paused by "solved".
    paused_status: str | None = None


NO_TIMER = SlaResult(policy=None, state=None)


@dataclass
class _Timeline:
    """The spans in which the clock ran between S and the evaluated instant, and its stop."""

    spans: list[Span] = field(default_factory=list)
    paused_status: str | None = None
    responded_at: int | None = None
    cancelled_at: int | None = None

    @property
    def stopped_at(self) -> int | None:
        return self.responded_at if self.responded_at is not None else self.cancelled_at


def evaluate_sla(
    *,
    created_at: datetime,
    channel: str,
    events: Iterable[SlaEvent],
    calendar: BusinessCalendar,
    settings: SlaSettings = DEFAULT_SETTINGS,
    now: datetime,
) -> SlaResult:
    """Evaluate a ticket's first-response timer at `now`.

    Events may come in any order. Events at the same instant apply in the order given, and
    events after `now` are ignored. Raises ValueError for an unknown event kind or a naive
    datetime.
    """
    now_us = to_microseconds(now)
    timed_events = _sort_events(events, now_us)
    start = _clock_start(to_microseconds(created_at), channel, timed_events)
    if start is None:
        return NO_TIMER

    timeline = _build_timeline(start, timed_events, settings.pause_statuses)
    stopped_at = timeline.stopped_at
    end = stopped_at if stopped_at is not None else now_us

    business = CountedSpans(
        timeline.spans, calendar.business_microseconds_between, calendar.add_business_microseconds
    )
    if calendar.is_business_microsecond(start):
        policy = POLICY_BUSINESS_HOURS
        target = settings.first_response_bh_minutes * _MICROSECONDS_PER_MINUTE
        counted = business
    else:
        policy = POLICY_OFF_HOURS
        target = settings.first_response_oh_minutes * _MICROSECONDS_PER_MINUTE
        counted = CountedSpans(timeline.spans, elapsed_microseconds, add_elapsed_microseconds)

    due = counted.instant_reaching(target)
    warning = counted.instant_reaching(round(target * settings.warning_fraction))
    breached = due is not None and due < end
    warning_fired = warning is not None and warning < end

    escalations: list[int] = []
    if due is not None and breached:
        delays = settings.escalation_minutes
        escalations = _escalation_instants(calendar, timeline.spans, due, delays)
    reached = [instant for instant in escalations if instant < end]

    if stopped_at is None and timeline.paused_status is None:
        upcoming = _next_threshold(warning, warning_fired, due, breached, escalations, reached)
    else:
        upcoming = None
    elapsed = business.counted_until(end)

    zone = calendar.time_zone
    return SlaResult(
        policy=policy,
        state=_state(timeline, breached),
        started_at=from_microseconds(start, zone),
        due_at=_datetime_or_none(due, zone),
        warning_at=_datetime_or_none(warning, zone),
        warning_fired=warning_fired,
        responded_at=_datetime_or_none(timeline.responded_at, zone),
        breached_at=_datetime_or_none(due if breached else None, zone),
        business_minutes=elapsed // _MICROSECONDS_PER_MINUTE,
        escalation_level=1 + len(reached),
        escalation_due=tuple(
            (level, from_microseconds(instant, zone)) for level, instant in enumerate(reached, 2)
        ),
        next_check_at=_datetime_or_none(upcoming, zone),
        paused_status=timeline.paused_status if stopped_at is None else None,
    )


def _sort_events(events: Iterable[SlaEvent], now: int) -> list[tuple[int, int, str]]:
    """Return (instant, position, kind) up to `now`, in time order and then in the given order."""
    timed = []
    for position, event in enumerate(events):
        if event.kind not in EVENT_KINDS:
            raise ValueError(
                f"Unknown SLA event kind {event.kind!r}; expected one of {sorted(EVENT_KINDS)}."
            )
        instant = to_microseconds(event.at)
        if instant <= now:
            timed.append((instant, position, event.kind))
    timed.sort()
    return timed


def _clock_start(
    created_at: int, channel: str, events: Sequence[tuple[int, int, str]]
) -> int | None:
    """Return S, or None when an agent-opened ticket has no customer message yet."""
    if channel == AGENT_OUTBOUND_CHANNEL:
        for instant, _, kind in events:
            if kind in CUSTOMER_MESSAGE_KINDS:
                return instant
        return None

    # A created_at after the hub's receipt is clock skew, so the earlier instant wins either way.
    start = created_at
    for instant, _, kind in events:
        if kind == "received" and instant < start:
            start = instant
    return start


def _build_timeline(
    start: int, events: Sequence[tuple[int, int, str]], pause_statuses: frozenset[str]
) -> _Timeline:
    """Replay the events from S until the first response or a cancel.

    Status events before S set the status the clock starts in. Responses before S, such as an
    agent's opening message, do not count.
    """
    timeline = _Timeline()
    status = "open"
    run_start: int | None = start
    for instant, _, kind in events:
        at = max(instant, start)
        if kind in RESPONSE_KINDS:
            if instant < start:
                continue
            timeline.responded_at = at
            break
        if kind in CANCEL_KINDS:
            timeline.cancelled_at = at
            break
        new_status = STATUS_AFTER_KIND.get(kind)
        if new_status is None:
            continue
        status = new_status
        if status in pause_statuses and run_start is not None:
            timeline.spans.append((run_start, at))
            run_start = None
        elif status not in pause_statuses and run_start is None:
            run_start = at

    if run_start is not None:
        # The span stays open: the thresholds in force at the stop (or now) lie on it.
        timeline.spans.append((run_start, None))
    else:
        timeline.paused_status = status
    return timeline


def _escalation_instants(
    calendar: BusinessCalendar, spans: Sequence[Span], due: int, delays_minutes: Sequence[int]
) -> list[int]:
    """Return the instant of each escalation level from L2 up, as far as the spans reach."""
    after_due: list[Span] = []
    for start, end in spans:
        if end is None or end > due:
            after_due.append((max(start, due), end))
    business = CountedSpans(
        after_due, calendar.business_microseconds_between, calendar.add_business_microseconds
    )

    instants = []
    for minutes in delays_minutes:
        instant = business.instant_reaching(minutes * _MICROSECONDS_PER_MINUTE)
        if instant is None:
            break
        instants.append(instant)
    return instants


def _next_threshold(
    warning: int | None,
    warning_fired: bool,
    due: int | None,
    breached: bool,
    escalations: Sequence[int],
    reached: Sequence[int],
) -> int | None:
    """Return the first instant after the next threshold a running clock has not passed yet."""
    if not warning_fired and warning is not None:
        threshold = warning
    elif not breached and due is not None:
        threshold = due
    elif len(reached) < len(escalations):
        threshold = escalations[len(reached)]
    else:
        return None
    # A threshold passes strictly after its instant, so the result first changes one
    # microsecond later, the resolution of datetime.
    return threshold + 1


def _state(timeline: _Timeline, breached: bool) -> str:
    if breached:
        return STATE_BREACHED
    if timeline.responded_at is not None:
        return STATE_ACHIEVED
    if timeline.cancelled_at is not None:
        return STATE_CANCELLED
    if timeline.paused_status is not None:
        return STATE_PAUSED
    return STATE_RUNNING


def _datetime_or_none(instant: int | None, zone: tzinfo) -> datetime | None:
    if instant is None:
        return None
    return from_microseconds(instant, zone)


# The worked-examples table: one ticket per row, `events` as `type[:channel]@timestamp` items
# separated by "; ", and the check instant inside `expected_state_at` as `state@instant`.

EXAMPLE_INPUT_COLUMNS = ("id", "created_at", "channel", "events", "expected_state_at")
EXAMPLE_EXPECTED_COLUMNS = (
    "expected_first_response_due",
    "expected_state_at",
    "expected_business_minutes_elapsed_at_check",
    "expected_policy",
    "expected_warning_at",
    "expected_escalation_level_at_check",
)


def parse_timestamp(text: str) -> datetime:
    """Parse an ISO 8601 timestamp that carries a UTC offset (`Z` or `+02:00`)."""
    instant = datetime.fromisoformat(text.strip())
    if instant.utcoffset() is None:
        raise ValueError(f"Timestamp {text!r} has no UTC offset; write it as e.g. {text}+02:00.")
    return instant


def parse_events_column(text: str) -> list[SlaEvent]:
    """Parse an `events` cell such as `pending@2026-03-05T10:01:00+02:00; open:chat@...`."""
    events = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        head, separator, timestamp = item.partition("@")
        if not separator:
            raise ValueError(
                f"Event {item!r} is missing '@timestamp'; expected type[:channel]@timestamp."
            )
        kind, _, channel = head.partition(":")
        if kind not in EVENT_KINDS:
            raise ValueError(f"Unknown SLA event kind {kind!r} in {item!r}.")
        events.append(SlaEvent(kind=kind, at=parse_timestamp(timestamp), channel=channel))
    return events


def recompute_examples_table(
    rows: Iterable[Mapping[str, str]],
    calendar: BusinessCalendar | None = None,
    settings: SlaSettings = DEFAULT_SETTINGS,
) -> list[dict[str, str]]:
    """Return the rows with every expected_* column recomputed by `evaluate_sla`.

    Each output row keeps the input's columns in their order. Without a calendar, South African
    public holidays are used for every year the rows span, plus the next one.
    """
    table = [dict(row) for row in rows]
    required = dict.fromkeys((*EXAMPLE_INPUT_COLUMNS, *EXAMPLE_EXPECTED_COLUMNS))
    for row in table:
        missing = [name for name in required if name not in row]
        if missing:
            raise ValueError(f"Example {row.get('id', '?')!r} is missing columns {missing}.")
    if calendar is None:
        calendar = _south_african_calendar_for(table)

    for row in table:
        check_text = _check_instant_text(row)
        check = parse_timestamp(check_text)
        result = evaluate_sla(
            created_at=parse_timestamp(row["created_at"]),
            channel=row["channel"],
            events=parse_events_column(row["events"]),
            calendar=calendar,
            settings=settings,
            now=check,
        )
        row.update(_expected_columns(result, check_text))
    return table


def format_examples_table(rows: Sequence[Mapping[str, str]], fieldnames: Sequence[str]) -> str:
    """Write rows as CSV text with "\\n" line endings, quoting only where needed."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _check_instant_text(row: Mapping[str, str]) -> str:
    _, separator, check_text = row["expected_state_at"].partition("@")
    if not separator or not check_text.strip():
        raise ValueError(
            f"Example {row['id']!r} has expected_state_at={row['expected_state_at']!r}; "
            "expected state@check_instant."
        )
    return check_text.strip()


def _expected_columns(result: SlaResult, check_text: str) -> dict[str, str]:
    """Format a result as the table's expected_* columns.

    A ticket without a timer gets the state "none" and empty figures.
    """
    if result.policy is None:
        minutes = level = ""
    else:
        minutes = str(result.business_minutes)
        level = f"L{result.escalation_level}"
    return {
        "expected_first_response_due": _format_instant(result.due_at),
        "expected_state_at": f"{result.state or 'none'}@{check_text}",
        "expected_business_minutes_elapsed_at_check": minutes,
        "expected_policy": result.policy or "",
        "expected_warning_at": _format_instant(result.warning_at if result.warning_fired else None),
        "expected_escalation_level_at_check": level,
    }


def _format_instant(instant: datetime | None) -> str:
    return instant.isoformat() if instant is not None else ""


def _south_african_calendar_for(rows: Iterable[Mapping[str, str]]) -> BusinessCalendar:
    years: set[int] = set()
    for row in rows:
        years.add(parse_timestamp(row["created_at"]).year)
        years.add(parse_timestamp(_check_instant_text(row)).year)
    spanned = range(min(years), max(years) + 2) if years else range(0)
    return BusinessCalendar(closed_dates=frozenset(south_african_holidays(spanned)))
