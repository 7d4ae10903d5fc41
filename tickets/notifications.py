"""Deliver SLA alerts by e-mail and to Slack-compatible webhooks, with retries.

The scheduler records one SlaNotification row per ticket, kind and level before anything is
sent. Delivery claims due rows (marking them "sending"), sends them, and stores the outcome:
sent, failed with a retry time, or abandoned after SLA_NOTIFICATION_MAX_ATTEMPTS. E-mail and
webhook are tracked apart, so a retry repeats only the part that failed.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import EmailMessage, get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import F, Q
from django.urls import reverse

from tickets import escalation
from tickets.bulk_writes import update_rows
from tickets.models import (
    EscalationLevel,
    EscalationLevelConfig,
    SlaNotification,
    Ticket,
    TicketEvent,
)
from tickets.sla_calendar import sla_time_zone

logger = logging.getLogger(__name__)

# After this many failed attempts a notification is abandoned (about three hours of retries).
MAX_ATTEMPTS = 8
# A row left "sending" this long by a crashed worker is claimed again.
# NOTE: a worker that dies after sending but before storing the outcome leaves its rows
# "sending", so those alerts go out a second time after the lease: at least once, never lost.
CLAIM_LEASE = timedelta(minutes=10)
CLAIM_BATCH = 5000
WEBHOOK_TIMEOUT_SECONDS = 10.0

_SUBJECT_PREFIX = {
    escalation.WARNING: "SLA at risk",
    escalation.BREACH: "SLA breached",
    escalation.ESCALATION: "SLA escalation",
}


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    abandoned: int = 0
    skipped: int = 0


@dataclass
class Recipients:
    emails: list[str] = field(default_factory=list)
    webhook_url: str = ""
    # The reason nothing is sent: the level is switched off in admin.
    disabled_reason: str = ""


class RecipientDirectory:
    """The escalation contacts and the managers' SLA feed, read once per delivery run."""

    def __init__(self, configs: dict[int, EscalationLevelConfig], managers: list[str]) -> None:
        self._configs = configs
        self._managers = managers
        self._level_emails = {level: _config_emails(config) for level, config in configs.items()}

    @classmethod
    def load(cls) -> RecipientDirectory:
        levels = EscalationLevelConfig.objects.prefetch_related("users", "groups__user_set")
        configs = {config.level: config for config in levels}
        return cls(configs, manager_addresses())

    def recipients_for(self, notification: SlaNotification) -> Recipients:
        ticket = notification.ticket
        has_assignee = ticket.assignee is not None and bool(ticket.assignee.email)
        audience = escalation.audience_for(notification.kind, has_assignee=has_assignee)
        if audience is escalation.Audience.ASSIGNEE:
            assert ticket.assignee is not None
            return Recipients(emails=[ticket.assignee.email])

        config = self._configs.get(notification.level)
        if config is not None and not config.enabled:
            return Recipients(disabled_reason=f"level L{notification.level} is switched off")
        emails = list(self._level_emails.get(notification.level, []))
        if audience is escalation.Audience.LEVEL_AND_MANAGERS:
            emails += [address for address in self._managers if address not in emails]
        return Recipients(emails=emails, webhook_url=config.webhook_url if config else "")


def _config_emails(config: EscalationLevelConfig) -> list[str]:
    addresses: list[str] = []
    people = list(config.users.all())
    for group in config.groups.all():
        people.extend(group.user_set.all())
    for person in people:
        if person.is_active and person.email and person.email not in addresses:
            addresses.append(person.email)
    for address in config.address_list():
        if address not in addresses:
            addresses.append(address)
    return addresses


def manager_addresses() -> list[str]:
    """Return the e-mail addresses of active users holding tickets.receive_sla_feed."""
    permission = Permission.objects.filter(
        codename="receive_sla_feed", content_type__app_label="tickets"
    ).first()
    if permission is None:
        return []
    users = (
        get_user_model()
        .objects.filter(Q(user_permissions=permission) | Q(groups__permissions=permission))
        .filter(is_active=True)
        .exclude(email="")
        .distinct()
        .order_by("email")
    )
    return list(dict.fromkeys(user.email for user in users))


# ---------------------------------------------------------------- delivery


def deliver_due_notifications(*, now: datetime, limit: int = CLAIM_BATCH) -> DeliveryReport:
    """Send every notification that is due at `now`, in batches of `limit`."""
    report = DeliveryReport()
    directory: RecipientDirectory | None = None
    while True:
        batch = claim_due_notifications(now=now, limit=limit)
        if not batch:
            return report
        directory = directory or RecipientDirectory.load()
        _deliver_batch(batch, directory, now=now, report=report)
        if len(batch) < limit:
            return report


