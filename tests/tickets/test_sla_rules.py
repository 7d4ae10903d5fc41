"""Hand-worked cases for the first-response timer rules.

Dates are in 2026 and 2027 in South Africa (SAST, UTC+02:00). Reference weekdays: 2026-03-02 and
2026-03-09 are Mondays, 2026-03-06 a Friday, 2026-03-07 a Saturday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tickets.business_calendar import BusinessCalendar, south_african_holidays
from tickets.sla import EVENT_KINDS, SlaEvent, SlaResult, SlaSettings, evaluate_sla

SAST = ZoneInfo("Africa/Johannesburg")
CALENDAR = BusinessCalendar(closed_dates=frozenset(south_african_holidays(range(2025, 2029))))
MICROSECOND = timedelta(microseconds=1)


def sast(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SAST)


def evaluate(
    created: str,
    events: list[tuple[str, str]],
    now: str | datetime,
    *,
    channel: str = "email",
    settings: SlaSettings | None = None,
) -> SlaResult:
    return evaluate_sla(
        created_at=sast(created),
        channel=channel,
        events=[SlaEvent(kind, sast(at)) for kind, at in events],
        calendar=CALENDAR,
        settings=settings or SlaSettings(),
        now=sast(now) if isinstance(now, str) else now,
    )


# Which target applies.


def test_friday_1730_due_monday_1030() -> None:
    result = evaluate("2026-03-06 17:30", [], "2026-03-06 17:31")

    assert result.policy == "BH"
    assert result.due_at == sast("2026-03-09 10:30")


def test_friday_1800_is_off_hours() -> None:
    result = evaluate("2026-03-06 18:00:00", [], "2026-03-06 18:01")

    assert result.policy == "OH"
    assert result.due_at == sast("2026-03-07 18:00")


def test_monday_085959_stays_off_hours() -> None:
    result = evaluate("2026-03-09 08:59:59", [], "2026-03-09 12:00")

    assert result.policy == "OH"
    assert result.due_at == sast("2026-03-10 08:59:59")
    assert result.state == "running"


def test_monday_0900_is_business_hours() -> None:
    result = evaluate("2026-03-09 09:00:00", [], "2026-03-09 09:01")

    assert result.policy == "BH"
    assert result.due_at == sast("2026-03-09 11:00")


def test_weekday_public_holiday_is_off_hours() -> None:
    result = evaluate("2026-04-27 10:00", [], "2026-04-27 11:00")

    assert result.policy == "OH"
    assert result.due_at == sast("2026-04-28 10:00")


def test_declared_election_day_is_off_hours() -> None:
    result = evaluate("2026-11-04 10:00", [], "2026-11-04 11:00")

    assert result.policy == "OH"
    assert result.due_at == sast("2026-11-05 10:00")


def test_sunday_rule_monday_is_off_hours() -> None:
    result = evaluate("2027-03-22 10:00", [], "2027-03-22 11:00")

    assert result.policy == "OH"


def test_bh_target_can_end_at_closing() -> None:
    result = evaluate("2026-03-02 16:00", [], "2026-03-02 17:00")

    assert result.due_at == sast("2026-03-02 18:00")


def test_bh_due_at_closing_then_late_reply() -> None:
    result = evaluate(
        "2026-03-02 16:00", [("agent_public_reply", "2026-03-03 09:00")], "2026-03-03 09:30"
    )

    assert result.state == "breached"
    assert result.business_minutes == 120
    assert result.breached_at == sast("2026-03-02 18:00")


def test_bh_spans_weekend_and_holiday() -> None:
    # Thursday 2 April 2026 17:00: Good Friday, the weekend and Family Day are all off.
    result = evaluate("2026-04-02 17:00", [], "2026-04-02 17:30")

    assert result.due_at == sast("2026-04-07 10:00")


# Clock start.


def test_late_delivery_arrives_breached() -> None:
    result = evaluate("2026-03-02 09:00", [("received", "2026-03-02 12:00")], "2026-03-02 12:00")

    assert result.started_at == sast("2026-03-02 09:00")
    assert result.due_at == sast("2026-03-02 11:00")
    assert result.state == "breached"
    assert result.warning_fired
    assert result.warning_at == sast("2026-03-02 10:30")


def test_clock_skew_starts_at_received() -> None:
    result = evaluate("2026-03-02 10:30", [("received", "2026-03-02 10:00")], "2026-03-02 10:45")

    assert result.started_at == sast("2026-03-02 10:00")
    assert result.due_at == sast("2026-03-02 12:00")
    assert result.business_minutes == 45


def test_received_decides_policy_when_earlier() -> None:
    result = evaluate("2026-03-02 09:10", [("received", "2026-03-02 08:55")], "2026-03-02 09:30")

    assert result.policy == "OH"
    assert result.due_at == sast("2026-03-03 08:55")


def test_outbound_without_customer_no_timer() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("agent_public_reply", "2026-03-02 10:00"), ("pending", "2026-03-02 10:00")],
        "2026-03-03 10:00",
        channel="agent_outbound",
    )

    assert result.policy is None
    assert result.state is None
    assert result.next_check_at is None


def test_outbound_starts_at_customer_message() -> None:
    result = evaluate(
        "2026-03-02 08:00",
        [
            ("agent_public_reply", "2026-03-02 08:00"),
            ("pending", "2026-03-02 08:00"),
            ("customer_reply", "2026-03-02 10:00"),
        ],
        "2026-03-02 11:00",
        channel="agent_outbound",
    )

    assert result.started_at == sast("2026-03-02 10:00")
    assert result.policy == "BH"
    assert result.due_at == sast("2026-03-02 12:00")
    assert result.state == "running"
    assert result.responded_at is None


def test_outbound_reply_after_customer_counts() -> None:
    result = evaluate(
        "2026-03-02 08:00",
        [
            ("customer_message", "2026-03-02 10:00"),
            ("agent_public_reply", "2026-03-02 10:40"),
        ],
        "2026-03-02 11:00",
        channel="agent_outbound",
    )

    assert result.state == "achieved"
    assert result.responded_at == sast("2026-03-02 10:40")
    assert result.business_minutes == 40


def test_customer_follow_up_does_not_restart() -> None:
    result = evaluate(
        "2026-03-02 10:00", [("customer_reply", "2026-03-02 11:00")], "2026-03-02 11:30"
    )

    assert result.due_at == sast("2026-03-02 12:00")


# What counts as the first response.


def test_connected_call_at_creation_counts() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("agent_call", "2026-03-02 10:00")],
        "2026-03-02 10:05",
        channel="phone",
    )

    assert result.state == "achieved"
    assert result.business_minutes == 0


def test_reply_on_other_channel_counts() -> None:
    result = evaluate_sla(
        created_at=sast("2026-03-02 10:00"),
        channel="email",
        events=[SlaEvent("agent_public_reply", sast("2026-03-02 10:30"), "whatsapp")],
        calendar=CALENDAR,
        now=sast("2026-03-02 11:00"),
    )

    assert result.state == "achieved"


@pytest.mark.parametrize("kind", ["internal_note", "auto_ack", "bot_reply"])
def test_non_response_message_ignored(kind: str) -> None:
    result = evaluate("2026-03-02 10:00", [(kind, "2026-03-02 10:05")], "2026-03-02 12:30")

    assert result.state == "breached"
    assert result.responded_at is None


def test_weekend_reply_counts() -> None:
    result = evaluate(
        "2026-03-06 20:00", [("agent_public_reply", "2026-03-07 09:00")], "2026-03-07 10:00"
    )

    assert result.state == "achieved"
    assert result.business_minutes == 0


# Thresholds pass strictly after their instant.


def test_reply_exactly_at_due_is_achieved() -> None:
    result = evaluate(
        "2026-03-02 10:00", [("agent_public_reply", "2026-03-02 12:00")], "2026-03-02 12:30"
    )

    assert result.state == "achieved"
    assert result.business_minutes == 120


def test_at_due_instant_still_running() -> None:
    result = evaluate("2026-03-02 10:00", [], "2026-03-02 12:00")

    assert result.state == "running"
    assert result.breached_at is None
    assert result.next_check_at == sast("2026-03-02 12:00") + MICROSECOND


def test_just_after_due_instant_breached() -> None:
    result = evaluate("2026-03-02 10:00", [], sast("2026-03-02 12:00") + MICROSECOND)

    assert result.state == "breached"
    assert result.breached_at == sast("2026-03-02 12:00")


def test_warning_fires_strictly_after() -> None:
    at_instant = evaluate("2026-03-02 10:00", [], "2026-03-02 11:30")
    after = evaluate("2026-03-02 10:00", [], sast("2026-03-02 11:30") + MICROSECOND)

    assert at_instant.warning_at == sast("2026-03-02 11:30")
    assert not at_instant.warning_fired
    assert at_instant.next_check_at == sast("2026-03-02 11:30") + MICROSECOND
    assert after.warning_fired
    assert after.next_check_at == sast("2026-03-02 12:00") + MICROSECOND


def test_escalation_level_strictly_after() -> None:
    at_instant = evaluate("2026-03-02 10:00", [], "2026-03-02 13:00")
    after = evaluate("2026-03-02 10:00", [], sast("2026-03-02 13:00") + MICROSECOND)

    assert at_instant.escalation_level == 1
    assert at_instant.next_check_at == sast("2026-03-02 13:00") + MICROSECOND
    assert after.escalation_level == 2
    assert after.escalation_due == ((2, sast("2026-03-02 13:00")),)


def test_oh_warning_after_18_hours() -> None:
    result = evaluate("2026-03-07 10:00", [], "2026-03-08 05:00")

    assert result.warning_at == sast("2026-03-08 04:00")
    assert result.warning_fired


# Pauses and status changes.


def test_oh_pending_26_hours_moves_due() -> None:
    result = evaluate(
        "2026-03-07 10:00",
        [("pending", "2026-03-07 11:00"), ("customer_reply", "2026-03-08 13:00")],
        "2026-03-08 14:00",
    )

    assert result.policy == "OH"
    assert result.due_at == sast("2026-03-09 12:00")
    assert result.state == "running"


def test_paused_timer_has_no_due_instant() -> None:
    result = evaluate("2026-03-02 10:00", [("pending", "2026-03-02 10:30")], "2026-03-02 15:00")

    assert result.state == "paused"
    assert result.due_at is None
    assert result.paused_status == "pending_customer"
    assert result.business_minutes == 30
    assert result.next_check_at is None


def test_on_hold_does_not_pause() -> None:
    result = evaluate("2026-03-02 10:00", [("on_hold", "2026-03-02 10:30")], "2026-03-02 12:30")

    assert result.state == "breached"
    assert result.due_at == sast("2026-03-02 12:00")


def test_on_hold_ends_pending_pause() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 10:30"), ("on_hold", "2026-03-02 11:30")],
        "2026-03-02 12:30",
    )

    assert result.state == "running"
    assert result.due_at == sast("2026-03-02 13:00")
    assert result.business_minutes == 90


@pytest.mark.parametrize("kind", ["open", "reopened", "customer_reply"])
def test_event_ends_pause(kind: str) -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 10:30"), (kind, "2026-03-02 11:00")],
        "2026-03-02 11:10",
    )

    assert result.state == "running"
    assert result.due_at == sast("2026-03-02 12:30")


def test_solved_pauses_until_reopen() -> None:
    solved = evaluate("2026-03-02 10:00", [("solved", "2026-03-02 10:20")], "2026-03-04 10:00")
    reopened = evaluate(
        "2026-03-02 10:00",
        [("solved", "2026-03-02 10:20"), ("reopened", "2026-03-04 10:00")],
        "2026-03-04 10:00",
    )

    assert solved.state == "paused"
    assert solved.paused_status == "solved"
    assert reopened.state == "running"
    assert reopened.due_at == sast("2026-03-04 11:40")


def test_bot_pending_pause_then_reply() -> None:
    result = evaluate(
        "2026-03-02 17:00",
        [
            ("bot_reply", "2026-03-02 17:00"),
            ("pending", "2026-03-02 17:00"),
            ("customer_reply", "2026-03-03 08:00"),
        ],
        "2026-03-03 09:30",
    )

    assert result.due_at == sast("2026-03-03 11:00")
    assert result.business_minutes == 30


def test_response_during_pause_is_achieved() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 10:30"), ("agent_public_reply", "2026-03-02 13:00")],
        "2026-03-02 13:30",
    )

    assert result.state == "achieved"
    assert result.due_at is None
    assert result.responded_at == sast("2026-03-02 13:00")
    assert result.business_minutes == 30


def test_response_during_pause_after_breach() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 12:30"), ("agent_public_reply", "2026-03-02 13:00")],
        "2026-03-02 13:30",
    )

    assert result.state == "breached"
    assert result.due_at == sast("2026-03-02 12:00")
    assert result.responded_at == sast("2026-03-02 13:00")
    assert result.business_minutes == 150


def test_pause_exactly_at_due_is_not_breach() -> None:
    paused = evaluate("2026-03-02 10:00", [("pending", "2026-03-02 12:00")], "2026-03-02 15:00")
    resumed = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 12:00"), ("customer_reply", "2026-03-02 15:00")],
        sast("2026-03-02 15:00") + MICROSECOND,
    )

    assert paused.state == "paused"
    assert resumed.state == "breached"
    assert resumed.due_at == sast("2026-03-02 15:00")


def test_reopen_after_response_does_not_restart() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [
            ("agent_public_reply", "2026-03-02 10:30"),
            ("solved", "2026-03-02 10:31"),
            ("reopened", "2026-03-05 10:00"),
        ],
        "2026-03-05 16:00",
    )

    assert result.state == "achieved"
    assert result.business_minutes == 30
    assert result.next_check_at is None


# Cancel.


@pytest.mark.parametrize("kind", ["merged", "spam"])
def test_cancel_before_breach(kind: str) -> None:
    result = evaluate("2026-03-02 10:00", [(kind, "2026-03-02 11:00")], "2026-03-02 15:00")

    assert result.state == "cancelled"
    assert result.business_minutes == 60
    assert result.next_check_at is None


@pytest.mark.parametrize("kind", ["merged", "spam"])
def test_cancel_after_breach_stays_breached(kind: str) -> None:
    result = evaluate("2026-03-02 10:00", [(kind, "2026-03-02 13:30")], "2026-03-02 17:00")

    assert result.state == "breached"
    assert result.escalation_level == 2
    assert result.business_minutes == 210
    assert result.next_check_at is None


def test_cancel_during_pause() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 10:30"), ("merged", "2026-03-02 14:00")],
        "2026-03-02 15:00",
    )

    assert result.state == "cancelled"
    assert result.due_at is None


# Escalation.


def test_oh_sunday_breach_l2_monday() -> None:
    at_1000 = evaluate("2026-03-07 10:00", [], "2026-03-09 10:00")
    after_1000 = evaluate("2026-03-07 10:00", [], "2026-03-09 10:00:01")

    assert at_1000.state == "breached"
    assert at_1000.breached_at == sast("2026-03-08 10:00")
    assert at_1000.escalation_level == 1
    assert at_1000.next_check_at == sast("2026-03-09 10:00") + MICROSECOND
    assert after_1000.escalation_level == 2
    assert after_1000.escalation_due == ((2, sast("2026-03-09 10:00")),)


def test_escalation_walk_reaches_l4_and_stops() -> None:
    result = evaluate("2026-03-07 10:00", [], "2026-03-10 09:00")

    assert result.escalation_level == 4
    assert result.escalation_due == (
        (2, sast("2026-03-09 10:00")),
        (3, sast("2026-03-09 13:00")),
        (4, sast("2026-03-09 17:00")),
    )
    assert result.next_check_at is None


def test_closing_breach_escalates_next_morning() -> None:
    result = evaluate("2026-03-02 16:00", [], "2026-03-03 09:30")

    assert result.escalation_level == 1
    assert result.next_check_at == sast("2026-03-03 10:00") + MICROSECOND


def test_escalation_waits_while_paused() -> None:
    result = evaluate("2026-03-02 10:00", [("pending", "2026-03-02 12:30")], "2026-03-02 17:00")

    assert result.state == "breached"
    assert result.escalation_level == 1
    assert result.paused_status == "pending_customer"
    assert result.next_check_at is None


def test_escalation_resumes_after_pause() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("pending", "2026-03-02 12:30"), ("customer_reply", "2026-03-02 14:00")],
        "2026-03-02 14:20",
    )

    assert result.escalation_level == 1
    assert result.next_check_at == sast("2026-03-02 14:30") + MICROSECOND


def test_reply_after_l2_keeps_l2() -> None:
    result = evaluate(
        "2026-03-02 10:00", [("agent_public_reply", "2026-03-02 14:00")], "2026-03-03 12:00"
    )

    assert result.state == "breached"
    assert result.escalation_level == 2
    assert result.responded_at == sast("2026-03-02 14:00")
    assert result.next_check_at is None


def test_custom_escalation_delays() -> None:
    settings = SlaSettings(escalation_minutes=(30,))

    result = evaluate("2026-03-02 10:00", [], "2026-03-02 16:00", settings=settings)

    assert result.escalation_level == 2
    assert result.next_check_at is None


# Inputs.


def test_events_after_now_are_ignored() -> None:
    result = evaluate(
        "2026-03-02 10:00", [("agent_public_reply", "2026-03-02 11:00")], "2026-03-02 10:30"
    )

    assert result.state == "running"
    assert result.responded_at is None


def test_events_in_any_order() -> None:
    result = evaluate(
        "2026-03-02 10:00",
        [("customer_reply", "2026-03-02 11:00"), ("pending", "2026-03-02 10:30")],
        "2026-03-02 11:10",
    )

    assert result.due_at == sast("2026-03-02 12:30")


def test_results_in_calendar_time_zone() -> None:
    result = evaluate_sla(
        created_at=datetime.fromisoformat("2026-03-02T08:00:00+00:00"),
        channel="email",
        events=[],
        calendar=CALENDAR,
        now=datetime.fromisoformat("2026-03-02T08:30:00Z"),
    )

    assert result.policy == "BH"
    assert result.due_at is not None
    assert result.due_at.isoformat() == "2026-03-02T12:00:00+02:00"


def test_unknown_event_kind_rejected() -> None:
    with pytest.raises(ValueError, match="'agent_reply'"):
        evaluate("2026-03-02 10:00", [("agent_reply", "2026-03-02 10:30")], "2026-03-02 11:00")


def test_naive_now_rejected() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        evaluate_sla(
            created_at=sast("2026-03-02 10:00"),
            channel="email",
            events=[],
            calendar=CALENDAR,
            now=datetime(2026, 3, 2, 11),
        )


@pytest.mark.parametrize(
    "overrides",
    [
        {"first_response_bh_minutes": 0},
        {"warning_fraction": 1.0},
        {"escalation_minutes": (240, 60)},
        {"escalation_minutes": (0, 60)},
    ],
)
def test_invalid_settings_rejected(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        SlaSettings(**overrides)  # type: ignore[arg-type]


# The scheduler contract: without new events the result changes first at next_check_at.


@dataclass(frozen=True)
class RandomTicket:
    created_at: datetime
    channel: str
    events: list[SlaEvent]
    now: datetime

    def evaluate_at(self, now: datetime) -> SlaResult:
        return evaluate_sla(
            created_at=self.created_at,
            channel=self.channel,
            events=self.events,
            calendar=CALENDAR,
            now=now,
        )


@st.composite
def random_tickets(draw: st.DrawFn) -> RandomTicket:
    created = draw(
        st.datetimes(
            min_value=datetime(2026, 1, 1),
            max_value=datetime(2027, 12, 20),
            timezones=st.just(SAST),
        )
    )
    offsets = draw(st.lists(st.integers(0, 3 * 24 * 60), max_size=10))
    kinds = st.sampled_from(sorted(EVENT_KINDS))
    events = [SlaEvent(draw(kinds), created + timedelta(minutes=offset)) for offset in offsets]
    last = max((event.at for event in events), default=created)
    return RandomTicket(
        created_at=created,
        channel=draw(st.sampled_from(["email", "chat", "phone", "agent_outbound"])),
        events=events,
        now=last + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60))),
    )


def observable(result: SlaResult) -> tuple[object, ...]:
    """Return the parts of a result that only a passed threshold or a new event can change."""
    return (
        result.state,
        result.due_at,
        result.warning_at,
        result.warning_fired,
        result.escalation_level,
        result.escalation_due,
    )


@given(ticket=random_tickets())
def test_next_check_at_is_next_change(ticket: RandomTicket) -> None:
    result = ticket.evaluate_at(ticket.now)
    next_check = result.next_check_at

    if next_check is None:
        much_later = ticket.evaluate_at(ticket.now + timedelta(days=40))
        assert observable(much_later) == observable(result)
        return

    assert next_check > ticket.now
    assert observable(ticket.evaluate_at(next_check - MICROSECOND)) == observable(result)
    assert observable(ticket.evaluate_at(next_check)) != observable(result)
