"""The one queue: contacts, tickets, messages, attachments and their history.

Every write goes through tickets.services, which records a TicketEvent for each change.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Category(models.TextChoices):
    DONATION = "donation_issues", "Donation Issues"
    ACCOUNT = "account_problems", "Account Problems"
    TECHNICAL = "technical_support", "Technical Support"
    CHARITY = "charity_questions", "Charity Questions"
    PAYMENT = "payment_issues", "Payment Issues"
    UNCATEGORISED = "uncategorised", "Uncategorised"


class Source(models.TextChoices):
    EMAIL = "email", "E-mail (help@)"
    WEB = "web", "Help centre form"
    ZENDESK = "zendesk", "Zendesk"
    FRESHDESK = "freshdesk", "Freshdesk"
    INTERCOM = "intercom", "Intercom"
    CRISP = "crisp", "Crisp"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    WEB_FORM = "web_form", "Web form"
    CHAT = "chat", "Chat"
    CHAT_OFFLINE = "chat_offline", "Chat (offline message)"
    WHATSAPP = "whatsapp", "WhatsApp"
    PHONE = "phone", "Phone"
    AGENT_OUTBOUND = "agent_outbound", "Opened by an agent"


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING_CUSTOMER = "pending_customer", "Pending customer"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (Status.NEW, Status.OPEN, Status.PENDING_CUSTOMER, Status.ON_HOLD)


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class EscalationLevel(models.IntegerChoices):
    L1 = 1, "L1 support team"
    L2 = 2, "L2 engineering on-call"
    L3 = 3, "L3 DevOps / infrastructure"
    L4 = 4, "L4 CTO / VP engineering"


class SlaState(models.TextChoices):
    NONE = "", "No timer"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    ACHIEVED = "achieved", "Achieved"
    BREACHED = "breached", "Breached"
    CANCELLED = "cancelled", "Cancelled"


class Contact(models.Model):
    """One person across channels; their addresses and provider ids are ContactIdentity rows."""

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(max_length=254, blank=True, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        if self.name and self.email:
            return f"{self.name} <{self.email}>"
        return self.name or self.email or f"Contact {self.pk}"


class ContactIdentity(models.Model):
    """An address or provider id that belongs to a contact, e.g. ("email", "a@b.org")."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=32)
    value = models.CharField(max_length=320)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="contact_identity_unique")
        ]
        verbose_name_plural = "contact identities"

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


