"""Processors for Intercom and Crisp items: the shared webhook and record processors, then
the chat steps (routing, closing, transcripts) for the ticket they touched.

Registered for "webhook:<provider>" and "record:<provider>" in chat.apps, so deliveries and
polled records take the same path. The chat steps run in a savepoint: if they fail, the
messages stay stored, the failure is logged, and the housekeeping task repairs the chat.
"""

from __future__ import annotations

import logging

from django.db import transaction

from chat.services import sync_conversation, sync_would_change
from integrations.inbound import ProcessResult
from integrations.models import InboundItem
from tickets.models import Ticket

logger = logging.getLogger(__name__)

CHAT_PROVIDERS = ("intercom", "crisp")


def process_chat_webhook_item(item: InboundItem) -> ProcessResult:
    from integrations.webhooks import process_webhook_item

    result = process_webhook_item(item)
    _after_apply(item, result)
    return result


def process_chat_record_item(item: InboundItem) -> ProcessResult:
    from integrations.sync import process_record_item

    result = process_record_item(item)
    _after_apply(item, result)
    return result


def _after_apply(item: InboundItem, result: ProcessResult) -> None:
    if result.ticket_id is None:
        return
    ticket = Ticket.objects.select_related("chat").filter(pk=result.ticket_id).first()
    if ticket is None or not sync_would_change(ticket):
        # Skipped rather than run in a savepoint that would write nothing.
        return
    try:
        with transaction.atomic():
            sync_conversation(ticket=ticket, connection=item.connection)
    except Exception:  # noqa: BLE001 - stored messages must survive a routing failure
        logger.exception(
            "chat steps failed for inbound item %s (ticket %s); housekeeping will retry",
            item.pk,
            ticket.pk,
        )
