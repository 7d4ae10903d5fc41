"""Polling: the safety net under webhooks, and the way to backfill a desk's history.

`sync_connection` walks the adapter's changes from the connection's persisted cursor. A
ticket the hub has not applied at its updated_at is fetched in full when the page left its
comments out. It is then stored as an InboundItem of kind "record" and applied at once, so
a failed apply is retried like any delivery. The cursor is saved after every
page, so an interrupted walk resumes where it stopped. A lease on the connection keeps two
polls of one connection from overlapping.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from integrations.apply import apply_records
from integrations.base import DeskAdapter, NotConfigured, ProviderError
from integrations.inbound import PermanentFailure, ProcessResult, process_item, store_item
from integrations.models import Connection, ExternalTicket, InboundItem
from integrations.registry import UnknownProvider, adapter_for, available_providers
from integrations.types import TicketRecord, record_from_dict, record_to_dict

logger = logging.getLogger(__name__)

# Providers that beat polls; the mailbox has its own sync.
POLLED_PROVIDERS = ("zendesk", "freshdesk", "intercom", "crisp")
# Longer than one beat run may take; a crashed poll frees the connection after this.
LEASE = timedelta(minutes=15)


@dataclass
class SyncReport:
    """Counts of one poll; error is empty when the poll ended without a provider error."""

    connection: str
    pages: int = 0
    seen: int = 0
    fetched: int = 0
    applied: int = 0
    unchanged: int = 0
    failed: int = 0
    done: bool = False
    busy: bool = False
    error: str = ""
    outcomes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.busy:
            return f"{self.connection}: another poll holds the lease; skipped"
        state = "up to date" if self.done else "more to fetch"
        text = (
            f"{self.connection}: {self.pages} page(s), {self.seen} ticket(s) seen, "
            f"{self.fetched} fetched, {self.applied} applied, {self.unchanged} unchanged, "
            f"{self.failed} failed; {state}"
        )
        return f"{text}; error: {self.error}" if self.error else text


def sync_connection(
    connection: Connection,
    *,
    since: datetime | None = None,
    adapter: DeskAdapter | None = None,
    max_pages: int | None = None,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Poll one connection until the walk is done or max_pages pages were read.

    since restarts the walk at that instant (a backfill) instead of the saved cursor.
    ProviderError, NotConfigured and UnknownProvider are recorded on the connection
    (last_error) and in the report instead of being raised. Other errors propagate. Either
    way the cursor keeps the last page applied and the lease is released.
    """
    report = SyncReport(connection.name)
    if not _acquire_lease(connection):
        report.busy = True
        return report
    try:
        adapter = adapter or adapter_for(connection)
        _walk(connection, adapter, report, since=since, max_pages=max_pages, progress=progress)
    except (ProviderError, NotConfigured, UnknownProvider) as exc:
        report.error = str(exc)
        logger.warning("poll of connection %s failed: %s", connection.name, exc)
    finally:
        _finish(connection, report)
    return report


def _walk(
    connection: Connection,
    adapter: DeskAdapter,
    report: SyncReport,
    *,
    since: datetime | None,
    max_pages: int | None,
    progress: Callable[[SyncReport], None] | None,
) -> None:
    cursor = dict(connection.cursor or {})
    while True:
        page = adapter.fetch_changes(cursor, since=since if report.pages == 0 else None)
        report.pages += 1
        for record in page.records:
            report.seen += 1
            _sync_record(connection, adapter, record, report)
        cursor = page.cursor
        Connection.objects.filter(pk=connection.pk).update(cursor=cursor)
        connection.cursor = cursor
        report.done = page.done
        if progress is not None:
            progress(report)
        if page.done or (max_pages is not None and report.pages >= max_pages):
            return


