"""Incremental fetch of the help@ mailbox into the inbound item store.

Each run selects the folder and fetches mail with a UID above the stored cursor, in batches.
Every raw mail is stored as an InboundItem keyed by the SHA-256 of its bytes, and the cursor
advances in the same transaction as the batch's items. Processing into tickets starts after
each commit.
Mail is never deleted; with the options set it is flagged or moved once it is stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from imapclient import IMAPClient

from integrations.inbound import store_item
from integrations.mailbox.client import (
    MailboxConfig,
    MailboxError,
    config_for_connection,
    open_mailbox,
)
from integrations.models import Connection, InboundItem

logger = logging.getLogger(__name__)

# The row that keeps the cursor and status of the mailbox configured by MAILBOX_* settings.
DEFAULT_CONNECTION_NAME = "help-mailbox"
# Keyword set on stored mail when MAILBOX_FLAG_PROCESSED is on; \Seen is used instead when the
# server accepts no keywords. A keyword leaves the mail unread for people using the mailbox.
PROCESSED_KEYWORD = b"$HubProcessed"
# Upper bound of message bytes fetched in one FETCH, so a batch of large mail stays in memory
# once and the process size stays flat however big the mailbox is.
FETCH_BYTE_BUDGET = 32 * 1024 * 1024
# A sync that starts while another sync of the same connection holds the lease
# (Connection.sync_lease_until) is skipped. Each stored batch extends the lease, so it runs out
# this long after a killed worker's last batch and syncing resumes.
LEASE = timedelta(minutes=15)


@dataclass
class SyncSummary:
    connection: str
    folder: str = ""
    uidvalidity: int | None = None
    resynced: bool = False
    fetched: int = 0
    stored: int = 0
    already_stored: int = 0
    headers_only: int = 0
    flagged: int = 0
    moved: int = 0
    first_item_id: int | None = None
    error: str = ""
    skipped: str = ""
    batches: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and not self.skipped


def default_connection() -> Connection:
    """Return the Connection row of the MAILBOX_* mailbox, creating it on first use."""
    connection, _ = Connection.objects.get_or_create(
        name=DEFAULT_CONNECTION_NAME, defaults={"provider": Connection.Provider.MAILBOX}
    )
    return connection


def sync_configured_mailbox() -> list[SyncSummary]:
    """Sync the MAILBOX_* mailbox (when MAILBOX_HOST is set) and every enabled mailbox row.

    A failure of one connection, of any kind, is logged and stored on its row, and the other
    connections are still synced.
    """
    if settings.MAILBOX_HOST:
        default_connection()
    summaries = []
    connections = Connection.objects.filter(provider=Connection.Provider.MAILBOX, enabled=True)
    for connection in connections.order_by("pk"):
        if connection.name != DEFAULT_CONNECTION_NAME and not connection.config.get("host"):
            continue
        if connection.name == DEFAULT_CONNECTION_NAME and not (
            settings.MAILBOX_HOST or connection.config.get("host")
        ):
            continue
        try:
            summaries.append(sync_mailbox(connection))
        except Exception as exc:  # noqa: BLE001 - one broken mailbox must not stop the others
            logger.exception("mailbox connection %s: sync failed", connection.pk)
            _record_failure(connection, f"{type(exc).__name__}: {exc}")
            summaries.append(SyncSummary(connection=connection.name, error=str(exc)))
    return summaries


def sync_mailbox(connection: Connection) -> SyncSummary:
    """Fetch new mail of one connection into the item store.

    A MailboxError (login, TLS, network, missing folder) is caught: it is logged, stored in
    connection.last_error and returned in the summary, and the next run tries again.
    """
    summary = SyncSummary(connection=connection.name)
    if not _extend_lease(connection, only_if_free=True):
        logger.info("mailbox connection %s: another sync is running; skipped", connection.pk)
        summary.skipped = "another sync of this connection is running"
        return summary

    Connection.objects.filter(pk=connection.pk).update(last_sync_at=timezone.now())
    try:
        config = config_for_connection(connection)
        summary.folder = config.folder
        with open_mailbox(config) as client:
            _sync_folder(client, connection, config, summary)
    except MailboxError as exc:
        level = logging.WARNING if exc.retryable else logging.ERROR
        logger.log(level, "mailbox connection %s: sync failed: %s", connection.pk, exc)
        _record_failure(connection, str(exc))
        summary.error = str(exc)
        return summary
    finally:
        Connection.objects.filter(pk=connection.pk).update(sync_lease_until=None)

    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        last_success_at=now, last_error="", last_error_at=None
    )
    logger.info(
        "mailbox connection %s: synced %s (%s new, %s already stored, %s headers only)",
        connection.pk,
        summary.fetched,
        summary.stored,
        summary.already_stored,
        summary.headers_only,
    )
    return summary


def _extend_lease(connection: Connection, *, only_if_free: bool = False) -> bool:
    """Hold the connection's sync lease for LEASE from now; return whether it is held.

    With only_if_free, take the lease only when no unexpired lease exists (one UPDATE, so two
    workers cannot both take it).
    """
    now = timezone.now()
    rows = Connection.objects.filter(pk=connection.pk)
    if only_if_free:
        rows = rows.filter(Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lt=now))
    return rows.update(sync_lease_until=now + LEASE) == 1


def _record_failure(connection: Connection, error: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        last_error=error[:4000], last_error_at=timezone.now()
    )


# ---------------------------------------------------------------- one folder


def _sync_folder(
    client: IMAPClient,
    connection: Connection,
    config: MailboxConfig,
    summary: SyncSummary,
) -> None:
    if not client.folder_exists(config.folder):
        raise MailboxError(
            f"Folder {config.folder!r} not found in mailbox {config.label}; check MAILBOX_FOLDER.",
            retryable=False,
        )
    writable = config.flag_processed or bool(config.processed_folder)
    status = client.select_folder(config.folder, readonly=not writable)
    uidvalidity = int(status[b"UIDVALIDITY"])
    summary.uidvalidity = uidvalidity
    last_uid = _start_uid(connection, config, uidvalidity, summary)

    keyword = PROCESSED_KEYWORD if b"\\*" in status.get(b"PERMANENTFLAGS", ()) else b"\\Seen"
    if config.processed_folder and not client.folder_exists(config.processed_folder):
        client.create_folder(config.processed_folder)

    # "UID n:*" also matches the highest UID when it is below n, hence the filter.
    uids = sorted(uid for uid in client.search(["UID", f"{last_uid + 1}:*"]) if uid > last_uid)
    for chunk in _chunks(uids, config.batch_size):
        sizes = _fetch_sizes(client, chunk)
        for batch in _byte_bounded(chunk, sizes):
            stored_uids = _fetch_and_store(
                client, connection, config, batch, sizes, uidvalidity, summary
            )
            summary.batches.append((batch[0], batch[-1]))
            _mark_stored(client, config, stored_uids, keyword, summary)
            _extend_lease(connection)


def _start_uid(
    connection: Connection, config: MailboxConfig, uidvalidity: int, summary: SyncSummary
) -> int:
    cursor = connection.cursor or {}
    if cursor.get("folder", config.folder) != config.folder:
        logger.info(
            "mailbox connection %s: folder changed from %r to %r; fetching from UID 1",
            connection.pk,
            cursor.get("folder"),
            config.folder,
        )
        return 0
    if cursor.get("uidvalidity") is None:
        return 0
    if int(cursor["uidvalidity"]) != uidvalidity:
        logger.warning(
            "mailbox connection %s: UIDVALIDITY of %r changed from %s to %s; fetching the folder "
            "again from UID 1 (mail already stored is recognised by its content)",
            connection.pk,
            config.folder,
            cursor["uidvalidity"],
            uidvalidity,
        )
        summary.resynced = True
        return 0
    return int(cursor.get("last_uid", 0))


def _chunks(values: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _fetch_sizes(client: IMAPClient, uids: list[int]) -> dict[int, int]:
    response = client.fetch(uids, [b"RFC822.SIZE"])
    # Mail expunged since the search has no entry and is skipped.
    return {
        uid: int(data[b"RFC822.SIZE"]) for uid, data in response.items() if b"RFC822.SIZE" in data
    }


def _byte_bounded(uids: list[int], sizes: dict[int, int]) -> Iterator[list[int]]:
    """Split UIDs into runs whose full bodies add up to at most FETCH_BYTE_BUDGET.

    Oversized mail costs nothing here because only its headers are fetched.
    """
    limit = settings.MAIL_MAX_BYTES
    batch: list[int] = []
    total = 0
    for uid in uids:
        if uid not in sizes:
            continue
        cost = sizes[uid] if sizes[uid] <= limit else 0
        if batch and total + cost > FETCH_BYTE_BUDGET:
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += cost
    if batch:
        yield batch


def _fetch_and_store(
    client: IMAPClient,
    connection: Connection,
    config: MailboxConfig,
    uids: list[int],
    sizes: dict[int, int],
    uidvalidity: int,
    summary: SyncSummary,
) -> list[int]:
    """Fetch one batch and store it with the advanced cursor in one transaction."""
    limit = settings.MAIL_MAX_BYTES
    small = [uid for uid in uids if sizes[uid] <= limit]
    large = [uid for uid in uids if sizes[uid] > limit]
    bodies = client.fetch(small, [b"BODY.PEEK[]"]) if small else {}
    headers = client.fetch(large, [b"BODY.PEEK[HEADER]"]) if large else {}

    stored: list[int] = []
    with transaction.atomic():
        for uid in uids:
            meta: dict[str, object] = {
                "folder": config.folder,
                "uid": uid,
                "uidvalidity": uidvalidity,
                "size": sizes[uid],
            }
            if uid in bodies and b"BODY[]" in bodies[uid]:
                raw = bytes(bodies[uid][b"BODY[]"])
                key = mail_idempotency_key(raw)
            elif uid in headers and b"BODY[HEADER]" in headers[uid]:
                raw = bytes(headers[uid][b"BODY[HEADER]"])
                key = headers_only_idempotency_key(raw, sizes[uid])
                meta["headers_only"] = True
                summary.headers_only += 1
            else:
                # Expunged between the size fetch and the body fetch.
                continue
            item, created = store_item(
                kind=InboundItem.Kind.MAIL,
                idempotency_key=key,
                payload=raw,
                provider=Connection.Provider.MAILBOX,
                connection=connection,
                meta=meta,
            )
            summary.fetched += 1
            if created:
                summary.stored += 1
                summary.first_item_id = summary.first_item_id or item.pk
            else:
                summary.already_stored += 1
            stored.append(uid)
        _advance_cursor(connection, config.folder, uidvalidity, uids[-1])
    return stored


def mail_idempotency_key(raw: bytes) -> str:
    """Key of a stored mail: the same bytes fetched twice, or imported and fetched, match."""
    return "mail:" + hashlib.sha256(raw).hexdigest()


def headers_only_idempotency_key(header: bytes, size: int) -> str:
    digest = hashlib.sha256(header)
    digest.update(str(size).encode())
    return "mail:headers:" + digest.hexdigest()


def _advance_cursor(connection: Connection, folder: str, uidvalidity: int, last_uid: int) -> None:
    """Save the cursor unless a concurrent run already moved it further."""
    row = Connection.objects.select_for_update().get(pk=connection.pk)
    current = row.cursor or {}
    same_series = current.get("folder") == folder and current.get("uidvalidity") == uidvalidity
    if same_series and int(current.get("last_uid", 0)) >= last_uid:
        return
    row.cursor = {"folder": folder, "uidvalidity": uidvalidity, "last_uid": last_uid}
    row.save(update_fields=["cursor"])
    connection.cursor = row.cursor


def _mark_stored(
    client: IMAPClient, config: MailboxConfig, uids: list[int], keyword: bytes, summary: SyncSummary
) -> None:
    """Flag or move mail that is safely stored; the mail itself is kept."""
    if not uids:
        return
    if config.flag_processed:
        client.add_flags(uids, [keyword], silent=True)
        summary.flagged += len(uids)
    if config.processed_folder:
        if client.has_capability("MOVE"):
            client.move(uids, config.processed_folder)
            summary.moved += len(uids)
        else:
            # Without MOVE, a copy is left in both folders rather than deleting anything.
            logger.warning(
                "mailbox %s has no MOVE; copied %s mail to %r and kept the originals",
                config.label,
                len(uids),
                config.processed_folder,
            )
            client.copy(uids, config.processed_folder)
