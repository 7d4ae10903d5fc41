"""Changes the hub sends back to the chat provider: assignments and the off-hours message.

Routing writes a ProviderPush row in its own transaction and schedules the send for after
commit, so a slow or failing provider never holds up routing. A retryable failure (429,
5xx, timeout) keeps the row with a retry time; `retry_due_pushes` sends it again. A failure
that no retry can fix (unknown conversation, agent without a provider account) is logged
and kept as gave_up with the reason.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from chat.models import CannedResponse, ChatConversation, ProviderPush
from integrations.base import NotConfigured, ProviderError

logger = logging.getLogger(__name__)

OFF_HOURS_SHORTCUT = "off-hours"


@runtime_checkable
class ChatOutbound(Protocol):
    """The calls a chat adapter offers for pushes.

    Each call returns the provider's id of what it created, or "" when the provider returns
    none. Each raises ProviderError or NotConfigured."""

    def assign_conversation(
        self, conversation_id: str, *, agent_email: str, agent_name: str
    ) -> str: ...

    def send_visitor_message(self, conversation_id: str, *, text: str) -> str: ...


# ---------------------------------------------------------------- queueing


def queue_assignment(
    *, conversation: ChatConversation, agent: AbstractBaseUser
) -> ProviderPush | None:
    """Record that the provider must show the chat as the agent's, and send it after commit.

    Returns None for a disabled connection, which the hub does not write to.
    """
    if _connection_disabled(conversation):
        return None
    push = ProviderPush.objects.create(
        conversation=conversation,
        kind=ProviderPush.Kind.ASSIGN,
        payload={
            "agent_id": agent.pk,
            "agent_email": getattr(agent, "email", ""),
            "agent_name": agent.get_full_name() or agent.get_username(),  # type: ignore[attr-defined]
        },
    )
    _send_after_commit(push.pk)
    return push


def queue_off_hours_message(*, conversation: ChatConversation) -> ProviderPush | None:
    """Send the visitor the off-hours message once per conversation.

    Returns None when it was queued before or the connection is disabled.
    """
    if _connection_disabled(conversation):
        return None
    if ProviderPush.objects.filter(
        conversation=conversation, kind=ProviderPush.Kind.OFF_HOURS_MESSAGE
    ).exists():
        return None
    try:
        with transaction.atomic():
            push = ProviderPush.objects.create(
                conversation=conversation,
                kind=ProviderPush.Kind.OFF_HOURS_MESSAGE,
                payload={"text": off_hours_text(conversation)},
            )
    except IntegrityError:
        # Another worker queued it first; the unique constraint keeps it to one message.
        return None
    _send_after_commit(push.pk)
    return push


def _connection_disabled(conversation: ChatConversation) -> bool:
    connection = conversation.connection
    if connection is not None and not connection.enabled:
        logger.debug(
            "chat %s: connection %s is disabled, nothing pushed", conversation.pk, connection.name
        )
        return True
    return False


def off_hours_text(conversation: ChatConversation) -> str:
    """Render the off-hours message: the "off-hours" canned response, else the setting."""
    from chat.canned import placeholder_values, render_body

    template = (
        CannedResponse.objects.filter(shortcut=OFF_HOURS_SHORTCUT)
        .values_list("body", flat=True)
        .first()
        or settings.CHAT_OFF_HOURS_MESSAGE
    )
    return render_body(template, placeholder_values(ticket=conversation.ticket, agent=None))


def _send_after_commit(push_id: int) -> None:
    from chat.tasks import send_provider_push

    transaction.on_commit(lambda: send_provider_push.delay(push_id))


# ---------------------------------------------------------------- sending


def send_push(push_id: int, *, now: datetime | None = None) -> ProviderPush | None:
    """Send one pending or failed push.

    A ProviderError, NotConfigured or unknown provider is stored on the push, not raised.
    """
    from integrations.registry import UnknownProvider, adapter_for

    now = now or timezone.now()
    with transaction.atomic():
        push = (
            ProviderPush.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("conversation__connection")
            .filter(pk=push_id, state__in=[ProviderPush.State.PENDING, ProviderPush.State.FAILED])
            .first()
        )
        if push is None:
            return None
        conversation = push.conversation
        try:
            if conversation.connection is None:
                raise NotConfigured(f"chat {conversation.pk} has no connection to send through")
            if not conversation.connection.enabled:
                raise NotConfigured(f"connection {conversation.connection.name!r} is disabled")
            adapter = adapter_for(conversation.connection)
            if not isinstance(adapter, ChatOutbound):
                raise NotConfigured(f"the {conversation.provider} adapter cannot send chat changes")
            reference = _deliver(adapter, push)
        except ProviderError as exc:
            _failed(push, str(exc), retry=exc.retryable, retry_after=exc.retry_after, now=now)
        except (NotConfigured, UnknownProvider) as exc:
            _failed(push, str(exc), retry=False, retry_after=None, now=now)
        else:
            push.state = ProviderPush.State.SENT
            push.provider_ref = reference[:64]
            push.sent_at = now
            push.attempts += 1
            push.last_error = ""
            push.next_attempt_at = None
            push.save(
                update_fields=[
                    "state",
                    "provider_ref",
                    "sent_at",
                    "attempts",
                    "last_error",
                    "next_attempt_at",
                ]
            )
            logger.info("chat push %s (%s) sent for chat %s", push.pk, push.kind, conversation.pk)
    return push


def _deliver(adapter: ChatOutbound, push: ProviderPush) -> str:
    external_id = push.conversation.external_id
    if push.kind == ProviderPush.Kind.ASSIGN:
        return adapter.assign_conversation(
            external_id,
            agent_email=str(push.payload.get("agent_email") or ""),
            agent_name=str(push.payload.get("agent_name") or ""),
        )
    return adapter.send_visitor_message(external_id, text=str(push.payload.get("text") or ""))


def _failed(
    push: ProviderPush, error: str, *, retry: bool, retry_after: float | None, now: datetime
) -> None:
    push.attempts += 1
    push.last_error = error[:2000]
    if retry and push.attempts < settings.CHAT_PUSH_MAX_ATTEMPTS:
        # 1, 2, 4, 8 … minutes, or longer when the provider asked for a longer pause.
        delay = max(60.0 * 2 ** (push.attempts - 1), retry_after or 0.0)
        push.state = ProviderPush.State.FAILED
        push.next_attempt_at = now + timedelta(seconds=delay)
    else:
        push.state = ProviderPush.State.GAVE_UP
        push.next_attempt_at = None
    push.save(update_fields=["attempts", "last_error", "state", "next_attempt_at"])
    logger.warning(
        "chat push %s (%s) for chat %s failed on attempt %s, %s: %s",
        push.pk,
        push.kind,
        push.conversation_id,
        push.attempts,
        f"retry at {push.next_attempt_at:%Y-%m-%d %H:%M:%S}"
        if push.next_attempt_at
        else "not retried",
        error[:200],
    )


def retry_due_pushes(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send failed pushes whose retry time has come, and pending ones whose task was lost."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=5)
    due = (
        (
            ProviderPush.objects.filter(state=ProviderPush.State.FAILED, next_attempt_at__lte=now)
            | ProviderPush.objects.filter(state=ProviderPush.State.PENDING, created_at__lte=stale)
        )
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    count = 0
    for push_id in list(due):
        send_push(push_id, now=now)
        count += 1
    return count
