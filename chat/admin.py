"""Live chat in admin: teams, availability, canned responses, routing state, pushes and
transcripts, plus a transcript and chat panel on the ticket page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from chat import canned, pushes, routing, services
from chat.models import (
    AgentAvailability,
    CannedResponse,
    ChatConversation,
    ChatTeam,
    ChatTranscript,
    ProviderPush,
)
from tickets.admin import TicketAdmin
from tickets.models import OPEN_STATUSES, Channel, Ticket


@admin.register(ChatTeam)
class ChatTeamAdmin(admin.ModelAdmin):
    list_display = ("name", "category", "member_count")
    filter_horizontal = ("members",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatTeam]:
        return super().get_queryset(request).annotate(member_total=Count("members"))

    @admin.display(description="Members", ordering="member_total")
    def member_count(self, team: ChatTeam) -> int:
        return team.member_total  # type: ignore[attr-defined]


@admin.register(AgentAvailability)
class AgentAvailabilityAdmin(admin.ModelAdmin):
    list_display = ("user", "status", "capacity", "open_chats", "changed_at")
    list_filter = ("status",)
    list_select_related = ("user",)
    fields = ("user", "status", "capacity", "changed_at")
    readonly_fields = ("changed_at",)
    actions = ["make_available", "make_away"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentAvailability]:
        open_chats = Count(
            "user__assigned_tickets",
            filter=Q(
                user__assigned_tickets__channel=Channel.CHAT,
                user__assigned_tickets__status__in=OPEN_STATUSES,
            ),
        )
        return super().get_queryset(request).annotate(open_chat_total=open_chats)

    @admin.display(description="Open chats", ordering="open_chat_total")
    def open_chats(self, availability: AgentAvailability) -> int:
        return availability.open_chat_total  # type: ignore[attr-defined]

    def save_model(
        self, request: HttpRequest, obj: AgentAvailability, form: Any, change: bool
    ) -> None:
        # Through the service, so an agent made available takes waiting chats at once.
        services.set_availability(agent=obj.user, status=obj.status, capacity=obj.capacity)

    @admin.action(description="Set available (takes waiting chats)")
    def make_available(self, request: HttpRequest, queryset: QuerySet[AgentAvailability]) -> None:
        self._set(request, queryset, AgentAvailability.Status.AVAILABLE)

    @admin.action(description="Set away")
    def make_away(self, request: HttpRequest, queryset: QuerySet[AgentAvailability]) -> None:
        self._set(request, queryset, AgentAvailability.Status.AWAY)

    def _set(
        self, request: HttpRequest, queryset: QuerySet[AgentAvailability], status: str
    ) -> None:
        for availability in queryset.select_related("user"):
            services.set_availability(agent=availability.user, status=status)
        self.message_user(request, f"{queryset.count()} agent(s) set {status}.")


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ("title", "shortcut", "category", "usage_count", "last_used_at")
    list_filter = ("category",)
    search_fields = ("title", "shortcut", "body")
    readonly_fields = ("placeholder_help", "preview", "usage_count", "last_used_at")
    fields = (
        "title",
        "shortcut",
        "category",
        "body",
        "placeholder_help",
        "preview",
        "usage_count",
        "last_used_at",
    )

    @admin.display(description="Placeholders")
    def placeholder_help(self, response: CannedResponse) -> str:
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li><code>{{{}}}</code>: {}</li>", canned.PLACEHOLDERS.items()),
        )

    @admin.display(description="Preview")
    def preview(self, response: CannedResponse) -> str:
        if not response.pk:
            return "Save to see a preview."
        try:
            text = canned.render_body(response.body, canned.SAMPLE_VALUES)
        except ValidationError as exc:
            return format_html("<em>Cannot render: {}</em>", " ".join(exc.messages))
        link = reverse("admin:chat_cannedresponse_preview", args=[response.pk])
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre><p>With sample data. '
            '<a href="{}">Preview with a ticket</a></p>',
            text,
            link,
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:response_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="chat_cannedresponse_preview",
            )
        ]
        return own + super().get_urls()

    def preview_view(self, request: HttpRequest, response_id: int) -> HttpResponse:
        """Render the response for the ticket named in ?ticket= (IL-1042 or 1042), as the
        current user; nothing is counted or sent."""
        response = get_object_or_404(CannedResponse, pk=response_id)
        reference = request.GET.get("ticket", "").strip()
        ticket = _ticket_by_reference(reference) if reference else None
        error = f"Ticket {reference} not found." if reference and ticket is None else ""

        if ticket is not None:
            values = canned.placeholder_values(ticket=ticket, agent=request.user)  # type: ignore[arg-type]
        else:
            values = canned.SAMPLE_VALUES
        text = ""
        try:
            text = canned.render_body(response.body, values)
        except ValidationError as exc:
            error = " ".join(exc.messages)

        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview of {response.title}",
            "response": response,
            "ticket": ticket,
            "reference": reference,
            "text": text,
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/chat/cannedresponse/preview.html", context)


def _ticket_by_reference(reference: str) -> Ticket | None:
    number = reference.upper().removeprefix("IL-")
    if not number.isdigit():
        return None
    return Ticket.objects.select_related("contact").filter(pk=int(number)).first()


@admin.register(ChatConversation)
class ChatConversationAdmin(admin.ModelAdmin):
    list_display = (
        "ticket",
        "provider",
        "external_id",
        "routing",
        "queued_at",
        "routed_at",
        "closed_at",
    )
    list_filter = ("routing", "provider")
    list_select_related = ("ticket",)
    search_fields = ("external_id", "=ticket__id")
    readonly_fields = (
        "ticket",
        "connection",
        "provider",
        "external_id",
        "routing",
        "queued_at",
        "routed_at",
        "closed_at",
        "deleted_at",
    )
    actions = ["route_now"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Route now")
    def route_now(self, request: HttpRequest, queryset: QuerySet[ChatConversation]) -> None:
        outcomes: dict[str, int] = {}
        for conversation in queryset:
            decision = routing.route_conversation(conversation=conversation)
            outcomes[decision.outcome] = outcomes.get(decision.outcome, 0) + 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.message_user(request, f"Routing: {summary or 'nothing selected'}.")


@admin.register(ProviderPush)
class ProviderPushAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "conversation",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "short_error",
    )
    list_filter = ("state", "kind")
    list_select_related = ("conversation__ticket",)
    readonly_fields = (
        "conversation",
        "kind",
        "payload",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "provider_ref",
        "created_at",
        "sent_at",
    )
    actions = ["send_now"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Error")
    def short_error(self, push: ProviderPush) -> str:
        return push.last_error[:80]

    @admin.action(description="Send now")
    def send_now(self, request: HttpRequest, queryset: QuerySet[ProviderPush]) -> None:
        sent = 0
        for push_id in queryset.exclude(state=ProviderPush.State.SENT).values_list("pk", flat=True):
            ProviderPush.objects.filter(pk=push_id, state=ProviderPush.State.GAVE_UP).update(
                state=ProviderPush.State.FAILED
            )
            result = pushes.send_push(push_id)
            sent += int(result is not None and result.state == ProviderPush.State.SENT)
        self.message_user(request, f"{sent} push(es) sent.", messages.INFO)


def transcript_links(transcript: ChatTranscript) -> str:
    if transcript.purged_at is not None:
        return format_html("purged {:%Y-%m-%d}", transcript.purged_at)
    return format_html(
        '<a href="{}">text</a> · <a href="{}">JSON</a>',
        reverse("chat:transcript", args=[transcript.pk, "txt"]),
        reverse("chat:transcript", args=[transcript.pk, "json"]),
    )


@admin.register(ChatTranscript)
class ChatTranscriptAdmin(admin.ModelAdmin):
    list_display = (
        "sequence",
        "ticket_reference",
        "message_count",
        "closed_at",
        "created_at",
        "downloads",
    )
    search_fields = ("ticket_reference", "entry_hash")
    exclude = ("text", "json_text")
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [
            f.name for f in ChatTranscript._meta.fields if f.name not in ("text", "json_text")
        ] + ["downloads"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Download")
    def downloads(self, transcript: ChatTranscript) -> str:
        return transcript_links(transcript)


class ChatTranscriptInline(admin.TabularInline):
    model = ChatTranscript
    extra = 0
    can_delete = False
    fields = ("sequence", "message_count", "closed_at", "entry_hash", "downloads")
    readonly_fields = fields
    verbose_name_plural = "Chat transcripts"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChatTranscript]:
        return super().get_queryset(request).defer("text", "json_text")

    @admin.display(description="Download")
    def downloads(self, transcript: ChatTranscript) -> str:
        return transcript_links(transcript)


class ChatConversationInline(admin.StackedInline):
    model = ChatConversation
    extra = 0
    can_delete = False
    fields = (
        "provider",
        "external_id",
        "routing",
        "queued_at",
        "routed_at",
        "closed_at",
        "canned_link",
    )
    readonly_fields = fields
    verbose_name_plural = "Live chat"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Canned responses")
    def canned_link(self, conversation: ChatConversation) -> str:
        return format_html(
            '<a href="{}">Canned responses for this ticket</a>',
            reverse("chat:ticket_canned", args=[conversation.ticket_id]),
        )


# The ticket page belongs to tickets.admin; chat adds its panels there instead of changing it.
TicketAdmin.inlines = [*TicketAdmin.inlines, ChatConversationInline, ChatTranscriptInline]
