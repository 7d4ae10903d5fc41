"""The Crisp adapter: plugin and website hooks, polling the conversation list, fetching a
conversation with its messages, and the chat pushes (routing, the off-hours message).

Connection config: "website_id", needed for polling and pushes. Optional: "website_hooks"
(true accepts unsigned website hooks, see integrations.crisp.webhooks), "bot_nickname" (the
name on the hub's automatic messages, default "ImpactLink"), "api_base_url", "tier" ("plugin"
or "website", default "plugin") and "tag_categories", which is read for visitor segments.
Credentials: "identifier" and "key" (the API token), "signing_secret" for plugin hooks,
optional "website_hook_key".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from requests.auth import HTTPBasicAuth

from integrations.base import DeskAdapter, MalformedPayload, NotConfigured, ProviderError
from integrations.category_hints import tag_categories
from integrations.crisp import client, mapping, webhooks
from integrations.http import ProviderHttp
from integrations.types import ChangePage, TicketRecord, WebhookEvent
from tickets.models import Source

DEFAULT_BASE_URL = "https://api.crisp.chat/v1"
_OPERATORS_CACHE_SECONDS = 600
# How far before a walk's start the next walk begins, for updates made during the walk and
# for a provider clock slightly behind ours.
WALK_OVERLAP_MS = 5 * 60 * 1000


class CrispAdapter(DeskAdapter):
    provider = "crisp"
    source = Source.CRISP
    stored_headers = (
        "Content-Type",
        "User-Agent",
        "X-Crisp-Hook-Origin",
        webhooks.TIMESTAMP_HEADER,
        "X-Delivery-Attempt-Count",
    )

    def build_http(self, *, sleep: Callable[[float], None] | None) -> ProviderHttp:
        tier = str(self.config.get("tier") or "plugin")
        if tier not in ("plugin", "website"):
            raise NotConfigured(
                f"Connection {self.connection.name!r}: tier must be plugin or website."
            )
        return ProviderHttp(
            provider=self.provider,
            base_url=str(self.config.get("api_base_url") or DEFAULT_BASE_URL),
            auth=HTTPBasicAuth(self.credential("identifier"), self.credential("key")),
            headers={"X-Crisp-Tier": tier},
            sleep=sleep,
        )

    @property
    def website_id(self) -> str:
        website_id = self.config.get("website_id")
        if not website_id:
            raise NotConfigured(f'Connection {self.connection.name!r} needs config "website_id".')
        return str(website_id)

    # ------------------------------------------------------------ webhooks

    def verify_webhook(self, body: bytes, headers: Mapping[str, str], *, now: datetime) -> None:
        if headers.get(webhooks.SIGNATURE_HEADER) or not self.config.get("website_hooks"):
            webhooks.verify_plugin_hook(
                body,
                headers,
                secret=str(self.credentials.get("signing_secret") or ""),
                now=now,
                tolerance=timedelta(seconds=settings.WEBHOOK_TIMESTAMP_TOLERANCE),
            )
            return
        webhooks.verify_website_hook(
            headers, key=str(self.credentials.get("website_hook_key") or "")
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        event = mapping.hook_event(webhooks.load_body(body))
        website_id = self.config.get("website_id")
        if website_id and event.records and not _same_website(event, str(website_id)):
            # Plugin hooks of every website that installed the plugin reach each endpoint.
            return WebhookEvent(event.name, ignored="hook for another website")
        return event

    # ------------------------------------------------------------ API

    def fetch_ticket(self, external_id: str) -> TicketRecord | None:
        with _readable_response():
            return self._fetch_ticket(external_id)

    def _fetch_ticket(self, external_id: str) -> TicketRecord | None:
        try:
            website_id, session_id = mapping.split_ticket_key(external_id)
        except ValueError as exc:
            raise NotConfigured(str(exc)) from exc
        try:
            conversation = client.get_conversation(self.http, website_id, session_id)
            messages = client.get_messages(self.http, website_id, session_id)
        except ProviderError as exc:
            if exc.status == 404:
                return None
            raise
        record = mapping.conversation_record(
            conversation, messages, tag_table=tag_categories(self.config)
        )
        return self.with_attachment_contents(record)

    def fetch_changes(
        self, cursor: Mapping[str, Any], *, since: datetime | None = None
    ) -> ChangePage:
        with _readable_response():
            return self._fetch_changes(cursor, since=since)

    def _fetch_changes(self, cursor: Mapping[str, Any], *, since: datetime | None) -> ChangePage:
        """Fetch one page of the conversations updated since the cursor's lower bound.

        The cursor contains the lower bound ("since", UNIX milliseconds), the next page number
        and when the walk began ("started"). The next walk starts a margin before this one
        began, so a conversation updated while the pages were read is listed again (and
        skipped if unchanged) rather than lost when it moves to a page already read.
        """
        now_ms = int(timezone.now().timestamp() * 1000)
        if since is not None:
            cursor = {"since": int(since.timestamp() * 1000)}
        elif not cursor:
            start = timezone.now() - timedelta(days=settings.DESK_BACKFILL_DAYS)
            cursor = {"since": int(start.timestamp() * 1000)}
        since_ms = int(cursor["since"])
        page = int(cursor.get("page") or 1)
        started = int(cursor.get("started") or now_ms)
        updated_since = datetime.fromtimestamp(since_ms / 1000, tz=UTC).isoformat()
        conversations = client.list_conversations(
            self.http, self.website_id, page=page, updated_since=updated_since
        )
        table = tag_categories(self.config)
        records = tuple(
            mapping.conversation_record(c, None, tag_table=table)
            for c in conversations
            if int(c.get("updated_at") or 0) >= since_ms
        )
        # Newest update first, so a page that reaches past the lower bound is the last one.
        finished = not conversations or len(records) < len(conversations)
        next_cursor: dict[str, Any] = (
            {"since": max(since_ms, started - WALK_OVERLAP_MS)}
            if finished
            else {"since": since_ms, "page": page + 1, "started": started}
        )
        return ChangePage(
            records=records, cursor=next_cursor, done=finished, progress={"page": page}
        )

    # ------------------------------------------------------------ chat pushes

    def assign_conversation(
        self, conversation_id: str, *, agent_email: str, agent_name: str
    ) -> str:
        """Route the conversation to the agent's Crisp operator; Crisp returns no id."""
        website_id, session_id = mapping.split_ticket_key(conversation_id)
        client.assign_routing(
            self.http, website_id, session_id, user_id=self.operator_id_for(agent_email)
        )
        return ""

    def send_visitor_message(self, conversation_id: str, *, text: str) -> str:
        """Send an automated operator message; returns its fingerprint."""
        website_id, session_id = mapping.split_ticket_key(conversation_id)
        nickname = str(self.config.get("bot_nickname") or "ImpactLink")
        return client.send_message(self.http, website_id, session_id, text=text, nickname=nickname)

    def operator_id_for(self, email: str) -> str:
        """Return a hub agent's Crisp user_id, matched by e-mail in the website's operators."""
        key = f"crisp:operators:{self.connection.pk}"
        operators = cache.get(key)
        if operators is None:
            operators = {
                str(entry.get("details", {}).get("email") or "").lower(): str(
                    entry.get("details", {}).get("user_id")
                )
                for entry in client.list_operators(self.http, self.website_id)
                if entry.get("details", {}).get("user_id")
            }
            cache.set(key, operators, _OPERATORS_CACHE_SECONDS)
        wanted = email.strip().lower()
        if wanted not in operators:
            raise NotConfigured(
                f"No Crisp operator of website {self.website_id} has the e-mail address "
                f"{email!r}; invite the agent in Crisp with that address."
            )
        return str(operators[wanted])


def _same_website(event: WebhookEvent, website_id: str) -> bool:
    for record in event.records:
        key = getattr(record, "ticket_id", None) or getattr(record, "external_id", "")
        if not str(key).startswith(f"{website_id}:"):
            return False
    return True


@contextmanager
def _readable_response() -> Iterator[None]:
    """Report an API response the mapping cannot read as a provider error no retry can fix."""
    try:
        yield
    except MalformedPayload as exc:
        raise ProviderError(
            f"crisp returned data the hub cannot read: {exc.detail}", retryable=False
        ) from exc