def claim_due_notifications(*, now: datetime, limit: int) -> list[SlaNotification]:
    """Mark up to `limit` due rows as "sending" for this worker and return them.

    On PostgreSQL rows locked by a concurrent run are skipped; SQLite runs write transactions
    one at a time, so there the claim is serial anyway.
    """
    due = SlaNotification.objects.filter(
        Q(
            state__in=[SlaNotification.State.PENDING, SlaNotification.State.FAILED],
            next_attempt_at__lte=now,
        )
        | Q(state=SlaNotification.State.SENDING, claimed_at__lt=now - CLAIM_LEASE)
    ).order_by("next_attempt_at", "id")
    with transaction.atomic():
        if db_connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        SlaNotification.objects.filter(id__in=ids).update(
            state=SlaNotification.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return list(
        SlaNotification.objects.filter(id__in=ids)
        .select_related("ticket", "ticket__assignee", "ticket__contact")
        .order_by("id")
    )


def _deliver_batch(
    batch: Sequence[SlaNotification],
    directory: RecipientDirectory,
    *,
    now: datetime,
    report: DeliveryReport,
) -> None:
    report.claimed += len(batch)
    mail = get_connection(fail_silently=False)
    events: list[TicketEvent] = []
    try:
        for notification in batch:
            try:
                _deliver_one(notification, directory, mail, now=now)
            except Exception as error:  # noqa: BLE001 - one broken row must not strand the batch
                # Earlier rows in the batch were sent. Storing this one as failed lets the batch
                # finish, so those rows are not claimed and sent again after the lease.
                logger.exception(
                    "sla notification %s raised while sending: ticket=%s", notification.pk,
                    notification.ticket_id,
                )
                _record_failure(notification, f"unexpected error ({type(error).__name__})", now=now)
            _count(report, notification)
            if notification.state == SlaNotification.State.SENT:
                events.append(_sent_event(notification, now=now))
    finally:
        mail.close()
    update_rows(
        batch,
        [
            "state",
            "next_attempt_at",
            "email_sent_at",
            "webhook_sent_at",
            "recipients",
            "last_error",
            "sent_at",
        ],
    )
    if events:
        TicketEvent.objects.bulk_create(events)


def _deliver_one(
    notification: SlaNotification, directory: RecipientDirectory, mail: object, *, now: datetime
) -> None:
    """Send what has not been sent yet and set the row's new state.

    Mail server and webhook failures end as a failed row with a retry time, not an exception.
    """
    recipients = directory.recipients_for(notification)
    if recipients.disabled_reason:
        notification.state = SlaNotification.State.SKIPPED
        notification.last_error = recipients.disabled_reason
        notification.next_attempt_at = None
        logger.info("sla notification %s skipped: %s", notification.pk, recipients.disabled_reason)
        return

    errors: list[str] = []
    if not recipients.emails and not recipients.webhook_url:
        errors.append(
            f"no recipients: add users, groups or addresses to level L{notification.level} "
            "in admin (Escalation levels)"
        )
    if recipients.emails and notification.email_sent_at is None:
        notification.recipients = recipients.emails
        error = _send_email(notification, recipients.emails, mail)
        if error:
            errors.append(error)
        else:
            notification.email_sent_at = now
    if recipients.webhook_url and notification.webhook_sent_at is None:
        error = _post_webhook(notification, recipients.webhook_url)
        if error:
            errors.append(error)
        else:
            notification.webhook_sent_at = now

    if not errors:
        notification.state = SlaNotification.State.SENT
        notification.sent_at = now
        notification.next_attempt_at = None
        notification.last_error = ""
        logger.info(
            "sla notification %s sent: ticket=%s kind=%s level=L%s emails=%d webhook=%s",
            notification.pk, notification.ticket_id, notification.kind, notification.level,
            len(recipients.emails), bool(recipients.webhook_url),
        )
        return

    _record_failure(notification, "; ".join(errors), now=now)


def _record_failure(notification: SlaNotification, error: str, *, now: datetime) -> None:
    """Schedule the next attempt with backoff, or abandon the row after MAX_ATTEMPTS."""
    notification.last_error = error[:2000]
    if notification.attempts >= MAX_ATTEMPTS:
        notification.state = SlaNotification.State.ABANDONED
        notification.next_attempt_at = None
        logger.error(
            "sla notification %s abandoned after %d attempts: ticket=%s kind=%s level=L%s: %s",
            notification.pk, notification.attempts, notification.ticket_id, notification.kind,
            notification.level, notification.last_error,
        )
        return
    delay = escalation.retry_delay_minutes(notification.attempts)
    notification.state = SlaNotification.State.FAILED
    notification.next_attempt_at = now + timedelta(minutes=delay)
    logger.warning(
        "sla notification %s failed (attempt %d), retry in %d min: ticket=%s kind=%s level=L%s: %s",
        notification.pk, notification.attempts, delay, notification.ticket_id, notification.kind,
        notification.level, notification.last_error,
    )


def _count(report: DeliveryReport, notification: SlaNotification) -> None:
    if notification.state == SlaNotification.State.SENT:
        report.sent += 1
    elif notification.state == SlaNotification.State.FAILED:
        report.failed += 1
    elif notification.state == SlaNotification.State.ABANDONED:
        report.abandoned += 1
    else:
        report.skipped += 1


def _send_email(notification: SlaNotification, emails: list[str], mail: object) -> str:
    """Send the alert e-mail; returns an error description, or "" on success."""
    subject, body = compose_email(notification)
    message = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=emails,
        connection=mail,  # type: ignore[arg-type]
        headers={"Auto-Submitted": "auto-generated", "X-Hub-Ticket": notification.ticket.reference},
    )
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        return f"e-mail failed ({type(exc).__name__}: {exc})"
    return ""


