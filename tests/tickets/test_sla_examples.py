"""The worked-examples table: every row evaluated by evaluate_sla, column by column."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import pytest

from tickets.business_calendar import BusinessCalendar, south_african_holidays
from tickets.sla import (
    SlaEvent,
    evaluate_sla,
    format_examples_table,
    parse_events_column,
    parse_timestamp,
    recompute_examples_table,
)

EXAMPLES_PATH = Path(__file__).parent / "data" / "sla_examples.csv"
CALENDAR = BusinessCalendar(closed_dates=frozenset(south_african_holidays(range(2025, 2029))))


def read_examples() -> list[dict[str, str]]:
    with EXAMPLES_PATH.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


EXAMPLES = read_examples()


def optional_instant(text: str) -> datetime | None:
    return parse_timestamp(text) if text else None


@pytest.mark.parametrize("row", EXAMPLES, ids=[row["id"] for row in EXAMPLES])
def test_example_row(row: dict[str, str]) -> None:
    expected_state, _, check_text = row["expected_state_at"].partition("@")
    result = evaluate_sla(
        created_at=parse_timestamp(row["created_at"]),
        channel=row["channel"],
        events=parse_events_column(row["events"]),
        calendar=CALENDAR,
        now=parse_timestamp(check_text),
    )

    assert result.policy == row["expected_policy"]
    assert result.due_at == optional_instant(row["expected_first_response_due"])
    assert result.state == expected_state
    assert result.business_minutes == int(row["expected_business_minutes_elapsed_at_check"])
    fired_warning = result.warning_at if result.warning_fired else None
    assert fired_warning == optional_instant(row["expected_warning_at"])
    assert f"L{result.escalation_level}" == row["expected_escalation_level_at_check"]


def test_examples_table_has_rows() -> None:
    assert len(EXAMPLES) >= 10


def test_recompute_reproduces_table() -> None:
    recomputed = recompute_examples_table(EXAMPLES)

    assert recomputed == EXAMPLES
    assert [list(row) for row in recomputed] == [list(row) for row in EXAMPLES]


def test_recompute_writes_identical_csv() -> None:
    recomputed = recompute_examples_table(EXAMPLES)
    fieldnames = list(EXAMPLES[0])

    text = format_examples_table(recomputed, fieldnames)

    assert text == EXAMPLES_PATH.read_text(encoding="utf-8")


def test_recompute_overwrites_wrong_expectations() -> None:
    wrong = dict(EXAMPLES[1])
    wrong["expected_first_response_due"] = "2030-01-01T00:00:00+02:00"
    wrong["expected_state_at"] = "achieved@2026-03-02T16:30:00+02:00"
    wrong["expected_warning_at"] = ""

    (recomputed,) = recompute_examples_table([wrong], calendar=CALENDAR)

    assert recomputed == EXAMPLES[1]


def test_recompute_rejects_missing_column() -> None:
    row = dict(EXAMPLES[0])
    del row["expected_policy"]

    with pytest.raises(ValueError, match="expected_policy"):
        recompute_examples_table([row])


def test_parse_events_with_channel() -> None:
    events = parse_events_column(
        "agent_public_reply:whatsapp@2026-03-02T11:15:00+02:00; pending@2026-03-02T09:00:00Z"
    )

    assert events == [
        SlaEvent("agent_public_reply", parse_timestamp("2026-03-02T11:15:00+02:00"), "whatsapp"),
        SlaEvent("pending", parse_timestamp("2026-03-02T11:00:00+02:00"), ""),
    ]


def test_parse_events_empty_cell() -> None:
    assert parse_events_column("") == []


def test_parse_events_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'agent_reply'"):
        parse_events_column("agent_reply@2026-03-02T11:15:00+02:00")


def test_parse_events_rejects_missing_timestamp() -> None:
    with pytest.raises(ValueError, match="missing '@timestamp'"):
        parse_events_column("pending")


def test_parse_events_rejects_naive_timestamp() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_events_column("pending@2026-03-02T11:15:00")


def test_recompute_rejects_missing_check_instant() -> None:
    row = dict(EXAMPLES[0])
    row["expected_state_at"] = "achieved"

    with pytest.raises(ValueError, match="state@check_instant"):
        recompute_examples_table([row], calendar=CALENDAR)
