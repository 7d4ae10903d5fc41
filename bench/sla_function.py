"""Measure how many first-response SLA evaluations per second evaluate_sla manages.

Usage: .venv/bin/python bench/sla_function.py [--tickets N] [--rounds N] [--seed N]

The tickets are random but reproducible: creation instants spread over 2026 and 2027, every
channel, and 0 to 10 events each (replies, notes, pauses, resumes, merges) within a few days.
Each is evaluated at an instant after its last event. The first round starts with an empty
calendar cache, and the later rounds show the steady state of a long-running worker.

A last, worst-case set gives every ticket 10 events that pause and resume the clock with no
reply, evaluated two days later, so that every threshold up to L4 is computed.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tickets.business_calendar import BusinessCalendar, south_african_holidays  # noqa: E402
from tickets.sla import SlaEvent, evaluate_sla  # noqa: E402

SAST = ZoneInfo("Africa/Johannesburg")
CHANNELS = ["email", "web_form", "chat", "chat_offline", "whatsapp", "phone", "agent_outbound"]
# Weighted so that most tickets see some pausing and resuming before a reply.
EVENT_KINDS = [
    "received",
    "internal_note",
    "auto_ack",
    "bot_reply",
    "customer_reply",
    "customer_reply",
    "pending",
    "pending",
    "on_hold",
    "open",
    "solved",
    "reopened",
    "agent_public_reply",
    "agent_call",
    "merged",
    "spam",
]


def make_ticket(rng: random.Random) -> dict[str, Any]:
    created = datetime(2026, 1, 1, tzinfo=SAST) + timedelta(seconds=rng.randrange(730 * 86_400))
    instant = created
    events = []
    for _ in range(rng.randint(0, 10)):
        instant += timedelta(seconds=rng.randrange(12 * 3600))
        events.append(SlaEvent(rng.choice(EVENT_KINDS), instant))
    rng.shuffle(events)
    return {
        "created_at": created,
        "channel": rng.choice(CHANNELS),
        "events": events,
        "now": instant + timedelta(seconds=rng.randrange(3 * 86_400)),
    }


def make_worst_case_ticket(rng: random.Random) -> dict[str, Any]:
    created = datetime(2026, 3, 2, 9, tzinfo=SAST) + timedelta(seconds=rng.randrange(300 * 86_400))
    instant = created
    events = []
    for index in range(10):
        instant += timedelta(minutes=rng.randint(5, 40))
        events.append(SlaEvent("pending" if index % 2 == 0 else "customer_reply", instant))
    return {
        "created_at": created,
        "channel": "email",
        "events": events,
        "now": instant + timedelta(days=2),
    }


def run_round(tickets: list[dict[str, Any]], calendar: BusinessCalendar) -> float:
    """Evaluate every ticket once and return evaluations per second."""
    started = time.perf_counter()
    for ticket in tickets:
        evaluate_sla(calendar=calendar, **ticket)
    return len(tickets) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=20_000, help="tickets per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds after the first, cold one")
    parser.add_argument("--seed", type=int, default=1, help="random seed for the tickets")
    options = parser.parse_args()

    rng = random.Random(options.seed)
    tickets = [make_ticket(rng) for _ in range(options.tickets)]
    calendar = BusinessCalendar(closed_dates=frozenset(south_african_holidays(range(2026, 2029))))
    event_counts = [len(ticket["events"]) for ticket in tickets]

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"{len(tickets)} tickets, {min(event_counts)}-{max(event_counts)} events "
        f"(mean {statistics.mean(event_counts):.1f}), one process"
    )
    print(f"cold cache: {run_round(tickets, calendar):,.0f} evaluations/s")
    rates = [run_round(tickets, calendar) for _ in range(options.rounds)]
    print(
        f"warm cache: median {statistics.median(rates):,.0f} evaluations/s, "
        f"min {min(rates):,.0f}, max {max(rates):,.0f} over {len(rates)} rounds"
    )

    ten_events = [ticket for ticket in tickets if len(ticket["events"]) == 10]
    ten_rates = [run_round(ten_events, calendar) for _ in range(options.rounds)]
    print(
        f"tickets with exactly 10 events ({len(ten_events)}): "
        f"median {statistics.median(ten_rates):,.0f} evaluations/s"
    )

    worst = [make_worst_case_ticket(rng) for _ in range(options.tickets // 4)]
    worst_rates = [run_round(worst, calendar) for _ in range(options.rounds)]
    print(
        f"worst case, 10 pause and resume events, breached to L4 ({len(worst)}): "
        f"median {statistics.median(worst_rates):,.0f} evaluations/s"
    )


if __name__ == "__main__":
    main()
