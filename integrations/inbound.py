"""Store first, then process: the path every mail and webhook body takes into the queue.

`store_item` writes the raw bytes under a unique idempotency key and schedules processing
after the transaction commits. `process_item` runs the kind's processor; a failure marks
the item failed with the error and a retry time, and never blocks other items.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import Connection, InboundItem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessResult:
    """Outcome of a processor on one item; state is done or ignored."""

    state: str
    outcome: str
    ticket_id: int | None = None


class PermanentFailure(Exception):
    """An item that no retry can process (oversized, not a mail at all); kept as failed."""


Processor = Callable[[InboundItem], ProcessResult]

# Kind (and provider for webhooks) to the dotted path of its processor, imported on first use.
PROCESSORS: dict[str, str] = {
    "mail": "integrations.mailbox.ingest.process_mail_item",
    "web_form": "integrations.webform.process_web_form_item",
    "webhook": "integrations.webhooks.process_webhook_item",
    "record": "integrations.sync.process_record_item",
}


def register_processor(key: str, dotted_path: str) -> None:
    PROCESSORS[key] = dotted_path


def _processor_for(item: InboundItem) -> Processor:
    key = f"{item.kind}:{item.provider}" if item.provider and item.kind != "mail" else item.kind
    path = PROCESSORS.get(key) or PROCESSORS.get(item.kind)
    if path is None:
        raise PermanentFailure(f"No processor is registered for {key!r}.")
    module_name, _, attribute = path.rpartition(".")
    processor: Processor = getattr(importlib.import_module(module_name), attribute)
    return processor


def store_item(
    *,
    kind: str,
    idempotency_key: str,
    payload: bytes,
    provider: str = "",
    connection: Connection | None = None,
    meta: dict[str, object] | None = None,
    enqueue: bool = True,
) -> tuple[InboundItem, bool]:
    """Save a raw item unless its key is already stored; return the item and whether it is new.

    With enqueue, processing is scheduled once the surrounding transaction commits.
    """
    try:
        with transaction.atomic():
            item = InboundItem.objects.create(
                kind=kind,
                provider=provider,
                connection=connection,
                idempotency_key=idempotency_key[:200],
                payload=payload,
                size=len(payload),
                meta=meta or {},
            )
    except IntegrityError:
        existing = InboundItem.objects.filter(idempotency_key=idempotency_key[:200]).first()
        if existing is None:
            raise
        return existing, False
    if enqueue:
        schedule_processing(item.pk)
    return item, True


def schedule_processing(item_id: int) -> None:
    from integrations.tasks import process_inbound_item

    transaction.on_commit(lambda: process_inbound_item.delay(item_id))


def process_item(item_id: int) -> InboundItem | None:
    """Process one stored item; safe to call twice, and never raises for a bad item."""
    # The connection comes in the same query: every webhook and record processor reads it.
    item = InboundItem.objects.select_related("connection").filter(pk=item_id).first()
    if item is None:
        logger.warning("inbound item %s not found", item_id)
        return None
    if item.state in (InboundItem.State.DONE, InboundItem.State.IGNORED):
        return item

    attempts = item.attempts
    try:
        processor = _processor_for(item)
        with transaction.atomic():
            result = processor(item)
            # Marked done in the same transaction, so the item is done exactly when its
            # writes are committed, and one commit serves both.
            _mark_processed(item, result)
    except PermanentFailure as exc:
        item.attempts = attempts
        _mark_failed(item, str(exc), retry=False)
        return item
    except Exception as exc:  # noqa: BLE001 - one bad item must not stop the others
        # A failed commit rolls back _mark_processed's row update but not its count.
        item.attempts = attempts
        logger.exception(
            "inbound item %s (%s) failed on attempt %s", item.pk, item.kind, item.attempts + 1
        )
        _mark_failed(item, f"{type(exc).__name__}: {exc}", retry=True)
        return item
    return item


def _mark_processed(item: InboundItem, result: ProcessResult) -> None:
    item.state = result.state
    item.outcome = result.outcome
    item.ticket_id = result.ticket_id
    item.attempts += 1
    item.last_error = ""
    item.next_attempt_at = None
    item.processed_at = timezone.now()
    item.save(
        update_fields=[
            "state",
            "outcome",
            "ticket_id",
            "attempts",
            "last_error",
            "next_attempt_at",
            "processed_at",
        ]
    )


def _mark_failed(item: InboundItem, error: str, *, retry: bool) -> None:
    item.attempts += 1
    item.state = InboundItem.State.FAILED
    item.last_error = error[:4000]
    if retry and item.attempts < settings.INBOUND_MAX_ATTEMPTS:
        # 1, 4, 16, 64 minutes: enough for a database restart or a provider outage.
        item.next_attempt_at = timezone.now() + timedelta(minutes=4 ** (item.attempts - 1))
    else:
        item.next_attempt_at = None
    item.save(update_fields=["attempts", "state", "last_error", "next_attempt_at"])
    logger.warning(
        "inbound item %s marked failed (attempt %s, retry at %s): %s",
        item.pk,
        item.attempts,
        item.next_attempt_at,
        error[:200],
    )


def items_due_for_retry(*, now=None):  # type: ignore[no-untyped-def]
    """Failed items whose retry time has come, and pending items whose task was lost."""
    from django.db.models import Q

    now = now or timezone.now()
    stale = now - timedelta(minutes=5)
    return InboundItem.objects.filter(
        Q(state=InboundItem.State.FAILED, next_attempt_at__lte=now)
        | Q(state=InboundItem.State.PENDING, received_at__lte=stale)
    ).order_by("received_at")
