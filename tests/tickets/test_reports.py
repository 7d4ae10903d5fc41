"""SLA report figures on a known set of timers, the CSV exports, the page and the weekly mail.

The set, in SAST, checked after a scheduler run on Thursday 3 Dec 2026 at 16:00:

| Ticket | Start        | Channel  | Category  | First response | Outcome                   |
| A      | Tue 10:00 BH | email    | payment   | Tue 10:30      | achieved, 30 min          |
| B      | Tue 11:00 BH | chat     | account   | Tue 14:00      | breached (due 13:00), 180 |
| C      | Tue 20:00 OH | email    | payment   | Wed 09:30      | achieved, 30 min          |
| D      | Wed 09:00 BH | web form | donation  | none           | open breach, reaches L4   |
| E      | Wed 10:00 BH | email    | payment   | none, solved   | excluded (paused, solved) |
| F      | Wed 10:00 BH | email    | payment   | none, spam     | excluded (cancelled)      |
| G      | Thu 09:00 BH | email    | technical | Thu 10:00      | achieved, 60 min          |
| H      | Thu 01:00 OH | email    | payment   | none           | running (Wed 23:00 UTC)   |
"""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from tests.tickets.sla_helpers import add_message, fresh_calendar, open_ticket, sast, set_status
from tickets import reports, services
from tickets.models import Channel, Status, TicketEvent
from tickets.reports import ReportFilters, build_report, percentile
from tickets.sla_scheduler import run_sla_scheduler
from tickets.sla_sync import refresh_ticket_sla

pytestmark = pytest.mark.django_db
__all__ = ["fresh_calendar"]

WEEK = ReportFilters(start=date(2026, 11, 30), end=date(2026, 12, 4))


@pytest.fixture
def timers(django_user_model) -> dict[str, int]:  # type: ignore[no-untyped-def]
    django_user_model.objects.create(
        username="pieter", email="pieter@impactlink.org", is_staff=True
    )
    made = {
        "A": add_message(open_ticket("2026-12-01 10:00"), "2026-12-01 10:30"),
        "B": add_message(
            open_ticket("2026-12-01 11:00", channel=Channel.CHAT, category="account_problems"),
            "2026-12-01 14:00",
        ),
        "C": add_message(open_ticket("2026-12-01 20:00"), "2026-12-02 09:30"),
        "D": open_ticket("2026-12-02 09:00", channel=Channel.WEB_FORM, category="donation_issues"),
        "E": set_status(open_ticket("2026-12-02 10:00"), Status.SOLVED, "2026-12-02 10:10"),
        "F": open_ticket("2026-12-02 10:00"),
        "G": add_message(
            open_ticket("2026-12-03 09:00", category="technical_support"), "2026-12-03 10:00"
        ),
        "H": open_ticket("2026-12-03 01:00"),
    }
    services.record_event(
        made["F"],
        kind=TicketEvent.Kind.SPAM,
        actor_label="test",
        occurred_at=sast("2026-12-02 10:05"),
    )
    refresh_ticket_sla(made["F"], now=sast("2026-12-02 10:06"))
    run_sla_scheduler(now=sast("2026-12-03 16:00"))
    return {name: ticket.pk for name, ticket in made.items()}


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.9) == 7
    assert percentile([30, 30, 60, 180], 0.5) == 45
    assert percentile([30, 30, 60, 180], 0.9) == pytest.approx(144)
    assert percentile([30, 60, 180], 0.9) == pytest.approx(156)


def test_overall_figures(timers: dict[str, int]) -> None:
    report = build_report(WEEK)

    assert sorted(row.ticket_id for row in report.rows) == sorted(timers[name] for name in "ABCDGH")
    assert report.overall.timers == 6
    assert report.overall.achieved == 3
    assert report.overall.breached == 2
    assert report.overall.open == 1
    assert report.overall.attainment == pytest.approx(0.6)
    assert report.overall.median_minutes == 45
    assert report.overall.p90_minutes == pytest.approx(144)
    assert report.by_state == {"achieved": 3, "breached": 2, "running": 1}


