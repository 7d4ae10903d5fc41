"""Manager reports on the first-response SLA: the figures, their CSV form and the weekly mail.

Timers are grouped by the SLA time zone's date of their clock start S. Stopped timers are read
from SlaOutcome, so a later holiday edit cannot change them; timers that have not stopped are
read from the tickets. Cancelled timers, and timers paused because the ticket was solved or
closed without a reply, are left out of every figure.

Percentiles interpolate linearly between the closest ranks, as PostgreSQL's percentile_cont
and numpy's default do; with one value, every percentile is that value.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse

from tickets.models import (
    Category,
    Channel,
    SlaOutcome,
    SlaState,
    Status,
    Ticket,
)
from tickets.notifications import manager_addresses
from tickets.sla_calendar import local_date, sla_time_zone

logger = logging.getLogger(__name__)

POLICIES = ("BH", "OH")
LEVELS = (1, 2, 3, 4)
_LIVE_STATES = (SlaState.RUNNING, SlaState.PAUSED, SlaState.BREACHED)
_SOLVED_STATUSES = (Status.SOLVED, Status.CLOSED)


@dataclass(frozen=True)
class ReportFilters:
    """The period (inclusive dates of S in the SLA time zone) and optional narrowing."""

    start: date
    end: date
    category: str = ""
    channel: str = ""
    agent_id: int | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"Report period ends ({self.end}) before it starts ({self.start}).")


@dataclass(frozen=True)
class TimerRow:
    """One first-response timer as the report counts it."""

    ticket_id: int
    subject: str
    policy: str
    state: str
    channel: str
    category: str
    agent: str
    started_at: datetime
    started_on: date
    due_at: datetime | None
    responded_at: datetime | None
    breached_at: datetime | None
    business_minutes: int
    escalation_level: int
    stopped: bool

    @property
    def is_open_breach(self) -> bool:
        return self.state == SlaState.BREACHED and self.responded_at is None and not self.stopped


@dataclass
class Tally:
    """Counts and response times of a group of timers."""

    timers: int = 0
    achieved: int = 0
    breached: int = 0
    open: int = 0
    response_minutes: list[int] = field(default_factory=list)

    def add(self, row: TimerRow) -> None:
        self.timers += 1
        if row.state == SlaState.ACHIEVED:
            self.achieved += 1
        elif row.state == SlaState.BREACHED:
            self.breached += 1
        else:
            self.open += 1
        if row.responded_at is not None:
            self.response_minutes.append(row.business_minutes)

    @property
    def attainment(self) -> float | None:
        """achieved / (achieved + breached); None when neither happened."""
        decided = self.achieved + self.breached
        return self.achieved / decided if decided else None

    @property
    def median_minutes(self) -> float | None:
        return percentile(self.response_minutes, 0.5)

    @property
    def p90_minutes(self) -> float | None:
        return percentile(self.response_minutes, 0.9)


@dataclass
class SlaReport:
    filters: ReportFilters
    rows: list[TimerRow]
    overall: Tally
    by_policy: dict[str, Tally]
    by_channel: dict[str, Tally]
    by_category: dict[str, Tally]
    by_state: dict[str, int]
    by_day: dict[date, Tally]
    by_week: dict[date, Tally]
    open_breaches_by_level: dict[int, int]
    # Open breaches are the present state, so they are listed whatever the period.
    open_breaches: list[TimerRow]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Return the `fraction` percentile (0..1) with linear interpolation; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    weight = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * weight


def week_start(day: date) -> date:
    """Return the Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


# ---------------------------------------------------------------- reading timers


def load_timer_rows(filters: ReportFilters) -> list[TimerRow]:
    """Return the counted timers whose S falls in the period, stopped ones first."""
    return [*_stopped_rows(filters), *_live_rows(filters)]


def _stopped_rows(filters: ReportFilters) -> Iterable[TimerRow]:
    outcomes = SlaOutcome.objects.filter(
        started_on__gte=filters.start, started_on__lte=filters.end
    ).exclude(state=SlaState.CANCELLED)
    if filters.category:
        outcomes = outcomes.filter(category=filters.category)
    if filters.channel:
        outcomes = outcomes.filter(channel=filters.channel)
    if filters.agent_id is not None:
        outcomes = outcomes.filter(agent_id=filters.agent_id)
    for outcome in outcomes.select_related("agent", "ticket").order_by("started_at", "ticket_id"):
        yield TimerRow(
            ticket_id=outcome.ticket_id,
            subject=outcome.ticket.subject,
            policy=outcome.policy,
            state=outcome.state,
            channel=outcome.channel,
            category=outcome.category,
            agent=outcome.agent.get_username() if outcome.agent else "",
            started_at=outcome.started_at,
            started_on=outcome.started_on,
            due_at=outcome.due_at,
            responded_at=outcome.responded_at,
            breached_at=outcome.breached_at,
            business_minutes=outcome.business_minutes,
            escalation_level=outcome.escalation_level,
            stopped=True,
        )


