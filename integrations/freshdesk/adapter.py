"""The Freshdesk adapter: glue between the webhook and API code and the hub's contract.

Connection config: "domain" (the part before .freshdesk.com) or "base_url"; optional
"webhook_token_header" (default X-Hub-Webhook-Token), "status_map" for custom statuses
({"6": "on_hold"}), "pages_per_window" and "tag_categories". Credentials: "api_key" for the
API; "webhook_username" and "webhook_password", and/or "webhook_token", for webhooks.

Polling lists tickets by updated_since in ascending updated_at order and follows the Link
header. Freshdesk caps how deep page numbers may go, and the cap is not documented. So after
pages_per_window pages the walk starts a new window at the latest updated_at seen. Tickets
at that instant are listed twice, and the second time they are skipped as already applied.

NOTE: a ticket updated while its window is being paged moves to the end of the order, which
shifts the tickets after it one place back, so one of them can fall between two pages. The
webhook for that change, or the next window, usually brings it; nothing guarantees it.
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

from integrations.base import DeskAdapter, NotConfigured, ProviderError
from integrations.category_hints import tag_categories
from integrations.freshdesk import client, mapping, webhooks
from integrations.http import ProviderHttp, RateLimitHeaders
from integrations.types import ChangePage, Person, TicketRecord, WebhookEvent
from tickets.models import Source

logger = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent / "demo"
_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEFAULT_PAGES_PER_WINDOW = 10


class FreshdeskAdapter(DeskAdapter):
    provider = "freshdesk"
    source = Source.FRESHDESK

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._agents: dict[str, Person] = {}

    def build_http(self, *, sleep: Callable[[float], None] | None) -> ProviderHttp:
        return ProviderHttp(
            provider=self.provider,
            base_url=self._base_url(),
            # Freshdesk takes the API key as the Basic user name; the password is ignored.
            auth=(self.credential("api_key"), "X"),
            # The budget is per account and resets every minute or every hour, by plan. A spent
            # budget pauses the client a minute, and a 429's Retry-After sets any longer wait.
            rate_limits=RateLimitHeaders(remaining=("X-RateLimit-Remaining",), exhausted_wait=60),
            sleep=sleep,
        )

    def _base_url(self) -> str:
        if self.config.get("base_url"):
            return str(self.config["base_url"])
        domain = str(self.config.get("domain") or "").lower()
        if not _DOMAIN.match(domain):
            raise NotConfigured(
                f"Connection {self.connection.name!r} needs config \"domain\" (the part before "
                ".freshdesk.com) or \"base_url\"."
            )
        return f"https://{domain}.freshdesk.com"

    # ------------------------------------------------------------ webhooks

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        webhooks.verify_credentials(
            headers,
            username=self.credentials.get("webhook_username"),
            password=self.credentials.get("webhook_password"),
            token=self.credentials.get("webhook_token"),
            token_header=str(
                self.config.get("webhook_token_header") or webhooks.DEFAULT_TOKEN_HEADER
            ),
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return webhooks.parse_body(body)

    # ------------------------------------------------------------ API

    def fetch_ticket(self, external_id: str) -> TicketRecord | None:
        try:
            ticket = client.show_ticket(self.http, external_id)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        conversations = client.list_conversations(self.http, external_id)
        agent_ids = mapping.agent_ids(ticket, conversations)
        agents = {agent_id: self._agent(agent_id) for agent_id in agent_ids}
        record = mapping.ticket_record(
            ticket,
            conversations=conversations,
            agents=agents,
            tag_table=tag_categories(self.config),
            status_map=self.config.get("status_map"),
        )
        if record.status is None:
            logger.warning(
                "freshdesk ticket %s has status %r, which no status_map entry maps; status kept",
                external_id, ticket.get("status"),
            )
        # Attachment links are pre-signed and expire within minutes, so download them now.
        return self.with_attachment_contents(record)

    def fetch_changes(
        self, cursor: Mapping[str, Any], *, since: datetime | None = None
    ) -> ChangePage:
        if since is not None:
            cursor = {"window": _iso(since)}
        elif not cursor.get("window"):
            start = timezone.now() - timedelta(days=settings.DESK_BACKFILL_DAYS)
            cursor = {"window": _iso(start)}
        window = str(cursor["window"])
        pages = int(cursor.get("pages", 0))
        tickets, next_url = client.list_tickets(
            self.http, updated_since=window, url=cursor.get("next_url")
        )
        table = tag_categories(self.config)
        records = tuple(
            mapping.ticket_record(ticket, conversations=None, tag_table=table) for ticket in tickets
        )
        latest = max([str(cursor.get("latest") or window), *(_iso(r.updated_at) for r in records)])
        pages += 1
        progress = {"window": window, "page": pages, "tickets": len(records)}
        if next_url is None:
            return ChangePage(records, {"window": latest}, done=True, progress=progress)
        if pages < int(self.config.get("pages_per_window") or DEFAULT_PAGES_PER_WINDOW):
            next_cursor = {"window": window, "next_url": next_url, "pages": pages, "latest": latest}
            return ChangePage(records, next_cursor, done=False, progress=progress)
        next_cursor = {"window": _next_window(window, latest)}
        return ChangePage(records, next_cursor, done=False, progress=progress)

    def demo_records(self) -> list[TicketRecord]:
        data = json.loads((DEMO_DIR / "tickets.json").read_text(encoding="utf-8"))
        agents = {str(a["id"]): mapping.agent_from_api(a) for a in data["agents"]}
        table = tag_categories(self.config)
        return [
            mapping.ticket_record(
                bundle["ticket"],
                conversations=bundle["conversations"],
                agents=agents,
                tag_table=table,
                status_map=self.config.get("status_map"),
            )
            for bundle in data["tickets"]
        ]

    def _agent(self, agent_id: str) -> Person:
        """Look an agent up once per adapter; an agent the API key may not read keeps its id."""
        if agent_id not in self._agents:
            try:
                agent = client.show_agent(self.http, agent_id)
                self._agents[agent_id] = mapping.agent_from_api(agent)
            except ProviderError as exc:
                if exc.retryable:
                    raise
                logger.info(
                    "freshdesk agent %s not readable (%s); stored without e-mail", agent_id, exc
                )
                self._agents[agent_id] = Person(external_id=agent_id, role="agent")
        return self._agents[agent_id]


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_window(window: str, latest: str) -> str:
    if latest > window:
        return latest
    # Every ticket of the window's pages shares one updated_at: step past that second rather
    # than list the same pages for ever.
    # NOTE: tickets beyond pages_per_window pages at that same second are skipped here.
    start = datetime.strptime(window, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    logger.warning("freshdesk window %s filled every page; moving one second on", window)
    return _iso(start + timedelta(seconds=1))
