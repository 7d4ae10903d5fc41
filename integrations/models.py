"""Connections to sources and the store of everything that arrived from them.

An InboundItem is written before anything is parsed, under a unique idempotency key, so a
delivery or a fetched mail is never lost and never processed into two tickets.
"""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class Connection(models.Model):
    """One configured source: the help@ mailbox, a Zendesk or Freshdesk desk, a chat app."""

    class Provider(models.TextChoices):
        MAILBOX = "mailbox", "Mailbox (IMAP)"
        ZENDESK = "zendesk", "Zendesk"
        FRESHDESK = "freshdesk", "Freshdesk"
        INTERCOM = "intercom", "Intercom"
        CRISP = "crisp", "Crisp"

    name = models.SlugField(max_length=64, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    enabled = models.BooleanField(default=True)
    # Non-secret options: host, subdomain, folder, time zone of naive timestamps.
    config = models.JSONField(default=dict, blank=True)
    # Passwords, API tokens, signing secrets. Never rendered back in admin, never logged.
    credentials = models.JSONField(default=dict, blank=True)
    # Part of the webhook URL, so a delivery names its connection without a lookup by host.
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    # Where polling resumes, e.g. {"uidvalidity": 7, "last_uid": 1042} for a mailbox.
    cursor = models.JSONField(default=dict, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # A poll holds the lease until this instant, so overlapping beat runs skip the connection.
    sync_lease_until = models.DateTimeField(null=True, blank=True)
    # The latest rejected webhook delivery and why, written at most once a minute per process.
    webhook_rejected_at = models.DateTimeField(null=True, blank=True)
    webhook_rejection = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.get_provider_display()})"

    @property
    def webhook_path(self) -> str:
        return f"/hooks/{self.provider}/{self.webhook_token}"


class ExternalTicket(models.Model):
    """How far the hub has applied a desk or chat ticket: the source's updated_at last applied.

    Status, priority and assignee from a snapshot older than this are not applied, so a late
    delivery never rolls a ticket back. Polling also skips tickets not changed since.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="tickets")
    external_id = models.CharField(max_length=128)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_updated_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    applied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="external_ticket_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection.provider} ticket {self.external_id}"


class InboundItem(models.Model):
    """A raw mail or webhook body exactly as it arrived, and what processing made of it."""

    class Kind(models.TextChoices):
        MAIL = "mail", "Mail"
        WEBHOOK = "webhook", "Webhook delivery"
        RECORD = "record", "Polled record"
        WEB_FORM = "web_form", "Help centre form"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Processed"
        IGNORED = "ignored", "Stored, not a ticket"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.PROTECT, related_name="items"
    )
    provider = models.CharField(max_length=16, blank=True)
    # Unique per item: a redelivery or a second fetch finds the existing row.
    idempotency_key = models.CharField(max_length=200, unique=True)
    payload = models.BinaryField()
    size = models.PositiveBigIntegerField(default=0)
    # Transport details: HTTP headers, IMAP folder and UID, the importing file's path.
    meta = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    # What processing made of it: created, threaded, duplicate, auto_reply, bounce, ignored.
    outcome = models.CharField(max_length=32, blank=True)
    ticket_id = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="inbound_retry_idx"),
            models.Index(fields=["-received_at"], name="inbound_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} ({self.state})"