def _live_rows(filters: ReportFilters, *, within_period: bool = True) -> Iterable[TimerRow]:
    tickets = Ticket.objects.filter(sla_stopped_at__isnull=True, sla_state__in=_LIVE_STATES)
    if within_period:
        zone = sla_time_zone()
        since = datetime.combine(filters.start, time(), tzinfo=zone)
        until = datetime.combine(filters.end + timedelta(days=1), time(), tzinfo=zone)
        tickets = tickets.filter(sla_started_at__gte=since, sla_started_at__lt=until)
    tickets = (
        tickets
        # Paused because solved or closed without a reply: excluded from SLA reports.
        .exclude(Q(sla_state=SlaState.PAUSED) & Q(status__in=_SOLVED_STATUSES)).select_related(
            "assignee"
        )
    )
    if filters.category:
        tickets = tickets.filter(category=filters.category)
    if filters.channel:
        tickets = tickets.filter(channel=filters.channel)
    if filters.agent_id is not None:
        tickets = tickets.filter(assignee_id=filters.agent_id)
    for ticket in tickets.order_by("sla_started_at", "id"):
        assert ticket.sla_started_at is not None
        yield TimerRow(
            ticket_id=ticket.pk,
            subject=ticket.subject,
            policy=ticket.sla_policy,
            state=ticket.sla_state,
            channel=ticket.channel,
            category=ticket.category,
            agent=ticket.assignee.get_username() if ticket.assignee else "",
            started_at=ticket.sla_started_at,
            started_on=local_date(ticket.sla_started_at),
            due_at=ticket.sla_due_at,
            responded_at=ticket.sla_responded_at,
            breached_at=ticket.sla_due_at if ticket.sla_state == SlaState.BREACHED else None,
            business_minutes=ticket.sla_business_minutes or 0,
            escalation_level=ticket.escalation_level,
            stopped=False,
        )


# ---------------------------------------------------------------- figures


def build_report(filters: ReportFilters) -> SlaReport:
    open_breaches = [row for row in _live_rows(filters, within_period=False) if row.is_open_breach]
    return summarise(filters, load_timer_rows(filters), open_breaches=open_breaches)


def summarise(
    filters: ReportFilters, rows: list[TimerRow], *, open_breaches: list[TimerRow] | None = None
) -> SlaReport:
    """Compute every figure of the report from the timer rows.

    Without `open_breaches`, the open breaches are those among `rows`.
    """
    if open_breaches is None:
        open_breaches = [row for row in rows if row.is_open_breach]
    overall = Tally()
    by_policy = {policy: Tally() for policy in POLICIES}
    by_channel: dict[str, Tally] = defaultdict(Tally)
    by_category: dict[str, Tally] = defaultdict(Tally)
    days = (filters.end - filters.start).days + 1
    by_day = {filters.start + timedelta(days=n): Tally() for n in range(days)}
    by_week = {week_start(day): Tally() for day in by_day}
    breaches_by_level = {level: 0 for level in LEVELS}
    for row in open_breaches:
        breaches_by_level[row.escalation_level] = breaches_by_level.get(row.escalation_level, 0) + 1
    states: Counter[str] = Counter()

    for row in rows:
        overall.add(row)
        by_policy.setdefault(row.policy, Tally()).add(row)
        by_channel[row.channel].add(row)
        by_category[row.category].add(row)
        by_day[row.started_on].add(row)
        by_week[week_start(row.started_on)].add(row)
        states[row.state] += 1

    return SlaReport(
        filters=filters,
        rows=rows,
        overall=overall,
        by_policy=by_policy,
        by_channel=_sorted_by_volume(by_channel),
        by_category=_sorted_by_volume(by_category),
        by_state={state: states[state] for state in _STATE_ORDER if states[state]},
        by_day=by_day,
        by_week=by_week,
        open_breaches_by_level=breaches_by_level,
        open_breaches=open_breaches,
    )


_STATE_ORDER = (SlaState.ACHIEVED, SlaState.BREACHED, SlaState.RUNNING, SlaState.PAUSED)


def _sorted_by_volume(groups: dict[str, Tally]) -> dict[str, Tally]:
    return dict(sorted(groups.items(), key=lambda item: (-item[1].timers, item[0])))


# ---------------------------------------------------------------- CSV


FIGURE_COLUMNS = (
    "section",
    "group",
    "timers",
    "achieved",
    "breached",
    "open",
    "attainment",
    "median_business_minutes",
    "p90_business_minutes",
)
TICKET_COLUMNS = (
    "ticket",
    "subject",
    "policy",
    "state",
    "channel",
    "category",
    "agent",
    "started_at",
    "started_on",
    "due_at",
    "responded_at",
    "breached_at",
    "business_minutes",
    "escalation_level",
    "stopped",
)


