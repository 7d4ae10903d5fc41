"""The SLA management commands: holiday seeding, escalation levels, recompute, one tick."""

from __future__ import annotations

import io
from datetime import date

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.management import CommandError, call_command

from tests.tickets.sla_helpers import fresh_calendar, open_ticket
from tickets.models import EscalationLevelConfig, Holiday, SlaNotification
from tickets.notifications import manager_addresses

pytestmark = pytest.mark.django_db
__all__ = ["fresh_calendar"]


def run(*args: str, **options: object) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_seed_holidays_sources() -> None:
    output = run("seed_holidays", years="2026-2027")

    assert "added" in output
    assert Holiday.objects.get(date=date(2026, 11, 4)).source == "declared"
    observed = Holiday.objects.get(date=date(2026, 8, 10))
    assert observed.source == "act"
    assert "observed" in observed.name
    # A Saturday holiday stays on the Saturday; no Monday is added for it.
    assert Holiday.objects.filter(date=date(2026, 3, 21)).exists()
    assert not Holiday.objects.filter(date=date(2026, 3, 23)).exists()
    assert Holiday.objects.filter(date=date(2027, 12, 27)).exists()


def test_seed_holidays_keeps_edits() -> None:
    Holiday.objects.create(
        date=date(2026, 12, 16), name="Reconciliation (office closed)", source="company"
    )

    run("seed_holidays", years="2026")
    run("seed_holidays", years="2026")

    kept = Holiday.objects.get(date=date(2026, 12, 16))
    assert kept.name == "Reconciliation (office closed)"
    assert kept.source == "company"
    assert Holiday.objects.filter(date__year=2026).count() == 14


@pytest.mark.parametrize("years", ["20x6", "2028-2026", "1990"])
def test_seed_holidays_rejects_years(years: str) -> None:
    with pytest.raises(CommandError, match="--years"):
        run("seed_holidays", years=years)


def test_setup_escalation_levels_twice() -> None:
    run("setup_escalation_levels")
    EscalationLevelConfig.objects.filter(level=2).update(extra_addresses="someone@impactlink.org")

    run("setup_escalation_levels")

    assert list(EscalationLevelConfig.objects.values_list("level", flat=True)) == [1, 2, 3, 4]
    assert EscalationLevelConfig.objects.get(level=2).extra_addresses == "someone@impactlink.org"
    assert EscalationLevelConfig.objects.get(level=4).address_list() == ["cto@impactlink.org"]
    assert manager_addresses() == ["support-managers@impactlink.org"]
    assert not get_user_model().objects.get(username="support-managers").has_usable_password()


def test_sla_tick_command_at_instant() -> None:
    run("setup_escalation_levels")
    open_ticket("2026-12-01 10:00")

    output = run("sla_tick", at="2026-12-01T11:31:00+02:00")

    assert "1 alert(s) recorded" in output
    assert SlaNotification.objects.get().state == "sent"


def test_sla_tick_rejects_naive_instant() -> None:
    with pytest.raises(CommandError, match="no UTC offset"):
        run("sla_tick", at="2026-12-01T11:31:00")


def test_recompute_sla_named_tickets() -> None:
    ticket = open_ticket("2026-12-01 10:00")

    output = run("recompute_sla", f"IL-{ticket.pk}")

    assert "Recomputed 1 ticket(s)" in output
    with pytest.raises(CommandError, match="not found"):
        run("recompute_sla", "IL-999999")


def test_recompute_sla_open_timers() -> None:
    open_ticket("2026-12-01 10:00")

    assert "Recomputed 1 open SLA timer(s)" in run("recompute_sla")


def test_weekly_summary_command() -> None:
    run("setup_escalation_levels")
    open_ticket("2026-12-01 10:00")

    output = run("send_weekly_sla_summary", week_of="2026-12-02")

    assert "sent to 1 manager(s)" in output
    assert mail.outbox[-1].to == ["support-managers@impactlink.org"]
    assert "week of 30 Nov 2026" in mail.outbox[-1].subject
