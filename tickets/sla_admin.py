"""Admin for the SLA calendar, escalation levels, alerts and stored outcomes.

Holiday edits go through tickets.sla_calendar's services, which recompute every timer that
has not stopped; nothing here changes SLA data by itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from tickets import notifications, sla_calendar
from tickets.models import (
    EscalationLevelConfig,
    Holiday,
    SlaNotification,
    SlaOutcome,
    Ticket,
)


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ("date", "weekday", "name", "source", "updated_at")
    list_filter = ("source",)
    search_fields = ("name",)
    date_hierarchy = "date"
    ordering = ("-date",)

    @admin.display(description="Day")
    def weekday(self, holiday: Holiday) -> str:
        return holiday.date.strftime("%A")

    def save_model(self, request: HttpRequest, obj: Holiday, form: Any, change: bool) -> None:
        sla_calendar.save_holiday(holiday=obj)
        self.message_user(request, "Open SLA timers are being recomputed with the new calendar.")

    def delete_model(self, request: HttpRequest, obj: Holiday) -> None:
        sla_calendar.delete_holidays(dates=[obj.date])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Holiday]) -> None:
        sla_calendar.delete_holidays(dates=list(queryset.values_list("date", flat=True)))


@admin.register(EscalationLevelConfig)
class EscalationLevelConfigAdmin(admin.ModelAdmin):
    list_display = ("level", "name", "enabled", "recipient_count", "has_webhook")
    list_editable = ("enabled",)
    filter_horizontal = ("users", "groups")
    fields = ("level", "name", "enabled", "users", "groups", "extra_addresses", "webhook_url")

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationLevelConfig]:
        return super().get_queryset(request).prefetch_related("users", "groups")

    @admin.display(description="People and addresses")
    def recipient_count(self, config: EscalationLevelConfig) -> str:
        return (
            f"{len(config.users.all())} user(s), {len(config.groups.all())} group(s), "
            f"{len(config.address_list())} address(es)"
        )

    @admin.display(description="Webhook", boolean=True)
    def has_webhook(self, config: EscalationLevelConfig) -> bool:
        return bool(config.webhook_url)


@admin.register(SlaNotification)
class SlaNotificationAdmin(admin.ModelAdmin):
    list_display = (
        "ticket",
        "kind",
        "level",
        "state",
        "threshold_at",
        "attempts",
        "sent_at",
        "next_attempt_at",
        "last_error",
    )
    list_filter = ("state", "kind", "level")
    list_select_related = ("ticket",)
    search_fields = ("=ticket__id", "last_error")
    readonly_fields = [field.name for field in SlaNotification._meta.fields]
    actions = ["retry_now"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting a row would let the scheduler send the same alert again.
        return False

    @admin.action(description="Retry failed or abandoned notifications now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[SlaNotification]) -> None:
        count = notifications.retry_notifications(
            ids=list(queryset.values_list("id", flat=True)), now=timezone.now()
        )
        self.message_user(
            request, f"{count} notification(s) queued for the next scheduler run.", messages.SUCCESS
        )


@admin.register(SlaOutcome)
class SlaOutcomeAdmin(admin.ModelAdmin):
    list_display = (
        "ticket",
        "policy",
        "state",
        "started_on",
        "due_at",
        "responded_at",
        "business_minutes",
        "channel",
        "category",
        "agent",
    )
    list_filter = ("state", "policy", "channel", "category")
    list_select_related = ("ticket", "agent")
    date_hierarchy = "started_on"
    readonly_fields = [field.name for field in SlaOutcome._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class SlaNotificationInline(admin.TabularInline):
    model = SlaNotification
    extra = 0
    can_delete = False
    fields = (
        "kind",
        "level",
        "threshold_at",
        "state",
        "sent_at",
        "attempts",
        "recipients",
        "last_error",
    )
    readonly_fields = fields
    ordering = ("threshold_at", "id")
    verbose_name_plural = "SLA alerts"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def sla_timeline_html(ticket: Ticket) -> SafeString:
    """Render the timer's instants in order: start, warning, due, response, stop, next check."""
    if not ticket.sla_state:
        return format_html("{}", "No first-response timer (no customer message to answer).")
    zone = sla_calendar.sla_time_zone()
    instants = [
        ("Clock started", ticket.sla_started_at),
        ("At-risk warning", ticket.sla_warning_at),
        ("Due", ticket.sla_due_at),
        ("First response", ticket.sla_responded_at),
        ("Timer stopped", ticket.sla_stopped_at),
        ("Next scheduler check", ticket.sla_next_check_at),
    ]
    rows = [
        (label, instant.astimezone(zone).strftime("%a %Y-%m-%d %H:%M:%S %Z"))
        for label, instant in instants
        if instant is not None
    ]
    header = format_html(
        "<p><strong>{}</strong> · policy {} · {} business minute(s) counted</p>",
        ticket.get_sla_state_display(),
        ticket.sla_policy or "-",
        ticket.sla_business_minutes if ticket.sla_business_minutes is not None else "-",
    )
    table = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows)
    return format_html('{}<table class="sla-timeline">{}</table>', header, table)
