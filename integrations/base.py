"""The contract every desk and chat adapter fulfils, and the errors it may raise.

An adapter is built for one Connection and does four things:

1. `verify_webhook`: decide whether a delivery is authentic, from the raw bytes and headers.
2. `parse_webhook`: turn an authentic body into provider-neutral records (`integrations.types`).
3. `fetch_changes`: walk the tickets changed since a persisted cursor, one page per call.
4. `fetch_ticket`: read one ticket with all its comments.

Adapters never write to the queue. The shared webhook view (`integrations.webhooks`), the
polling orchestration (`integrations.sync`) and `integrations.apply` do that, so an adapter can
be tested with nothing but its vendor's JSON and a local HTTP server.

To add a provider, create `integrations/<name>/` with four modules: `client.py` (one function
per endpoint, through `integrations.http.ProviderHttp`), `mapping.py` (pure functions from
vendor JSON to records), `webhooks.py` (verification and body parsing) and `adapter.py` (a
DeskAdapter subclass). Then list it in `integrations.registry.ADAPTERS` and run the shared
contract suite in `tests/integrations/contract.py` with its fixtures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

from integrations.types import AttachmentRecord, ChangePage, TicketRecord, WebhookEvent

if TYPE_CHECKING:
    from integrations.http import ProviderHttp
    from integrations.models import Connection

logger = logging.getLogger(__name__)


class ProviderError(Exception):
    """A call to a provider's API failed.

    retryable is True when the same call can succeed later (429, 5xx, timeouts, connection
    errors), and False when it cannot without a change on our side (bad credentials,
    missing permission, a request the provider rejects). status is the HTTP status, None
    when no response came back. retry_after is the wait in seconds the provider requested,
    when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class WebhookRejected(Exception):
    """A delivery the hub rejects: status is the HTTP response status, reason a stable key.

    Reasons in use: missing_signature, bad_signature, bad_timestamp, stale_timestamp,
    missing_credentials, bad_credentials, not_configured, malformed_body.
    """

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.status = status
        self.reason = reason
        self.detail = detail


class MalformedPayload(WebhookRejected):
    """An authentic body the hub cannot read: not JSON, or no ticket id in it (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "malformed_body", detail)


class NotConfigured(Exception):
    """The connection lacks a setting or credential the adapter needs; the message names it."""


class DeskAdapter(ABC):
    """One provider, bound to one Connection.

    Subclasses set the class attributes and implement the abstract methods. Constructing an
    adapter does no I/O; a missing credential raises NotConfigured when it is first needed.
    """

    # Connection.Provider value, and the tickets.models.Source value of its tickets.
    provider: ClassVar[str]
    source: ClassVar[str]
    # False for sources that never receive webhooks (the mailbox).
    accepts_webhooks: ClassVar[bool] = True
    # Request headers worth keeping with a stored delivery (names as the provider sends them).
    stored_headers: ClassVar[tuple[str, ...]] = ("Content-Type", "User-Agent")

    def __init__(
        self,
        connection: Connection,
        *,
        http: ProviderHttp | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """http replaces the adapter's own client; sleep replaces time.sleep in its waits."""
        self.connection = connection
        self._http = http
        self._sleep = sleep

    @property
    def config(self) -> Mapping[str, Any]:
        return self.connection.config or {}

    @property
    def credentials(self) -> Mapping[str, Any]:
        return self.connection.credentials or {}

    def credential(self, name: str) -> str:
        """Return a stored credential; raises NotConfigured (naming it, not its value) if empty."""
        value = self.credentials.get(name)
        if not value:
            raise NotConfigured(f"Connection {self.connection.name!r} has no {name!r} credential.")
        return str(value)

    @property
    def http(self) -> ProviderHttp:
        if self._http is None:
            self._http = self.build_http(sleep=self._sleep)
        return self._http

    def build_http(self, *, sleep: Callable[[float], None] | None) -> ProviderHttp:
        """Build the API client from the connection; raises NotConfigured without credentials."""
        raise NotConfigured(f"{self.provider} has no API client.")

    # ------------------------------------------------------------ webhooks

    @abstractmethod
    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        """Check that a delivery comes from the provider; return None when it does.

        body is the raw request body, exactly as received. headers is case-insensitive.
        Signatures are compared in constant time over the raw bytes; a signed timestamp must
        lie within settings.WEBHOOK_TIMESTAMP_TOLERANCE seconds of now.

        Raises WebhookRejected with status 401 (missing or wrong signature or credentials,
        stale timestamp) or 403 (the connection has no secret to check against).
        """

    @abstractmethod
    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Map an authentic body to records, or give the reason the hub ignores the event.

        Pure: no I/O. Records that carry only an id or display text are TicketRefs, which the
        caller resolves with fetch_ticket. Raises MalformedPayload when the body cannot be read
        or names no ticket.
        """

    def delivery_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Return the key under which a delivery is stored once; a redelivery gets the same key.

        The default is a SHA-256 of the body, which recognises a resent body whatever the
        provider puts in its headers.
        """
        return f"{self.provider}:{self.connection.pk}:{hashlib.sha256(body).hexdigest()}"

    def headers_to_store(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Pick the headers kept with a stored delivery; never the credentials."""
        return {name: headers[name] for name in self.stored_headers if name in headers}

    # ------------------------------------------------------------ API

    @abstractmethod
    def fetch_changes(
        self, cursor: Mapping[str, Any], *, since: datetime | None = None
    ) -> ChangePage:
        """Fetch one page of tickets changed since the cursor.

        cursor is what the previous page returned ({} before the first poll). since starts a
        fresh walk at that instant and overrides the cursor. The returned cursor is persisted
        after the page is applied, so a crash repeats at most one page and never skips one.
        done is True when the walk has reached the present. Records may be incomplete
        (complete=False); the caller fetches those it has not seen at this updated_at.

        Raises ProviderError, NotConfigured.
        """

    @abstractmethod
    def fetch_ticket(self, external_id: str) -> TicketRecord | None:
        """Fetch one ticket with all its comments and the people involved.

        Returns None when the provider no longer has the ticket (404). Raises ProviderError,
        NotConfigured.
        """

    def demo_records(self) -> list[TicketRecord]:
        """Return complete records mapped from the provider's bundled demo files, without
        network access; empty for providers without demo data."""
        return []

    # ------------------------------------------------------------ helpers for subclasses

    def with_attachment_contents(self, record: TicketRecord) -> TicketRecord:
        """Download the files of a record's comments through the adapter's client.

        Vendors hand out links that expire within minutes, so this runs while fetching. A
        file larger than settings.DESK_ATTACHMENT_MAX_BYTES, or one that fails to download,
        keeps its name and no content; the message itself is always kept.
        """
        comments = []
        for comment in record.comments:
            if comment.attachments:
                files = tuple(self._download(item) for item in comment.attachments)
                comment = dataclasses.replace(comment, attachments=files)
            comments.append(comment)
        return dataclasses.replace(record, comments=tuple(comments))

    def _download(self, item: AttachmentRecord) -> AttachmentRecord:
        limit = settings.DESK_ATTACHMENT_MAX_BYTES
        if not item.url or item.size > limit:
            return item
        try:
            content = self.http.get_bytes(item.url, max_bytes=limit)
        except ProviderError as exc:
            logger.warning("%s attachment %r not downloaded: %s", self.provider, item.filename, exc)
            return item
        return dataclasses.replace(item, content=content)