class Ticket(models.Model):
    source = models.CharField(max_length=16, choices=Source.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # The ticket's id in its source system; empty for mail and help centre tickets.
    external_id = models.CharField(max_length=128, blank=True, default="")
    subject = models.CharField(max_length=500, blank=True)
    category = models.CharField(
        max_length=32, choices=Category.choices, default=Category.UNCATEGORISED
    )
    category_reason = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    escalation_level = models.PositiveSmallIntegerField(
        choices=EscalationLevel.choices, default=EscalationLevel.L1
    )
    tags = models.JSONField(default=list, blank=True)
    created_in_source_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)

    # First-response SLA timer, kept current by tickets.services on every event.
    sla_policy = models.CharField("SLA policy", max_length=2, blank=True)
    sla_state = models.CharField(
        "SLA state", max_length=10, choices=SlaState.choices, blank=True, default=""
    )
    sla_started_at = models.DateTimeField("SLA clock start", null=True, blank=True)
    sla_due_at = models.DateTimeField("SLA due at", null=True, blank=True)
    sla_warning_at = models.DateTimeField("SLA warning at", null=True, blank=True)
    sla_responded_at = models.DateTimeField("first response at", null=True, blank=True)
    sla_business_minutes = models.PositiveIntegerField(
        "SLA business minutes", null=True, blank=True
    )
    # The next instant at which the timer changes without a new event; the scheduler reads
    # only tickets whose instant has passed.
    sla_next_check_at = models.DateTimeField("SLA next check at", null=True, blank=True)
    # Set when the timer stops (first response, or a cancel). A stopped timer's figures are
    # never recomputed, and they are kept in SlaOutcome.
    sla_stopped_at = models.DateTimeField(null=True, blank=True)
    # How many SLA thresholds, in the order warning, breach, L2, L3, L4, already have an
    # SlaNotification row. The scheduler writes the rows for the thresholds past this count.
    sla_alert_step = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="ticket_external_id_unique_per_source",
            )
        ]
        indexes = [
            models.Index(fields=["-received_at"], name="ticket_received_idx"),
            models.Index(fields=["status", "-received_at"], name="ticket_status_idx"),
            models.Index(fields=["category", "-received_at"], name="ticket_category_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["escalation_level", "status"], name="ticket_level_idx"),
            models.Index(fields=["source", "-received_at"], name="ticket_source_idx"),
            models.Index(fields=["sla_next_check_at"], name="ticket_sla_next_idx"),
            models.Index(fields=["sla_state", "sla_due_at"], name="ticket_sla_due_idx"),
            models.Index(fields=["sla_started_at"], name="ticket_sla_started_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.subject}"

    @property
    def reference(self) -> str:
        """The reference customers see and quote, e.g. IL-1042."""
        return f"IL-{self.pk}" if self.pk else "IL-?"


class Direction(models.TextChoices):
    INBOUND = "in", "From the customer"
    OUTBOUND = "out", "To the customer"


class AuthorKind(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot or automation"
    SYSTEM = "system", "System"


class MessageKind(models.TextChoices):
    NORMAL = "normal", "Normal"
    AUTO_REPLY = "auto_reply", "Auto-reply"
    BOUNCE = "bounce", "Bounce"
    LIST = "list", "Mailing list"
    AUTO_ACK = "auto_ack", "Automatic acknowledgement"
    CALL = "call", "Connected call"


class Message(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    source = models.CharField(max_length=16, choices=Source.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.EMAIL)
    # The message's id in its source system (a comment id, a conversation part id).
    external_id = models.CharField(max_length=128, blank=True, default="")
    direction = models.CharField(max_length=3, choices=Direction.choices)
    is_public = models.BooleanField(default=True)
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.NORMAL)
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    author_name = models.CharField(max_length=200, blank=True)
    author_email = models.CharField(max_length=320, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)  # sanitised before it is stored
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    in_reply_to = models.TextField(blank=True)
    references = models.TextField(blank=True)  # space-separated Message-IDs without <>
    content_sha256 = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="message_external_id_unique_per_source",
            ),
        ]
        indexes = [models.Index(fields=["ticket", "sent_at"], name="message_thread_idx")]
        ordering = ["sent_at", "id"]

    def __str__(self) -> str:
        author = self.author_name or self.author_email or self.get_author_kind_display()
        sent = timezone.localtime(self.sent_at).strftime("%-d %b %Y %H:%M")
        return f"{author}, {sent}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255, default="application/octet-stream")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    content_id = models.CharField(max_length=255, blank=True)
    inline = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.filename


class TicketEvent(models.Model):
    """Append-only history: one row per change to a ticket, with who made it and why."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        MESSAGE = "message", "Message added"
        CATEGORY = "category", "Category changed"
        STATUS = "status", "Status changed"
        PRIORITY = "priority", "Priority changed"
        ASSIGNEE = "assignee", "Assignee changed"
        ESCALATION = "escalation", "Escalation level changed"
        SLA = "sla", "SLA timer changed"
        NOTIFICATION = "notification", "Notification sent"
        MERGED = "merged", "Merged"
        SPAM = "spam", "Marked as spam"
        NOTE = "note", "Note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Who or what made the change when it was not a user: "mailbox", "categoriser", "zendesk".
    actor_label = models.CharField(max_length=64, blank=True)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["ticket", "occurred_at"], name="event_ticket_idx")]
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on IL-{self.ticket_id}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("Ticket events are append-only and cannot be changed.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]


class CategoryRule(models.Model):
    """A phrase that votes for a category, editable by support leads in admin."""

    class Field(models.TextChoices):
        ANY = "any", "Subject or body"
        SUBJECT = "subject", "Subject"
        BODY = "body", "Body"

    category = models.CharField(
        max_length=32, choices=[c for c in Category.choices if c[0] != Category.UNCATEGORISED]
    )
    # Matched case- and accent-insensitively on word boundaries; may contain spaces.
    phrase = models.CharField(max_length=200)
    weight = models.FloatField(default=1.0)
    field = models.CharField(max_length=8, choices=Field.choices, default=Field.ANY)
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["category", "phrase", "field"], name="category_rule_unique"
            )
        ]
        ordering = ["category", "-weight", "phrase"]

    def __str__(self) -> str:
        return f"{self.phrase!r} → {self.get_category_display()} ({self.weight:+g})"


# ---------------------------------------------------------------- SLA calendar and alerts


class Holiday(models.Model):
    """A whole day without business hours: a public holiday, a declared day or a company closure."""

    class Source(models.TextChoices):
        ACT = "act", "Public Holidays Act"
        DECLARED = "declared", "Declared by the President"
        COMPANY = "company", "Company closure"

    date = models.DateField(unique=True)
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.COMPANY)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"


class SlaOutcome(models.Model):
    """A stopped first-response timer as reports read it; written once, when the timer stops.

    Later holiday edits recompute only timers that have not stopped, so these rows keep the
    figures of the calendar in force when each timer stopped.
    """

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="sla_outcome")
    policy = models.CharField(max_length=2)
    state = models.CharField(max_length=10, choices=SlaState.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    category = models.CharField(max_length=32, choices=Category.choices)
    # The agent who sent the first response, else the assignee when the timer stopped.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    # The SLA time zone's date of the clock start; reports group by it.
    started_on = models.DateField()
    due_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField()
    business_minutes = models.PositiveIntegerField()
    escalation_level = models.PositiveSmallIntegerField(choices=EscalationLevel.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SLA outcome"
        indexes = [models.Index(fields=["started_on", "state"], name="sla_outcome_started_idx")]
        permissions = [
            ("receive_sla_feed", "Receives SLA breach alerts and the weekly SLA summary"),
        ]

    def __str__(self) -> str:
        return f"SLA {self.state} on IL-{self.ticket_id}"


class EscalationLevelConfig(models.Model):
    """Recipients of the alerts for one escalation level, and the webhook they go to.

    L1's recipients are the support team: they get the at-risk warning for unassigned tickets
    and, with the managers' SLA feed, the breach alert. L2 to L4 are paged as the walk reaches
    them.
    """

    level = models.PositiveSmallIntegerField(choices=EscalationLevel.choices, unique=True)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(
        default=True, help_text="When off, nobody at this level is told; the walk still records it."
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    groups = models.ManyToManyField("auth.Group", blank=True, related_name="+")
    extra_addresses = models.TextField(
        blank=True, help_text="More e-mail addresses, one per line (an on-call alias, a list)."
    )
    webhook_url = models.URLField(
        blank=True,
        max_length=500,
        help_text=(
            'Optional Slack-compatible incoming webhook; receives a JSON {"text": ...} post.'
        ),
    )

    class Meta:
        ordering = ["level"]
        verbose_name = "escalation level"

    def __str__(self) -> str:
        return f"L{self.level} {self.name}"

    def address_list(self) -> list[str]:
        return [line.strip() for line in self.extra_addresses.splitlines() if line.strip()]


class SlaNotification(models.Model):
    """One SLA alert for one ticket: the warning, the breach alert or an escalation page.

    The unique (ticket, kind, level) row is written before anything is sent, so a second or
    concurrent scheduler run finds it and sends nothing again.
    """

    class Kind(models.TextChoices):
        WARNING = "warning", "At-risk warning"
        BREACH = "breach", "Breach alert"
        ESCALATION = "escalation", "Escalation"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed, will retry"
        ABANDONED = "abandoned", "Failed, no more retries"
        SUPPRESSED = "suppressed", "Not sent: already past when the ticket was imported"
        SKIPPED = "skipped", "Not sent: answered, cancelled or breached before it went out"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="sla_notifications")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    level = models.PositiveSmallIntegerField(choices=EscalationLevel.choices)
    # The threshold instant; the alert is due strictly after it.
    threshold_at = models.DateTimeField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "SLA notification"
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "kind", "level"], name="sla_notification_once"
            )
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="sla_notification_due_idx")
        ]
        ordering = ["threshold_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} L{self.level} on IL-{self.ticket_id}"
