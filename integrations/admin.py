"""Sources in admin: connections (credentials write-only) and the inbound item store."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from integrations.inbound import process_item
from integrations.models import Connection, InboundItem


class ConnectionForm(forms.ModelForm):
    new_credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=(
            'Credentials as JSON, e.g. {"api_token": "…", "signing_secret": "…"}. '
            "Stored values are never shown; leave empty to keep them."
        ),
    )

    class Meta:
        model = Connection
        fields = ["name", "provider", "enabled", "config"]

    def clean_config(self) -> dict[str, Any]:
        value = self.cleaned_data.get("config")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(
                'Config must be a JSON object, e.g. {"subdomain": "impactlink"}.'
            )
        return value

    def clean_new_credentials(self) -> dict[str, Any] | None:
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Credentials are not valid JSON: {exc.msg}.") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Credentials must be a JSON object.")
        return value

    def save(self, commit: bool = True) -> Connection:
        connection = super().save(commit=False)
        new = self.cleaned_data.get("new_credentials")
        if new is not None:
            connection.credentials = new
        if commit:
            connection.save()
        return connection


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("name", "provider", "enabled", "last_sync_at", "last_success_at", "short_error")
    list_filter = ("provider", "enabled")
    readonly_fields = (
        "webhook_url",
        "webhook_rejection",
        "webhook_rejected_at",
        "cursor",
        "last_sync_at",
        "last_success_at",
        "last_error",
        "last_error_at",
        "credential_keys",
    )
    fields = (
        "name",
        "provider",
        "enabled",
        "config",
        "new_credentials",
        "credential_keys",
        *readonly_fields[:-1],
    )

    @admin.display(description="Webhook URL")
    def webhook_url(self, connection: Connection) -> str:
        # The token in the path is the secret that names the connection; share it only with
        # the provider's webhook settings.
        if not connection.pk:
            return "(shown after saving)"
        return f"{settings.SITE_URL}{connection.webhook_path}"

    @admin.display(description="Stored credential names")
    def credential_keys(self, connection: Connection) -> str:
        return ", ".join(sorted(connection.credentials)) or "none"

    @admin.display(description="Last error")
    def short_error(self, connection: Connection) -> str:
        return connection.last_error[:80]


@admin.register(InboundItem)
class InboundItemAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "provider",
        "state",
        "outcome",
        "ticket_id",
        "size",
        "attempts",
        "received_at",
        "short_error",
    )
    list_filter = ("state", "kind", "provider", "outcome")
    search_fields = ("=id", "idempotency_key", "last_error")
    show_full_result_count = False
    readonly_fields = (
        "kind",
        "connection",
        "provider",
        "idempotency_key",
        "size",
        "meta",
        "state",
        "outcome",
        "ticket_id",
        "attempts",
        "last_error",
        "next_attempt_at",
        "received_at",
        "processed_at",
        "payload_preview",
    )
    exclude = ("payload",)
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The store keeps everything that arrived; a bad item stays failed, visible here.
        return False

    @admin.display(description="Error")
    def short_error(self, item: InboundItem) -> str:
        return item.last_error[:80]

    @admin.display(description="Payload (first 4 KB)")
    def payload_preview(self, item: InboundItem) -> str:
        return bytes(item.payload[:4096]).decode("utf-8", "replace")

    @admin.action(description="Process again")
    def replay(self, request: HttpRequest, queryset: QuerySet[InboundItem]) -> None:
        finished = (InboundItem.State.DONE, InboundItem.State.IGNORED)
        skipped = queryset.filter(state__in=finished).count()
        processed, failed = 0, []
        for item in queryset.exclude(state__in=finished):
            result = process_item(item.pk)
            if result is not None and result.state == InboundItem.State.FAILED:
                failed.append(f"item {result.pk}: {result.last_error[:120]}")
            else:
                processed += 1
        summary = f"{processed} item(s) processed."
        if skipped:
            summary += f" {skipped} already processed were skipped."
        self.message_user(request, summary)
        if failed:
            self.message_user(
                request,
                f"{len(failed)} item(s) failed again: " + "; ".join(failed[:5]),
                messages.WARNING,
            )
