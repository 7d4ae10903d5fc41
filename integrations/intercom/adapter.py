"""The Intercom adapter: webhooks, polling by search, fetching conversations, and the chat
pushes (assigning a conversation, sending the off-hours message).

Connection config: "admin_id", the teammate the hub writes as (give it a dedicated "ImpactLink
hub" teammate: its messages are stored as automatic, not as an agent's reply); optional
"admins" ({e-mail: admin id}, otherwise looked up with GET /admins), "api_base_url",
"api_version" (default 2.11), "per_page" (search, at most 150) and "tag_categories".
Credentials: "access_token" for the API, "client_secret" (or the legacy "hub_secret") for
webhook signatures.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from integrations.base import DeskAdapter, MalformedPayload, NotConfigured, ProviderError
from integrations.category_hints import tag_categories
from integrations.http import BearerAuth, ProviderHttp, RateLimitHeaders
from integrations.intercom import client, mapping, webhooks
from integrations.types import ChangePage, TicketRecord, WebhookEvent
from tickets.models import Source

DEFAULT_BASE_URL = "https://api.intercom.io"
DEFAULT_VERSION = "2.11"
# Admin lists change rarely; one lookup serves the assignments of a few minutes.
_ADMINS_CACHE_SECONDS = 600
# How far before a walk's start the next walk begins, for updates made during the walk and
# for a provider clock slightly behind ours.
WALK_OVERLAP_SECONDS = 5 * 60


class IntercomAdapter(DeskAdapter):
    provider = "intercom"
    source = Source.INTERCOM
    stored_headers = ("Content-Type", "User-Agent")

    def build_http(self, *, sleep: Callable[[float], None] | None) -> ProviderHttp:
        return ProviderHttp(
            provider=self.provider,
            base_url=str(self.config.get("api_base_url") or DEFAULT_BASE_URL),
            auth=BearerAuth(self.credential("access_token")),
            headers={"Intercom-Version": str(self.config.get("api_version") or DEFAULT_VERSION)},
            # X-RateLimit-Reset is a UNIX time, not a wait, so it is not read; Intercom
            # refills its budget every 10 seconds.
            rate_limits=RateLimitHeaders(remaining=("X-RateLimit-Remaining",), exhausted_wait=10.0),
            sleep=sleep,
        )

    @property
    def bot_admin_ids(self) -> frozenset[str]:
        admin_id = self.config.get("admin_id")
        return frozenset({str(admin_id)}) if admin_id else frozenset()

    # ------------------------------------------------------------ webhooks

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        secret = self.credentials.get("client_secret") or self.credentials.get("hub_secret")
        webhooks.verify_signature(body, headers, secret=str(secret or ""))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        return mapping.notification_event(
            webhooks.load_envelope(body),
            tag_table=tag_categories(self.config),
            bot_admin_ids=self.bot_admin_ids,
        )

    def delivery_key(self, body: bytes, headers: Mapping[str, str]) -> str:
        """Return the notification id, which a redelivery keeps, or the body hash without one."""
        try:
            notification_id = json.loads(body).get("id")
        except (ValueError, AttributeError):
            notification_id = None
        if isinstance(notification_id, str) and notification_id:
            return f"intercom:{self.connection.pk}:{notification_id}"
        return super().delivery_key(body, headers)

    # ------------------------------------------------------------ API

    def fetch_ticket(self, external_id: str) -> TicketRecord | None:
        with _readable_response():
            return self._fetch_ticket(external_id)

    def _fetch_ticket(self, external_id: str) -> TicketRecord | None:
        try:
            conversation = client.get_conversation(self.http, external_id)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        record = mapping.conversation_record(
            conversation,
            complete=True,
            tag_table=tag_categories(self.config),
            bot_admin_ids=self.bot_admin_ids,
        )
        return self.with_attachment_contents(record)

    def fetch_changes(
        self, cursor: Mapping[str, Any], *, since: datetime | None = None
    ) -> ChangePage:
        with _readable_response():
            return self._fetch_changes(cursor, since=since)

    def _fetch_changes(self, cursor: Mapping[str, Any], *, since: datetime | None) -> ChangePage:
        """Fetch one page of the search for conversations updated after the cursor's lower bound.

        The cursor contains the lower bound ("updated_after", UNIX seconds), the next page
        ("starting_after") and when the walk began ("started"). The next walk starts a margin
        before this one began, so a conversation updated while the pages were read is found
        again (and skipped if unchanged) rather than lost.
        """
        now = int(timezone.now().timestamp())
        if since is not None:
            cursor = {"updated_after": int(since.timestamp())}
        elif not cursor:
            start = timezone.now() - timedelta(days=settings.DESK_BACKFILL_DAYS)
            cursor = {"updated_after": int(start.timestamp())}
        updated_after = int(cursor["updated_after"])
        started = int(cursor.get("started") or now)
        per_page = min(client.MAX_PER_PAGE, max(1, int(self.config.get("per_page", 50))))
        data = client.search_conversations(
            self.http,
            updated_after=updated_after,
            per_page=per_page,
            starting_after=cursor.get("starting_after"),
        )
        table = tag_categories(self.config)
        records = tuple(
            mapping.conversation_record(
                conversation, complete=False, tag_table=table, bot_admin_ids=self.bot_admin_ids
            )
            for conversation in data.get("conversations") or []
        )
        next_page = ((data.get("pages") or {}).get("next") or {}).get("starting_after")
        next_cursor: dict[str, Any] = (
            {"updated_after": updated_after, "starting_after": next_page, "started": started}
            if next_page
            else {"updated_after": max(updated_after, started - WALK_OVERLAP_SECONDS)}
        )
        return ChangePage(
            records=records,
            cursor=next_cursor,
            done=not next_page,
            progress={"conversations": len(records)},
        )

    # ------------------------------------------------------------ chat pushes

    def assign_conversation(
        self, conversation_id: str, *, agent_email: str, agent_name: str
    ) -> str:
        """Assign the conversation to the agent's Intercom teammate; returns the part id."""
        assignee = self.admin_id_for(agent_email)
        conversation = client.assign(
            self.http, conversation_id, admin_id=self._acting_admin(), assignee_id=assignee
        )
        return client.last_part_id(conversation)

    def send_visitor_message(self, conversation_id: str, *, text: str) -> str:
        """Reply to the visitor as the hub's teammate; returns the part id."""
        paragraphs = "".join(
            f"<p>{html.escape(paragraph).replace(chr(10), '<br>')}</p>"
            for paragraph in text.split("\n\n")
            if paragraph.strip()
        )
        conversation = client.reply(
            self.http, conversation_id, admin_id=self._acting_admin(), body_html=paragraphs
        )
        return client.last_part_id(conversation)

    def admin_id_for(self, email: str) -> str:
        """Return a hub agent's teammate id, from config "admins" or GET /admins by e-mail."""
        wanted = email.strip().lower()
        configured = {str(k).lower(): str(v) for k, v in (self.config.get("admins") or {}).items()}
        if wanted in configured:
            return configured[wanted]
        key = f"intercom:admins:{self.connection.pk}"
        admins = cache.get(key)
        if admins is None:
            admins = {
                str(a.get("email") or "").lower(): str(a.get("id"))
                for a in client.list_admins(self.http)
                if a.get("id") is not None
            }
            cache.set(key, admins, _ADMINS_CACHE_SECONDS)
        if wanted not in admins:
            raise NotConfigured(
                f"No Intercom teammate has the e-mail address {email!r}; add it to the "
                f'connection\'s config "admins" or invite the agent in Intercom.'
            )
        return str(admins[wanted])

    def _acting_admin(self) -> str:
        admin_id = self.config.get("admin_id")
        if not admin_id:
            raise NotConfigured(
                f'Connection {self.connection.name!r} needs config "admin_id": the Intercom '
                "teammate the hub writes as."
            )
        return str(admin_id)


@contextmanager
def _readable_response() -> Iterator[None]:
    """Report an API response the mapping cannot read as a provider error no retry can fix."""
    try:
        yield
    except MalformedPayload as exc:
        raise ProviderError(
            f"intercom returned data the hub cannot read: {exc.detail}", retryable=False
        ) from exc