def figures_csv(report: SlaReport) -> str:
    """Return every figure of the report as CSV, one row per section and group."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FIGURE_COLUMNS)
    sections: list[tuple[str, dict[str, Tally]]] = [
        ("overall", {"all": report.overall}),
        ("policy", report.by_policy),
        ("channel", report.by_channel),
        ("category", report.by_category),
        ("day", {day.isoformat(): tally for day, tally in report.by_day.items()}),
        ("week", {day.isoformat(): tally for day, tally in report.by_week.items()}),
    ]
    for section, groups in sections:
        for group, tally in groups.items():
            writer.writerow(
                [
                    section,
                    group,
                    tally.timers,
                    tally.achieved,
                    tally.breached,
                    tally.open,
                    _number(tally.attainment, 4),
                    _number(tally.median_minutes, 1),
                    _number(tally.p90_minutes, 1),
                ]
            )
    for state, count in report.by_state.items():
        writer.writerow(["state", state, count, "", "", "", "", "", ""])
    for level, count in report.open_breaches_by_level.items():
        writer.writerow(["open_breaches", f"L{level}", count, "", count, "", "", "", ""])
    return buffer.getvalue()


def tickets_csv(report: SlaReport) -> str:
    """Return one CSV row per counted timer; instants are ISO 8601 in the SLA time zone."""
    zone = sla_time_zone()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(TICKET_COLUMNS)

    def instant(value: datetime | None) -> str:
        return value.astimezone(zone).isoformat() if value else ""

    for row in report.rows:
        writer.writerow(
            [
                f"IL-{row.ticket_id}",
                _safe_cell(row.subject),
                row.policy,
                row.state,
                row.channel,
                row.category,
                _safe_cell(row.agent),
                instant(row.started_at),
                row.started_on.isoformat(),
                instant(row.due_at),
                instant(row.responded_at),
                instant(row.breached_at),
                row.business_minutes,
                f"L{row.escalation_level}",
                "yes" if row.stopped else "no",
            ]
        )
    return buffer.getvalue()


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _safe_cell(text: str) -> str:
    """Keep spreadsheet programs from reading a subject such as "=1+1" as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---------------------------------------------------------------- weekly summary


def last_full_week(now: datetime) -> ReportFilters:
    """Return Monday to Sunday of the week before the one containing `now`."""
    this_monday = week_start(local_date(now))
    return ReportFilters(start=this_monday - timedelta(days=7), end=this_monday - timedelta(days=1))


def weekly_summary_text(report: SlaReport, *, link: str) -> str:
    """Return the plain-text weekly summary managers receive."""
    filters = report.filters
    lines = [
        f"First-response SLA, {filters.start:%a %d %b} to {filters.end:%a %d %b %Y} "
        "(by the date each clock started)",
        "",
        f"Attainment:     {format_percent(report.overall.attainment)} "
        f"({report.overall.achieved} achieved, {report.overall.breached} breached)",
        f"Timers counted: {report.overall.timers} ({report.overall.open} still open)",
        "Open breaches:  "
        + ", ".join(f"L{level} {count}" for level, count in report.open_breaches_by_level.items()),
        "",
        "Policy  Timers  Attainment  Median min  P90 min",
    ]
    for policy, tally in report.by_policy.items():
        lines.append(
            f"{policy:<6}  {tally.timers:>6}  {format_percent(tally.attainment):>10}  "
            f"{format_minutes(tally.median_minutes):>10}  {format_minutes(tally.p90_minutes):>7}"
        )
    lines += ["", "By channel:"]
    lines += [
        f"  {Channel(channel).label if channel in Channel.values else channel}: {tally.timers} "
        f"timers, attainment {format_percent(tally.attainment)}"
        for channel, tally in report.by_channel.items()
    ]
    lines += ["", "By category:"]
    lines += [
        f"  {Category(category).label if category in Category.values else category}: "
        f"{tally.timers} timers, attainment {format_percent(tally.attainment)}"
        for category, tally in report.by_category.items()
    ]
    lines += ["", f"Full report: {link}"]
    return "\n".join(lines)


def send_weekly_summary(*, now: datetime) -> int:
    """Mail last week's summary to every holder of tickets.receive_sla_feed; returns recipients."""
    recipients = manager_addresses()
    filters = last_full_week(now)
    if not recipients:
        logger.warning(
            "weekly SLA summary for %s not sent: no active user with an e-mail address has "
            "the 'Receives SLA breach alerts and the weekly SLA summary' permission",
            filters.start,
        )
        return 0
    report = build_report(filters)
    link = (
        settings.SITE_URL
        + reverse("tickets:sla_report")
        + f"?start={filters.start.isoformat()}&end={filters.end.isoformat()}"
    )
    message = EmailMessage(
        subject=f"[SLA weekly] {format_percent(report.overall.attainment)} attainment, "
        f"week of {filters.start:%d %b %Y}",
        body=weekly_summary_text(report, link=link),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach(f"sla-figures-{filters.start.isoformat()}.csv", figures_csv(report), "text/csv")
    message.send(fail_silently=False)
    logger.info("weekly SLA summary for %s sent to %d manager(s)", filters.start, len(recipients))
    return len(recipients)


def format_percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_minutes(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
