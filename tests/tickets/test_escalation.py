"""The pure decisions of the SLA alert walk."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tickets import escalation
from tickets.escalation import AlertPlan, Audience, Threshold
from tickets.sla import SlaResult

SAST = ZoneInfo("Africa/Johannesburg")
T = datetime(2026, 12, 1, 10, 0, tzinfo=SAST)
WARN = Threshold(1, "warning", 1, T)
BREACH = Threshold(2, "breach", 1, T + timedelta(minutes=30))
L2 = Threshold(3, "escalation", 2, T + timedelta(minutes=90))
L3 = Threshold(4, "escalation", 3, T + timedelta(minutes=270))


def result(**fields: object) -> SlaResult:
    return SlaResult(policy="BH", state="running", **fields)  # type: ignore[arg-type]


def test_thresholds_in_walk_order() -> None:
    passed = escalation.passed_thresholds(
        result(
            warning_at=WARN.at,
            warning_fired=True,
            breached_at=BREACH.at,
            escalation_due=((2, L2.at), (3, L3.at)),
        )
    )

    assert passed == [WARN, BREACH, L2, L3]
    assert escalation.last_step(passed) == 4


def test_unfired_warning_not_passed() -> None:
    assert escalation.passed_thresholds(result(warning_at=WARN.at, warning_fired=False)) == []


@pytest.mark.parametrize(
    ("recorded", "imported_at", "stopped", "expected"),
    [
        (0, None, False,
         [("warning", "skipped"), ("breach", "pending"), ("escalation", "pending")]),
        (1, None, False, [("breach", "pending"), ("escalation", "pending")]),
        (2, None, False, [("escalation", "pending")]),
        (3, None, False, []),
        # Imported after the breach but before L2: only L2 is sent.
        (0, BREACH.at + timedelta(minutes=1), False,
         [("warning", "suppressed"), ("breach", "suppressed"), ("escalation", "pending")]),
        # Imported after everything: nothing is sent.
        (0, L2.at + timedelta(minutes=1), False,
         [("warning", "suppressed"), ("breach", "suppressed"), ("escalation", "suppressed")]),
        # Answered before the scheduler recorded the alerts.
        (1, None, True, [("breach", "skipped"), ("escalation", "skipped")]),
    ],
)
def test_plan_alerts(
    recorded: int, imported_at: datetime | None, stopped: bool, expected: list[tuple[str, str]]
) -> None:
    plans = escalation.plan_alerts(
        [WARN, BREACH, L2], recorded_step=recorded, imported_at=imported_at, stopped=stopped
    )

    assert [(plan.threshold.kind, plan.state) for plan in plans] == expected


def test_warning_alone_is_pending() -> None:
    plans = escalation.plan_alerts([WARN], recorded_step=0, imported_at=None)

    assert plans == [AlertPlan(WARN, "pending")]


@pytest.mark.parametrize(
    ("current", "expected"),
    [(1, 3), (2, 3), (3, None), (4, None)],
)
def test_raised_level_only_goes_up(current: int, expected: int | None) -> None:
    plans = [AlertPlan(L2, "pending"), AlertPlan(L3, "suppressed")]

    assert escalation.raised_level(current, plans) == expected


def test_no_escalation_no_raise() -> None:
    assert escalation.raised_level(1, [AlertPlan(BREACH, "pending")]) is None


@pytest.mark.parametrize(
    ("kind", "has_assignee", "audience"),
    [
        ("warning", True, Audience.ASSIGNEE),
        ("warning", False, Audience.LEVEL),
        ("breach", True, Audience.LEVEL_AND_MANAGERS),
        ("breach", False, Audience.LEVEL_AND_MANAGERS),
        ("escalation", True, Audience.LEVEL),
    ],
)
def test_audience(kind: str, has_assignee: bool, audience: Audience) -> None:
    assert escalation.audience_for(kind, has_assignee=has_assignee) is audience


@pytest.mark.parametrize(
    ("attempts", "minutes"), [(0, 1), (1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (12, 60)]
)
def test_retry_delay(attempts: int, minutes: int) -> None:
    assert escalation.retry_delay_minutes(attempts) == minutes
