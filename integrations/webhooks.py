"""The shared webhook endpoint, /hooks/<provider>/<webhook_token>, and its processor.

Checks run in a fixed order, each failure with its own status and log reason:

1. a known, enabled connection for this provider (404);
2. the body within settings.WEBHOOK_MAX_BYTES (413);
3. authenticity, by the adapter (401, or 403 when the connection has no secret);
4. a body the adapter can read (400).

An accepted delivery is stored as an InboundItem of kind "webhook" under the adapter's
delivery key, so a redelivery is recognised, and processing is queued after the insert
commits. Events the hub does not use are stored as ignored, with a 200 response. The view does
no session, user or template work: one cached lookup, one INSERT statement, one enqueue.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping

from django.conf import settings
from django.db import connection as db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from requests.structures import CaseInsensitiveDict

from integrations.apply import apply_records
from integrations.base import (
    DeskAdapter,
    MalformedPayload,
    NotConfigured,
    ProviderError,
    WebhookRejected,
)
from integrations.inbound import PermanentFailure, ProcessResult, schedule_processing
from integrations.models import Connection, InboundItem
from integrations.registry import UnknownProvider, adapter_for

logger = logging.getLogger(__name__)


class RepeatLimiter:
    """Lets one log line per key through each interval and counts the suppressed ones."""

    def __init__(self, interval: float = 60.0, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self.interval = interval
        self.clock = clock
        self._last: dict[tuple[object, ...], float] = {}
        self._suppressed: dict[tuple[object, ...], int] = {}
        self._lock = threading.Lock()

    def admit(self, key: tuple[object, ...]) -> int | None:
        """Return how many were suppressed since the last admitted one, or None to suppress."""
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            if len(self._last) > 10_000:
                self._last.clear()
                self._suppressed.clear()
            self._last[key] = now
            return self._suppressed.pop(key, 0)


rejections = RepeatLimiter()


@csrf_exempt
def receive_webhook(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    connection, adapter = _endpoint(provider, token)
    if connection is None or adapter is None:
        return JsonResponse({"error": "unknown_connection"}, status=404)
    if request.method == "HEAD":
        # Some providers (Intercom) send HEAD to check the URL before they send events to it.
        return HttpResponse(status=200)
    if request.method != "POST":
        return JsonResponse(
            {"error": "method_not_allowed"}, status=405, headers={"Allow": "POST, HEAD"}
        )

    body = _read_body(request, settings.WEBHOOK_MAX_BYTES)
    if body is None:
        _log_rejection(connection, provider, 413, "body_too_large", "")
        return JsonResponse({"error": "body_too_large"}, status=413)

    try:
        try:
            adapter.verify_webhook(body, request.headers, now=timezone.now())
        except RecursionError:
            # JSON nested thousands deep exhausts the parser some providers' checks need.
            raise WebhookRejected(401, "unverifiable_body", "JSON nested too deeply") from None
        try:
            event = adapter.parse_webhook(body, request.headers)
        except RecursionError:
            raise WebhookRejected(400, "malformed_body", "JSON nested too deeply") from None
    except WebhookRejected as rejection:
        _log_rejection(connection, provider, rejection.status, rejection.reason, rejection.detail)
        return JsonResponse({"error": rejection.reason}, status=rejection.status)

    return _store(adapter, connection, body, request.headers, event.name, event.ignored)


# Connections looked up by (provider, token), kept this many seconds per process: a connection
# disabled or changed in admin takes effect within this time.
ENDPOINT_CACHE_SECONDS = 5.0
_endpoints: dict[tuple[str, str], tuple[float, Connection | None, DeskAdapter | None]] = {}


def _endpoint(provider: str, token: str) -> tuple[Connection | None, DeskAdapter | None]:
    """Return the enabled connection and its adapter for a webhook URL, or (None, None)."""
    now = time.monotonic()
    cached = _endpoints.get((provider, token))
    if cached is not None and cached[0] > now:
        return cached[1], cached[2]
    connection = Connection.objects.filter(provider=provider, webhook_token=token).first()
    adapter = None
    if connection is None or not connection.enabled:
        reason = "unknown_connection" if connection is None else "disabled_connection"
        _log_rejection(connection, provider, 404, reason, f"token {token[:4]}…")
    else:
        try:
            adapter = adapter_for(connection)
        except UnknownProvider:
            _log_rejection(connection, provider, 404, "no_adapter", "")
        if adapter is not None and not adapter.accepts_webhooks:
            adapter = None
    if len(_endpoints) > 1000:
        _endpoints.clear()
    _endpoints[(provider, token)] = (now + ENDPOINT_CACHE_SECONDS, connection, adapter)
    return connection, adapter


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """Read at most limit bytes; None when the declared or actual length is larger."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    # Read the stream directly: request.body would apply DATA_UPLOAD_MAX_MEMORY_SIZE instead.
    body = request.read(limit + 1)
    return None if len(body) > limit else body


