"""Pure decisions of the SLA alert walk: which thresholds passed, which alerts to record, who hears.

The walk has five thresholds in a fixed order: the at-risk warning, the breach (both L1), then
escalation levels L2, L3 and L4. Each gets at most one SlaNotification row per ticket,
because a unique constraint on (ticket, kind, level) rejects a second one. Nothing here
reads the clock or the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from tickets.sla import SlaResult

WARNING = "warning"
BREACH = "breach"
ESCALATION = "escalation"

PENDING = "pending"
SUPPRESSED = "suppressed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Threshold:
    """One passed threshold: its position in the walk (1 = warning), kind, level and instant."""

    step: int
    kind: str
    level: int
    at: datetime


@dataclass(frozen=True)
class AlertPlan:
    threshold: Threshold
    # PENDING (to be sent), SUPPRESSED (past before a backfill import) or SKIPPED.
    state: str


def passed_thresholds(result: SlaResult) -> list[Threshold]:
    """Return the thresholds `result` has passed, in walk order."""
    passed: list[Threshold] = []
    if result.warning_fired and result.warning_at is not None:
        passed.append(Threshold(1, WARNING, 1, result.warning_at))
    if result.breached_at is not None:
        passed.append(Threshold(2, BREACH, 1, result.breached_at))
    for level, instant in result.escalation_due:
        passed.append(Threshold(level + 1, ESCALATION, level, instant))
    return passed


def last_step(thresholds: Sequence[Threshold]) -> int:
    return max((threshold.step for threshold in thresholds), default=0)


def plan_alerts(
    thresholds: Sequence[Threshold],
    *,
    recorded_step: int,
    imported_at: datetime | None,
    stopped: bool = False,
) -> list[AlertPlan]:
    """Decide what to record for the thresholds past `recorded_step`.

    - `imported_at` is set for a ticket from a history import: thresholds that passed before
      the import are recorded as suppressed and never sent.
    - A timer that `stopped` (answered or cancelled) before its alerts were recorded gets
      them recorded as skipped: the news is already old.
    - A warning that passed together with the breach is skipped, since the breach alert
      reaches the same people with newer news.
    """
    new = [threshold for threshold in thresholds if threshold.step > recorded_step]
    breach_is_new = any(threshold.kind == BREACH for threshold in new)
    plans = []
    for threshold in new:
        if imported_at is not None and threshold.at < imported_at:
            state = SUPPRESSED
        elif stopped or (threshold.kind == WARNING and breach_is_new):
            state = SKIPPED
        else:
            state = PENDING
        plans.append(AlertPlan(threshold, state))
    return plans


def raised_level(current_level: int, plans: Sequence[AlertPlan]) -> int | None:
    """Return the escalation level the ticket moves to, or None when it stays.

    The walk only raises the level: a level set higher by hand is kept, and a level an agent
    lowered is not raised again for an escalation recorded earlier.
    """
    reached = max(
        (plan.threshold.level for plan in plans if plan.threshold.kind == ESCALATION), default=0
    )
    return reached if reached > current_level else None


class Audience(Enum):
    """Recipient group of an alert; the people in each group are set per level in admin."""

    ASSIGNEE = "assignee"
    LEVEL = "level"
    LEVEL_AND_MANAGERS = "level_and_managers"


def audience_for(kind: str, *, has_assignee: bool) -> Audience:
    """Return who hears an alert of `kind`.

    The warning goes to the assigned agent, or to the L1 team when nobody is assigned. The
    breach alert goes to the L1 team (its lead) and the managers' SLA feed. An escalation
    goes to the level it reaches.
    """
    if kind == WARNING:
        return Audience.ASSIGNEE if has_assignee else Audience.LEVEL
    if kind == BREACH:
        return Audience.LEVEL_AND_MANAGERS
    return Audience.LEVEL


def retry_delay_minutes(attempts: int) -> int:
    """Return the wait before the next delivery attempt after `attempts` failed ones.

    Doubles from 1 minute and stays at 60 minutes from the seventh failure on.
    """
    return min(2 ** max(attempts - 1, 0), 60)