def test_figures_per_policy(timers: dict[str, int]) -> None:
    report = build_report(WEEK)
    bh, oh = report.by_policy["BH"], report.by_policy["OH"]

    assert (bh.timers, bh.achieved, bh.breached, bh.open) == (4, 2, 2, 0)
    assert bh.attainment == pytest.approx(0.5)
    assert bh.median_minutes == 60
    assert bh.p90_minutes == pytest.approx(156)
    assert (oh.timers, oh.achieved, oh.breached, oh.open) == (2, 1, 0, 1)
    assert oh.attainment == 1.0
    assert oh.median_minutes == 30
    assert oh.p90_minutes == 30


def test_open_breaches_by_level(timers: dict[str, int]) -> None:
    report = build_report(WEEK)

    assert report.open_breaches_by_level == {1: 0, 2: 0, 3: 0, 4: 1}
    assert [row.ticket_id for row in report.open_breaches] == [timers["D"]]


def test_open_breaches_ignore_period(timers: dict[str, int]) -> None:
    next_week = build_report(ReportFilters(start=date(2026, 12, 7), end=date(2026, 12, 11)))

    assert next_week.overall.timers == 0
    assert next_week.open_breaches_by_level == {1: 0, 2: 0, 3: 0, 4: 1}
    assert [row.ticket_id for row in next_week.open_breaches] == [timers["D"]]


def test_grouped_by_sast_date_of_start(timers: dict[str, int]) -> None:
    report = build_report(WEEK)
    counts = {day: tally.timers for day, tally in report.by_day.items()}

    assert counts == {
        date(2026, 11, 30): 0,
        date(2026, 12, 1): 3,
        date(2026, 12, 2): 1,
        # H started Thursday 01:00 SAST, which is still Wednesday in UTC.
        date(2026, 12, 3): 2,
        date(2026, 12, 4): 0,
    }
    assert report.by_day[date(2026, 12, 1)].attainment == pytest.approx(2 / 3)
    assert list(report.by_week) == [date(2026, 11, 30)]
    assert report.by_week[date(2026, 11, 30)].timers == 6


def test_volume_by_channel_and_category(timers: dict[str, int]) -> None:
    report = build_report(WEEK)

    assert {key: tally.timers for key, tally in report.by_channel.items()} == {
        "email": 4,
        "chat": 1,
        "web_form": 1,
    }
    assert {key: tally.timers for key, tally in report.by_category.items()} == {
        "payment_issues": 3,
        "account_problems": 1,
        "donation_issues": 1,
        "technical_support": 1,
    }


def test_filters_narrow_figures(timers: dict[str, int], django_user_model) -> None:  # type: ignore[no-untyped-def]
    pieter = django_user_model.objects.get(username="pieter")

    email = build_report(ReportFilters(start=WEEK.start, end=WEEK.end, channel="email"))
    by_agent = build_report(ReportFilters(start=WEEK.start, end=WEEK.end, agent_id=pieter.pk))
    payment = build_report(ReportFilters(start=WEEK.start, end=WEEK.end, category="payment_issues"))
    tuesday = build_report(ReportFilters(start=date(2026, 12, 1), end=date(2026, 12, 1)))

    assert (email.overall.timers, email.overall.attainment) == (4, 1.0)
    assert (by_agent.overall.achieved, by_agent.overall.breached) == (3, 1)
    assert by_agent.overall.attainment == pytest.approx(0.75)
    assert payment.overall.timers == 3
    assert tuesday.overall.timers == 3