def _post_webhook(notification: SlaNotification, url: str) -> str:
    """Post the alert to a Slack-compatible webhook; returns an error description, or "".

    The error names only the status: a webhook URL's path is its secret.
    """
    from integrations.base import NotConfigured, ProviderError
    from integrations.http import ProviderHttp

    try:
        client = ProviderHttp(
            provider="sla-webhook",
            base_url=url,
            timeout=WEBHOOK_TIMEOUT_SECONDS,
            max_attempts=1,
            max_wait=0,
        )
        client.request("POST", url, json={"text": compose_webhook_text(notification)})
    except NotConfigured:
        return "webhook URL is invalid: use https:// (plain http only on loopback)"
    except ProviderError as error:
        if error.status is None:
            return "webhook failed (no answer: timed out or connection failed)"
        return f"webhook answered HTTP {error.status}"
    return ""


# ---------------------------------------------------------------- content


def compose_email(notification: SlaNotification) -> tuple[str, str]:
    """Return the subject and plain-text body of an alert; no customer message text is included."""
    ticket = notification.ticket
    prefix = _SUBJECT_PREFIX[notification.kind]
    if notification.kind == escalation.ESCALATION:
        prefix = f"{prefix} to L{notification.level}"
    subject = f"[{prefix}] {ticket.reference} {ticket.subject}"[:200]
    lines = [
        headline(notification),
        "",
        f"Ticket:    {ticket.reference} {ticket.subject}",
        f"Customer:  {ticket.contact or '-'}",
        f"Category:  {ticket.get_category_display()}",
        f"Channel:   {ticket.get_channel_display()}",
        f"Assignee:  {ticket.assignee.get_username() if ticket.assignee else 'nobody'}",
        f"Policy:    {ticket.sla_policy or '-'}",
        f"Clock start: {_local(ticket.sla_started_at)}",
        f"Due:       {_local(ticket.sla_due_at)}",
        f"Level now: {EscalationLevel(ticket.escalation_level).label}",
        "",
        f"Open the ticket: {ticket_admin_url(ticket)}",
        "",
        "Sent once by the hub's SLA scheduler; reply in the ticket, not to this e-mail.",
    ]
    return subject, "\n".join(lines)


def compose_webhook_text(notification: SlaNotification) -> str:
    ticket = notification.ticket
    return (
        f"{headline(notification)} {ticket.reference} \"{ticket.subject[:120]}\" "
        f"(due {_local(ticket.sla_due_at)}): {ticket_admin_url(ticket)}"
    )


def headline(notification: SlaNotification) -> str:
    threshold = _local(notification.threshold_at)
    if notification.kind == escalation.WARNING:
        used = f"{settings.SLA_WARNING_FRACTION:.0%}"
        return f"At risk: {used} of the first-response target used at {threshold}, no reply yet."
    if notification.kind == escalation.BREACH:
        return f"Breached: no first response by the due time {threshold}."
    label = EscalationLevel(notification.level).label
    return f"Escalated to {label}: still no first response at {threshold}."


def ticket_admin_url(ticket: Ticket) -> str:
    return settings.SITE_URL + reverse("admin:tickets_ticket_change", args=[ticket.pk])


def _local(instant: datetime | None) -> str:
    if instant is None:
        return "-"
    return instant.astimezone(sla_time_zone()).strftime("%Y-%m-%d %H:%M %Z")


def _sent_event(notification: SlaNotification, *, now: datetime) -> TicketEvent:
    return TicketEvent(
        ticket_id=notification.ticket_id,
        kind=TicketEvent.Kind.NOTIFICATION,
        actor_label="sla",
        new_value=f"{notification.kind} L{notification.level}",
        reason=headline(notification),
        data={
            "notification": notification.pk,
            "emails": len(notification.recipients),
            "webhook": notification.webhook_sent_at is not None,
        },
        occurred_at=now,
    )


def retry_notifications(*, ids: Sequence[int], now: datetime) -> int:
    """Queue failed or abandoned notifications for another round of attempts."""
    return SlaNotification.objects.filter(
        id__in=list(ids),
        state__in=[SlaNotification.State.FAILED, SlaNotification.State.ABANDONED],
    ).update(state=SlaNotification.State.PENDING, attempts=0, next_attempt_at=now)
