"""Staff-only SLA report pages: the HTML report and its two CSV exports."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, cast

from django import forms
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode

from tickets import report_charts, reports
from tickets.models import Category, Channel, EscalationLevel

DEFAULT_DAYS = 28
# Dates outside this range are typing slips; they would overflow date arithmetic.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)
# Longer periods are refused: the page draws one bar per day.
MAX_DAYS = 366


class ReportFilterForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    category = forms.ChoiceField(
        required=False, choices=[("", "All categories"), *Category.choices]
    )
    channel = forms.ChoiceField(required=False, choices=[("", "All channels"), *Channel.choices])
    agent = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = get_user_model().objects.filter(is_staff=True).order_by("username")
        agent_field = cast(forms.TypedChoiceField, self.fields["agent"])
        agent_field.choices = [("", "All agents")] + [
            (user.pk, user.get_username()) for user in staff
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("start", "end"):
            value = data.get(name)
            if value is not None and not EARLIEST_DATE <= value <= LATEST_DATE:
                raise forms.ValidationError(
                    f"Choose dates between {EARLIEST_DATE:%-d %b %Y} and {LATEST_DATE:%-d %b %Y}."
                )
        today = timezone.localdate()
        end = data.get("end") or today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise forms.ValidationError("The period's end is before its start; swap the dates.")
        if (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(f"Choose a period of at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def filters(self) -> reports.ReportFilters:
        """Return the validated filters, or the default period when the form is invalid."""
        if self.is_valid():
            data = self.cleaned_data
            return reports.ReportFilters(
                start=data["start"],
                end=data["end"],
                category=data.get("category") or "",
                channel=data.get("channel") or "",
                agent_id=data.get("agent"),
            )
        end = timezone.localdate()
        return reports.ReportFilters(start=end - timedelta(days=DEFAULT_DAYS - 1), end=end)


@staff_member_required
def sla_report(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    filters = form.filters()
    if not form.is_bound:
        # Show the default period in the date fields instead of empty inputs.
        form = ReportFilterForm({"start": filters.start, "end": filters.end})
    report = reports.build_report(filters)
    query = urlencode(_filter_query(filters))
    context = {
        "form": form,
        "report": report,
        "filters": filters,
        "query": query,
        "policies": _policy_rows(report),
        "levels": [
            (EscalationLevel(level).label, f"L{level}", count)
            for level, count in report.open_breaches_by_level.items()
        ],
        "channels": _group_rows(report.by_channel, Channel),
        "categories": _group_rows(report.by_category, Category),
        "weeks": _period_rows(report.by_week, label_format="%d %b"),
        "daily_chart": report_charts.stacked_bars(
            _bars(report.by_day, "%d"),
            label_every=max(1, len(report.by_day) // 31),
            connect_attainment=False,
        ),
        "weekly_chart": report_charts.stacked_bars(_bars(report.by_week, "%d %b"), height=180),
        "channel_chart": report_charts.horizontal_bars(_horizontal(report.by_channel, Channel)),
        "category_chart": report_charts.horizontal_bars(_horizontal(report.by_category, Category)),
        "open_breaches": sorted(
            report.open_breaches, key=lambda row: (-row.escalation_level, row.started_at)
        )[:50],
        "overall_attainment": reports.format_percent(report.overall.attainment),
    }
    return render(request, "tickets/reports/sla.html", context)


@staff_member_required
def sla_report_figures_csv(request: HttpRequest) -> HttpResponse:
    filters = ReportFilterForm(request.GET or None).filters()
    report = reports.build_report(filters)
    return _csv_response(reports.figures_csv(report), f"sla-figures-{_period_name(filters)}.csv")


@staff_member_required
def sla_report_tickets_csv(request: HttpRequest) -> HttpResponse:
    filters = ReportFilterForm(request.GET or None).filters()
    report = reports.build_report(filters)
    return _csv_response(reports.tickets_csv(report), f"sla-tickets-{_period_name(filters)}.csv")


def _csv_response(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _period_name(filters: reports.ReportFilters) -> str:
    return f"{filters.start.isoformat()}-to-{filters.end.isoformat()}"


def _filter_query(filters: reports.ReportFilters) -> dict[str, str]:
    query = {"start": filters.start.isoformat(), "end": filters.end.isoformat()}
    if filters.category:
        query["category"] = filters.category
    if filters.channel:
        query["channel"] = filters.channel
    if filters.agent_id is not None:
        query["agent"] = str(filters.agent_id)
    return query


def _label(value: str, choices: type[Category] | type[Channel]) -> str:
    return str(choices(value).label) if value in choices.values else value


def _policy_rows(report: reports.SlaReport) -> list[dict[str, Any]]:
    names = {"BH": "Business hours (2 h)", "OH": "Off-hours (24 h)"}
    return [
        _tally_row(names.get(policy, policy), tally) for policy, tally in report.by_policy.items()
    ]


def _group_rows(
    groups: dict[str, reports.Tally], choices: type[Category] | type[Channel]
) -> list[dict[str, Any]]:
    return [_tally_row(_label(key, choices), tally) for key, tally in groups.items()]


def _period_rows(groups: dict[date, reports.Tally], *, label_format: str) -> list[dict[str, Any]]:
    return [_tally_row(day.strftime(label_format), tally) for day, tally in groups.items()]


def _tally_row(label: str, tally: reports.Tally) -> dict[str, Any]:
    return {
        "label": label,
        "timers": tally.timers,
        "achieved": tally.achieved,
        "breached": tally.breached,
        "open": tally.open,
        "attainment": reports.format_percent(tally.attainment),
        "attainment_value": tally.attainment,
        "median": reports.format_minutes(tally.median_minutes),
        "p90": reports.format_minutes(tally.p90_minutes),
    }


def _bars(groups: dict[date, reports.Tally], label_format: str) -> list[report_charts.StackedBar]:
    return [
        report_charts.StackedBar(
            label=day.strftime(label_format),
            achieved=tally.achieved,
            breached=tally.breached,
            open=tally.open,
            attainment=tally.attainment,
            title=(
                f"{day:%a %d %b}: {tally.achieved} achieved, {tally.breached} breached, "
                f"{tally.open} open, attainment {reports.format_percent(tally.attainment)}"
            ),
        )
        for day, tally in groups.items()
    ]


def _horizontal(
    groups: dict[str, reports.Tally], choices: type[Category] | type[Channel]
) -> list[tuple[str, int, int, int]]:
    return [
        (_label(key, choices), tally.achieved, tally.breached, tally.open)
        for key, tally in groups.items()
    ]