def test_figures_csv(timers: dict[str, int]) -> None:
    rows = list(csv.reader(io.StringIO(reports.figures_csv(build_report(WEEK)))))

    assert rows[0] == list(reports.FIGURE_COLUMNS)
    assert ["overall", "all", "6", "3", "2", "1", "0.6000", "45.0", "144.0"] in rows
    assert ["policy", "BH", "4", "2", "2", "0", "0.5000", "60.0", "156.0"] in rows
    assert ["day", "2026-12-03", "2", "1", "0", "1", "1.0000", "60.0", "60.0"] in rows
    assert ["open_breaches", "L4", "1", "", "1", "", "", "", ""] in rows


def test_tickets_csv(timers: dict[str, int]) -> None:
    rows = list(csv.DictReader(io.StringIO(reports.tickets_csv(build_report(WEEK)))))

    assert len(rows) == 6
    first = next(row for row in rows if row["ticket"] == f"IL-{timers['A']}")
    assert first["policy"] == "BH"
    assert first["state"] == "achieved"
    assert first["started_at"] == "2026-12-01T10:00:00+02:00"
    assert first["responded_at"] == "2026-12-01T10:30:00+02:00"
    assert first["business_minutes"] == "30"
    assert first["agent"] == "pieter"
    assert first["stopped"] == "yes"


def test_csv_cell_cannot_be_formula() -> None:
    assert reports._safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert reports._safe_cell("Refund") == "Refund"


def test_page_shows_figures(timers: dict[str, int], admin_client) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(
        reverse("tickets:sla_report"), {"start": "2026-11-30", "end": "2026-12-04"}
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "60.0%" in body
    assert "<svg" in body
    assert f"IL-{timers['D']}" in body
    assert "L4 CTO / VP engineering" in body


def test_page_rejects_bad_period(admin_client) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(
        reverse("tickets:sla_report"), {"start": "2026-12-05", "end": "2026-12-01"}
    )

    assert response.status_code == 200
    assert "end is before its start" in response.content.decode()


@pytest.mark.parametrize(
    "period",
    [
        {"end": "0001-01-01"},
        {"start": "9999-12-20", "end": "9999-12-31"},
        {"start": "0001-01-01", "end": "0001-01-10"},
    ],
)
@pytest.mark.parametrize("name", ["sla_report", "sla_report_figures_csv", "sla_report_tickets_csv"])
def test_extreme_dates_not_500(admin_client, name: str, period: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(reverse(f"tickets:{name}"), period)

    assert response.status_code in (200, 400)


def test_page_needs_staff(client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    user = django_user_model.objects.create_user(username="donor", password="x-long-password")
    client.force_login(user)

    response = client.get(reverse("tickets:sla_report"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_csv_download(timers: dict[str, int], admin_client) -> None:  # type: ignore[no-untyped-def]
    response = admin_client.get(
        reverse("tickets:sla_report_tickets_csv"), {"start": "2026-11-30", "end": "2026-12-04"}
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "sla-tickets-2026-11-30-to-2026-12-04.csv" in response["Content-Disposition"]
    assert response.content.decode().count("\n") == 7


def test_weekly_summary_mail(timers: dict[str, int], django_user_model) -> None:  # type: ignore[no-untyped-def]
    manager = django_user_model.objects.create(username="nomsa", email="nomsa@impactlink.org")
    manager.user_permissions.add(
        Permission.objects.get(codename="receive_sla_feed", content_type__app_label="tickets")
    )
    mail.outbox.clear()

    count = reports.send_weekly_summary(now=sast("2026-12-07 08:00"))

    assert count == 1
    message = mail.outbox[0]
    assert message.to == ["nomsa@impactlink.org"]
    assert "60.0% attainment" in message.subject
    assert "Attainment:     60.0% (3 achieved, 2 breached)" in message.body
    assert "start=2026-11-30&end=2026-12-06" in message.body
    assert message.attachments[0][0] == "sla-figures-2026-11-30.csv"


def test_weekly_summary_without_managers() -> None:
    assert reports.send_weekly_summary(now=sast("2026-12-07 08:00")) == 0