def _store(
    adapter: DeskAdapter,
    connection: Connection,
    body: bytes,
    headers: Mapping[str, str],
    event_name: str,
    ignored: str,
) -> JsonResponse:
    item = InboundItem(
        kind=InboundItem.Kind.WEBHOOK,
        provider=connection.provider,
        connection=connection,
        idempotency_key=adapter.delivery_key(body, headers)[:200],
        payload=body,
        size=len(body),
        meta={"headers": adapter.headers_to_store(headers), "event": event_name[:100]},
    )
    if ignored:
        item.state = InboundItem.State.IGNORED
        item.outcome = "ignored"
        item.processed_at = item.received_at
    item_id = _insert_once(item)
    if item_id is None:
        existing = InboundItem.objects.filter(idempotency_key=item.idempotency_key).values("pk")
        existing_id = existing[0]["pk"] if existing else None
        logger.info(
            "webhook delivery for connection %s is a redelivery of item %s",
            connection.name,
            existing_id,
        )
        return JsonResponse({"status": "duplicate", "item": existing_id}, status=200)
    if ignored:
        logger.info(
            "webhook item %s on connection %s ignored: %s (%s)",
            item_id, connection.name, event_name, ignored,
        )
        return JsonResponse({"status": "ignored", "item": item_id}, status=200)
    schedule_processing(item_id)
    return JsonResponse({"status": "accepted", "item": item_id}, status=202)


def _insert_once(item: InboundItem) -> int | None:
    """Insert an unsaved item unless its idempotency key is stored; return its id or None.

    One statement, INSERT … ON CONFLICT DO NOTHING RETURNING (PostgreSQL, and SQLite from
    3.35), so a new delivery costs one round trip and a redelivery never aborts the
    surrounding transaction. The same row store_item would write.
    """
    fields = [f for f in InboundItem._meta.concrete_fields if not f.primary_key]
    quote = db.ops.quote_name
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = [f.get_db_prep_save(f.pre_save(item, add=True), connection=db) for f in fields]
    key_column = quote(InboundItem._meta.get_field("idempotency_key").column)
    # Identifiers come from the model's metadata and every value is a parameter.
    table = quote(InboundItem._meta.db_table)
    returned = quote(InboundItem._meta.pk.column)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608
    sql += f"ON CONFLICT ({key_column}) DO NOTHING RETURNING {returned}"
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    return int(row[0]) if row else None


def _log_rejection(
    connection: Connection | None, provider: str, status: int, reason: str, detail: str
) -> None:
    name = connection.name if connection else "-"
    suppressed = rejections.admit((provider, name, reason))
    if suppressed is None:
        return
    logger.warning(
        "webhook rejected: connection=%s provider=%s status=%s reason=%s %s(%s similar suppressed)",
        name, provider, status, reason, f"detail={detail!r} " if detail else "", suppressed,
    )
    if connection is not None:
        Connection.objects.filter(pk=connection.pk).update(
            webhook_rejected_at=timezone.now(), webhook_rejection=f"{status} {reason}"[:200]
        )


# ---------------------------------------------------------------- processing


def process_webhook_item(item: InboundItem) -> ProcessResult:
    """Processor for kind "webhook": parse the stored body again and apply its records.

    A missing setting, or a ProviderError that retrying cannot fix (bad credentials, a
    rejected request), fails the item for good. Other errors propagate, so the item is retried.
    """
    connection = item.connection
    if connection is None:
        raise PermanentFailure("The delivery has no connection.")
    try:
        adapter = adapter_for(connection)
        headers = CaseInsensitiveDict((item.meta or {}).get("headers") or {})
        event = adapter.parse_webhook(bytes(item.payload), headers)
        if event.ignored:
            return ProcessResult(InboundItem.State.IGNORED, "ignored")
        result = apply_records(adapter=adapter, records=event.records)
    except (UnknownProvider, MalformedPayload, NotConfigured) as exc:
        raise PermanentFailure(str(exc)) from exc
    except ProviderError as exc:
        if not exc.retryable:
            raise PermanentFailure(str(exc)) from exc
        raise
    state = InboundItem.State.IGNORED if result.ticket_id is None else InboundItem.State.DONE
    return ProcessResult(state, result.outcome, result.ticket_id)