def _sync_record(
    connection: Connection, adapter: DeskAdapter, record: TicketRecord, report: SyncReport
) -> None:
    if not _changed_since_applied(connection, record):
        report.unchanged += 1
        return
    if not record.complete:
        fetched = adapter.fetch_ticket(record.external_id)
        report.fetched += 1
        if fetched is None:
            report.unchanged += 1
            return
        record = fetched
    item, created = store_record(connection, record)
    if not created and item.state in (InboundItem.State.DONE, InboundItem.State.IGNORED):
        report.unchanged += 1
        return
    processed = process_item(item.pk)
    if processed is None or processed.state == InboundItem.State.FAILED:
        report.failed += 1
        return
    report.applied += 1
    report.outcomes[processed.outcome] = report.outcomes.get(processed.outcome, 0) + 1


def _changed_since_applied(connection: Connection, record: TicketRecord) -> bool:
    state = ExternalTicket.objects.filter(
        connection=connection, external_id=record.external_id
    ).first()
    if state is None or state.source_updated_at is None:
        return True
    if record.deleted and not state.deleted:
        return True
    return record.updated_at.replace(microsecond=0) > state.source_updated_at


def store_record(connection: Connection, record: TicketRecord) -> tuple[InboundItem, bool]:
    """Store a ticket record as an InboundItem of kind "record", once per ticket and
    updated_at; processing is left to the caller."""
    key = (
        f"record:{connection.provider}:{connection.pk}:{record.external_id}:"
        f"{record.updated_at.isoformat()}"
    )
    payload = json.dumps(record_to_dict(record), ensure_ascii=False).encode()
    return store_item(
        kind=InboundItem.Kind.RECORD,
        provider=connection.provider,
        connection=connection,
        idempotency_key=key,
        payload=payload,
        meta={"ticket": record.external_id, "updated_at": record.updated_at.isoformat()},
        enqueue=False,
    )


def process_record_item(item: InboundItem) -> ProcessResult:
    """Processor for kind "record": apply a stored provider-neutral record."""
    connection = item.connection
    if connection is None:
        raise PermanentFailure("The record has no connection.")
    try:
        record = record_from_dict(json.loads(bytes(item.payload)))
        adapter = adapter_for(connection)
        result = apply_records(adapter=adapter, records=[record])
    except (ValueError, KeyError, TypeError, UnknownProvider, NotConfigured) as exc:
        raise PermanentFailure(f"{type(exc).__name__}: {exc}") from exc
    except ProviderError as exc:
        if not exc.retryable:
            raise PermanentFailure(str(exc)) from exc
        raise
    state = InboundItem.State.IGNORED if result.ticket_id is None else InboundItem.State.DONE
    return ProcessResult(state, result.outcome, result.ticket_id)


def sync_enabled_connections(*, max_pages: int = 20) -> list[SyncReport]:
    """Poll every enabled desk and chat connection whose adapter is installed (beat task)."""
    providers = [p for p in POLLED_PROVIDERS if p in available_providers()]
    reports = []
    connections = Connection.objects.filter(enabled=True, provider__in=providers).order_by("pk")
    for connection in connections:
        try:
            report = sync_connection(connection, max_pages=max_pages)
        except Exception:  # noqa: BLE001 - one broken connection must not stop the others
            logger.exception("poll of connection %s crashed", connection.name)
            continue
        logger.info("poll %s", report.summary())
        reports.append(report)
    return reports


# ---------------------------------------------------------------- lease and bookkeeping


def _acquire_lease(connection: Connection) -> bool:
    now = timezone.now()
    acquired = Connection.objects.filter(
        Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now), pk=connection.pk
    ).update(sync_lease_until=now + LEASE)
    return acquired == 1


def _finish(connection: Connection, report: SyncReport) -> None:
    now = timezone.now()
    fields: dict[str, object] = {"sync_lease_until": None, "last_sync_at": now}
    if report.error:
        fields.update(last_error=report.error[:4000], last_error_at=now)
    else:
        fields.update(last_success_at=now, last_error="")
    Connection.objects.filter(pk=connection.pk).update(**fields)
    for name, value in fields.items():
        setattr(connection, name, value)
