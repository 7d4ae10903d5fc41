"""Celery tasks of the integrations; each takes ids and calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="integrations.tasks.process_inbound_item", ignore_result=True)
def process_inbound_item(item_id: int) -> None:
    from integrations.inbound import process_item

    process_item(item_id)


@shared_task(name="integrations.tasks.retry_failed_inbound", ignore_result=True)
def retry_failed_inbound(limit: int = 500) -> int:
    from integrations.inbound import items_due_for_retry, process_item

    count = 0
    for item_id in items_due_for_retry().values_list("pk", flat=True)[:limit]:
        process_item(item_id)
        count += 1
    return count


@shared_task(name="integrations.tasks.sync_mailbox", ignore_result=True)
def sync_mailbox() -> None:
    # Syncs MAILBOX_* and mailbox connections added in admin; does nothing when neither exists.
    from integrations.mailbox.sync import sync_configured_mailbox

    sync_configured_mailbox()


@shared_task(name="integrations.tasks.sync_desks", ignore_result=True)
def sync_desks(max_pages: int = 20) -> None:
    # Polls every enabled desk and chat connection; a connection still being polled is skipped.
    from integrations.sync import sync_enabled_connections

    sync_enabled_connections(max_pages=max_pages)
