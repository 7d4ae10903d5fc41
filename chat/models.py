"""Live chat on top of the one queue: teams, agent availability, routing state, canned
responses and the compliance transcripts.

Every chat conversation is an ordinary ticket (channel "chat"); the rows here only add what
chat needs around it. Writes go through chat.services, chat.routing and chat.transcripts.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from integrations.models import Connection
from tickets.models import Category, Ticket


class ChatTeam(models.Model):
    """The agents who take chats of one category."""

    category = models.CharField(max_length=32, choices=Category.choices, unique=True)
    name = models.CharField(max_length=100)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="chat_teams", blank=True
    )

    class Meta:
        ordering = ["category"]

    def __str__(self) -> str:
        return self.name or self.get_category_display()


def default_capacity() -> int:
    return int(settings.CHAT_DEFAULT_CAPACITY)


class AgentAvailability(models.Model):
    """Whether an agent takes new chats now, and how many open chats they hold at most."""

    class Status(models.TextChoices):
        AVAILABLE = "available", "Available"
        AWAY = "away", "Away"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_availability"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AWAY)
    capacity = models.PositiveSmallIntegerField(
        default=default_capacity,
        help_text="Open chats this agent holds at most before new ones wait.",
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "agent availability"
        indexes = [models.Index(fields=["status"], name="chat_agent_status_idx")]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_status_display()}, up to {self.capacity})"


class ChatConversation(models.Model):
    """A chat ticket's conversation at its provider, and its state in routing."""

    class Routing(models.TextChoices):
        NEW = "new", "Not routed yet"
        WAITING = "waiting", "Waiting in the team queue"
        OFF_HOURS = "off_hours", "Arrived outside chat hours"
        ASSIGNED = "assigned", "Assigned to an agent"
        CLOSED = "closed", "Closed"

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="chat")
    connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="chats"
    )
    provider = models.CharField(max_length=16)
    # The conversation id at the provider: Intercom conversation id, Crisp session id.
    external_id = models.CharField(max_length=128)
    routing = models.CharField(max_length=10, choices=Routing.choices, default=Routing.NEW)
    # When the conversation joined its team's queue; the oldest waiting chat is routed first.
    queued_at = models.DateTimeField(default=timezone.now)
    routed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set when the provider reports the conversation deleted; the history stays.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="chat_conversation_unique"
            )
        ]
        indexes = [
            models.Index(fields=["routing", "queued_at"], name="chat_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.external_id} ({self.ticket.reference})"


class ProviderPush(models.Model):
    """A change the hub sends to the chat provider: an assignment or the off-hours message.

    The row is written in the transaction that decides the change and sent after commit. A
    failure keeps the row with its error and a retry time, so routing never waits for the
    provider.
    """

    class Kind(models.TextChoices):
        ASSIGN = "assign", "Assign to agent"
        OFF_HOURS_MESSAGE = "off_hours", "Off-hours message"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed, will retry"
        GAVE_UP = "gave_up", "Failed, not retried"

    conversation = models.ForeignKey(
        ChatConversation, on_delete=models.CASCADE, related_name="pushes"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # What to send, in provider-neutral terms: {"agent_email": …} or {"text": …}.
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # The provider's id for what was created (Intercom part id, Crisp fingerprint).
    provider_ref = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "provider pushes"
        constraints = [
            # The visitor gets the off-hours message once per conversation, however often
            # the first message is redelivered or reprocessed.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(kind="off_hours"),
                name="chat_off_hours_once",
            )
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="chat_push_retry_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.conversation} ({self.state})"


class CannedResponse(models.Model):
    """A reply agents insert by shortcut; placeholders are filled from the ticket."""

    title = models.CharField(max_length=120)
    shortcut = models.SlugField(
        max_length=40, unique=True, help_text="Typed by agents, e.g. refund-timeline."
    )
    body = models.TextField(
        help_text="Text with placeholders in braces, e.g. Hi {first_name}. Write {{ and }} "
        "for literal braces."
    )
    category = models.CharField(
        max_length=32,
        choices=Category.choices,
        blank=True,
        help_text="Offered first on tickets of this category; empty means any.",
    )
    usage_count = models.PositiveIntegerField(default=0, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]

    def __str__(self) -> str:
        return f"{self.title} (/{self.shortcut})"

    def clean(self) -> None:
        from chat.canned import placeholder_errors

        errors = placeholder_errors(self.body)
        if errors:
            raise ValidationError({"body": errors})


class TranscriptChainHead(models.Model):
    """The single row that points at the newest transcript; locked to append to the chain."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"Transcript chain head at {self.last_sequence}"


class ChatTranscript(models.Model):
    """The record of a closed conversation, as plain text and JSON, in a SHA-256 hash chain.

    The content never changes once written. Retention may later empty `text` and
    `json_text` and set `purged_at`; the row stays as a tombstone whose stored hashes keep
    the chain verifiable.
    """

    # Position in the chain, from 1; each row's previous_hash is the row before's entry_hash.
    sequence = models.PositiveBigIntegerField(unique=True)
    ticket = models.ForeignKey(
        Ticket, null=True, on_delete=models.SET_NULL, related_name="chat_transcripts"
    )
    ticket_reference = models.CharField(max_length=32)
    # The newest message the transcript covers; a redelivered close adds no second copy.
    last_message_id = models.BigIntegerField()
    message_count = models.PositiveIntegerField()
    closed_at = models.DateTimeField()
    created_at = models.DateTimeField()
    text = models.TextField(blank=True)
    json_text = models.TextField(blank=True)
    text_sha256 = models.CharField(max_length=64)
    json_sha256 = models.CharField(max_length=64)
    previous_hash = models.CharField(max_length=64, blank=True)
    entry_hash = models.CharField(max_length=64, unique=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["ticket_reference", "last_message_id"],
                name="chat_transcript_once_per_close",
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="chat_transcript_age_idx")]
        ordering = ["sequence"]

    def __str__(self) -> str:
        state = " (purged)" if self.purged_at else ""
        return f"Transcript {self.sequence} of {self.ticket_reference}{state}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError(
                "Chat transcripts cannot be changed once written; retention purges them "
                "through chat.transcripts.purge_transcripts."
            )
        super().save(*args, **kwargs)  # type: ignore[arg-type]
