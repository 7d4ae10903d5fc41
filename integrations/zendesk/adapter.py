"""The Zendesk adapter: glue between the webhook and API code and the hub's contract.

Connection config: "subdomain" (e.g. "impactlink") or "base_url"; optional "per_page" for the
incremental export (at most 1000, default 100) and "tag_categories". Credentials: "email" and
"api_token" (or "oauth_token") for the API, "signing_secret" for webhooks.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from integrations.base import DeskAdapter, NotConfigured, ProviderError, WebhookRejected
from integrations.category_hints import tag_categories
from integrations.http import BearerAuth, ProviderHttp, RateLimitHeaders
from integrations.types import ChangePage, TicketRecord, WebhookEvent
from integrations.zendesk import client, mapping, webhooks
from tickets.models import Source

logger = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"
_SUBDOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The export leaves out changes of the last minute and refuses a start_time that recent.
_EXPORT_LAG = timedelta(minutes=1)


class ZendeskAdapter(DeskAdapter):
    provider = "zendesk"
    source = Source.ZENDESK
    stored_headers = (
        "Content-Type",
        "User-Agent",
        "X-Zendesk-Account-Id",
        "X-Zendesk-Webhook-Id",
        "X-Zendesk-Webhook-Invocation-Id",
        webhooks.TIMESTAMP_HEADER,
    )

    def build_http(self, *, sleep: Callable[[float], None] | None) -> ProviderHttp:
        if self.credentials.get("oauth_token"):
            auth: Any = BearerAuth(self.credential("oauth_token"))
        else:
            auth = (f"{self.credential('email')}/token", self.credential("api_token"))
        return ProviderHttp(
            provider=self.provider,
            base_url=self._base_url(),
            auth=auth,
            rate_limits=RateLimitHeaders(
                remaining=("ratelimit-remaining", "X-Rate-Limit-Remaining"),
                reset=("ratelimit-reset",),
            ),
            sleep=sleep,
        )

    def _base_url(self) -> str:
        if self.config.get("base_url"):
            return str(self.config["base_url"])
        subdomain = str(self.config.get("subdomain") or "").lower()
        if not _SUBDOMAIN.match(subdomain):
            raise NotConfigured(
                f"Connection {self.connection.name!r} needs config \"subdomain\" (the part "
                "before .zendesk.com) or \"base_url\"."
            )
        return f"https://{subdomain}.zendesk.com"

    # ------------------------------------------------------------ webhooks

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        secret = self.credentials.get("signing_secret")
        if not secret:
            raise WebhookRejected(403, "not_configured", "no signing_secret credential")
        webhooks.verify_signature(
            body,
            headers,
            secret=str(secret),
            now=now,
            tolerance=timedelta(seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE),
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return webhooks.parse_body(body)

    # ------------------------------------------------------------ API

    def fetch_ticket(self, external_id: str) -> TicketRecord | None:
        try:
            ticket, users = client.show_ticket(self.http, external_id)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        if str(ticket.get("status")).lower() == "deleted":
            return mapping.ticket_record(ticket, users=users, comments=None)
        comments, comment_users = client.list_comments(self.http, external_id)
        users.update(comment_users)
        missing = mapping.missing_user_ids(ticket, comments, users)
        if missing:
            users.update(client.show_many_users(self.http, missing))
        record = mapping.ticket_record(
            ticket, users=users, comments=comments, tag_table=tag_categories(self.config)
        )
        return self.with_attachment_contents(record)

    def fetch_changes(
        self, cursor: Mapping[str, Any], *, since: datetime | None = None
    ) -> ChangePage:
        per_page = min(1000, max(1, int(self.config.get("per_page", 100))))
        after_cursor = None if since else cursor.get("after_cursor")
        start_time = None
        if not after_cursor:
            start_time = self._start_time(cursor, since)
        data = client.incremental_tickets(
            self.http, cursor=after_cursor, start_time=start_time, per_page=per_page
        )
        table = tag_categories(self.config)
        records = tuple(
            mapping.ticket_record(ticket, users={}, comments=None, tag_table=table)
            for ticket in data.get("tickets") or []
        )
        next_cursor = data.get("after_cursor") or after_cursor
        return ChangePage(
            records=records,
            cursor={"after_cursor": next_cursor} if next_cursor else {"start_time": start_time},
            done=bool(data.get("end_of_stream")),
            progress={"tickets": len(records)},
        )

    def demo_records(self) -> list[TicketRecord]:
        bundles = json.loads((DEMO_DIR / "tickets.json").read_text(encoding="utf-8"))["tickets"]
        table = tag_categories(self.config)
        return [
            mapping.ticket_record(
                bundle["ticket"],
                users=client.users_by_id(bundle["users"]),
                comments=bundle["comments"],
                tag_table=table,
            )
            for bundle in bundles
        ]

    def _start_time(self, cursor: Mapping[str, Any], since: datetime | None) -> int:
        if since is not None:
            start = since
        elif cursor.get("start_time"):
            start = datetime.fromtimestamp(int(cursor["start_time"]), UTC)
        else:
            start = timezone.now() - timedelta(days=settings.DESK_BACKFILL_DAYS)
        return int(min(start, timezone.now() - _EXPORT_LAG).timestamp())
