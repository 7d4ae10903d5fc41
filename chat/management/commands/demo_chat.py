"""Load the bundled Intercom and Crisp demo chats through the store-first path, offline.

Creates the demo connections (disabled, so nothing is polled or sent), a chat team per
category with demo agents, and canned responses. Then each bundled conversation is stored as
an inbound item and processed like a delivery. Open chats are routed to agents by category,
and closed ones get their transcripts.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from chat.hours import is_chat_open
from chat.models import AgentAvailability, CannedResponse, ChatTeam
from chat.routing import route_waiting
from chat.transcripts import verify_chain
from integrations.crisp import mapping as crisp_mapping
from integrations.inbound import process_item, store_item
from integrations.intercom import mapping as intercom_mapping
from integrations.models import Connection, ExternalTicket, InboundItem
from integrations.registry import adapter_for
from integrations.sync import store_record
from tickets.models import Category, Ticket

DEMO_FILE = Path(__file__).resolve().parents[2] / "demo" / "chats.json"
HUB_ADMIN_ID = "7381999"
# The newest demo chat arrives this long before the demo's present.
NEWEST_AGE = timedelta(minutes=10)

AGENTS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("johan.botha", "Johan", "Botha", (Category.PAYMENT,)),
    ("pieter.vandermerwe", "Pieter", "van der Merwe", (Category.PAYMENT, Category.DONATION)),
    ("nomvula.sithole", "Nomvula", "Sithole", (Category.DONATION,)),
    ("anele.khumalo", "Anele", "Khumalo", (Category.ACCOUNT,)),
    ("sipho.ndlovu", "Sipho", "Ndlovu", (Category.TECHNICAL,)),
    ("lerato.mokoena", "Lerato", "Mokoena", (Category.CHARITY, Category.UNCATEGORISED)),
]
CANNED: list[tuple[str, str, str, str]] = [
    (
        "greeting",
        "Greeting",
        "",
        "Hi {first_name}, thanks for contacting ImpactLink. I'm {agent_first_name}, and I'll "
        "help you with {ticket_reference}.",
    ),
    (
        "refund-timeline",
        "Card reversal timeline",
        Category.PAYMENT,
        "Hi {first_name}, the payment was reversed on our side. Banks take 3 to 5 working days "
        "to show the money back in your account. Your reference is {ticket_reference}.",
    ),
    (
        "section-18a",
        "Section 18A certificate",
        Category.DONATION,
        "Hi {first_name}, Section 18A certificates are issued by the charity through "
        "ImpactLink within 30 days of the donation. I've asked for yours; it will be e-mailed "
        "to {customer_email}.",
    ),
    (
        "otp-help",
        "One-time PIN not arriving",
        Category.ACCOUNT,
        "Hi {first_name}, for your security I've sent a verification link to "
        "{customer_email}. Once you confirm it, you can update your cellphone number.",
    ),
    (
        "closing",
        "Closing the chat",
        "",
        "Thanks for chatting with us, {first_name}. If anything else comes up, reply here or "
        "write to {support_email} and quote {ticket_reference}.",
    ),
    (
        "off-hours",
        "Off-hours message",
        "",
        "Hi {first_name}, thanks for your message. Our chat team is online 09:00–18:00 SAST, "
        "Monday to Friday (not on public holidays). Your reference is {ticket_reference}: we "
        "will reply as soon as we are back.",
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo Intercom and Crisp connections, chat teams with demo agents and canned "
        "responses, and load the bundled demo chats without network access."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        intercom, crisp = _demo_connections()
        agents = _demo_agents()
        _canned_responses()
        if ExternalTicket.objects.filter(connection__in=[intercom, crisp]).exists():
            self.stdout.write("  demo chats: already loaded")
            return

        now = timezone.now()
        present = now if is_chat_open(now) else _last_open_instant(now)
        data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
        outcomes: Counter[str] = Counter()
        outcomes.update(_load_intercom(intercom, data["intercom_conversations"], present))
        outcomes.update(_load_crisp(crisp, data["crisp_conversations"], present))
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.stdout.write(f"  demo chats: {sum(outcomes.values())} items ({summary})")

        if present != now:
            routed = route_waiting(now=present)
            self.stdout.write(
                f"  chat is closed now, so waiting chats were routed as at "
                f"{timezone.localtime(present):%A %d %B %H:%M} SAST: {routed} assigned"
            )
        self._report(agents)

    def _report(self, agents: list[Any]) -> None:
        for agent in agents:
            chats = Ticket.objects.filter(assignee=agent, chat__isnull=False).count()
            teams = ", ".join(team.name for team in agent.chat_teams.all())
            self.stdout.write(f"  {agent.get_full_name()} ({teams}): {chats} chat(s)")
        report = verify_chain()
        state = "intact" if report.ok else f"BROKEN ({len(report.problems)} problems)"
        self.stdout.write(f"  transcripts: {report.checked}, hash chain {state}")


def _demo_connections() -> tuple[Connection, Connection]:
    # Disabled: the chats come from files, beat must not poll providers that do not exist,
    # and pushes to them stop at "connection is disabled" without any network call.
    intercom, _ = Connection.objects.get_or_create(
        name="demo-intercom",
        defaults={
            "provider": "intercom",
            "enabled": False,
            "config": {
                "admin_id": HUB_ADMIN_ID,
                "admins": {"johan.botha@impactlink.org": "7381942"},
            },
        },
    )
    crisp, _ = Connection.objects.get_or_create(
        name="demo-crisp",
        defaults={
            "provider": "crisp",
            "enabled": False,
            "config": {"website_id": "8c2f0d5e-3b7a-4c61-9f0e-2d4a6b8c1e57"},
        },
    )
    return intercom, crisp


def _demo_agents() -> list[Any]:
    user_model = get_user_model()
    agents = []
    for username, first, last, categories in AGENTS:
        agent, created = user_model.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@impactlink.org",
                "is_staff": True,
            },
        )
        if created:
            agent.set_unusable_password()
            agent.save(update_fields=["password"])
        for category in categories:
            team, _ = ChatTeam.objects.get_or_create(
                category=category, defaults={"name": f"{Category(category).label} team"}
            )
            team.members.add(agent)
        AgentAvailability.objects.get_or_create(
            user=agent, defaults={"status": AgentAvailability.Status.AVAILABLE, "capacity": 3}
        )
        agents.append(agent)
    return agents


def _canned_responses() -> None:
    for shortcut, title, category, body in CANNED:
        CannedResponse.objects.get_or_create(
            shortcut=shortcut, defaults={"title": title, "category": category, "body": body}
        )


def _last_open_instant(now: datetime) -> datetime:
    """Return the latest quarter hour before now at which chat was open, looking back at most
    30 days (now itself when none is found)."""
    instant = now.replace(second=0, microsecond=0)
    for _ in range(30 * 24 * 4):
        instant -= timedelta(minutes=15)
        if is_chat_open(instant):
            return instant
    return now


def _load_intercom(
    connection: Connection, conversations: list[dict[str, Any]], present: datetime
) -> Counter[str]:
    newest = max(int(c["updated_at"]) for c in conversations)
    offset = int((present - NEWEST_AGE).timestamp()) - newest
    adapter = adapter_for(connection)
    outcomes: Counter[str] = Counter()
    for conversation in sorted(conversations, key=lambda c: int(c["created_at"])):
        conversation = _shift(conversation, offset)
        if conversation["state"] == "closed":
            record = intercom_mapping.conversation_record(
                conversation, complete=True, bot_admin_ids=frozenset({HUB_ADMIN_ID})
            )
            item, _ = store_record(connection, record)
        else:
            body = _notification(conversation)
            item, _ = store_item(
                kind=InboundItem.Kind.WEBHOOK,
                provider=connection.provider,
                connection=connection,
                idempotency_key=adapter.delivery_key(body, {}),
                payload=body,
                meta={"event": "conversation.user.created", "demo": True},
                enqueue=False,
            )
        outcomes[_processed(item.pk)] += 1
    return outcomes


def _load_crisp(
    connection: Connection, entries: list[dict[str, Any]], present: datetime
) -> Counter[str]:
    newest = max(int(entry["conversation"]["updated_at"]) for entry in entries)
    offset = int((present - NEWEST_AGE).timestamp() * 1000) - newest
    outcomes: Counter[str] = Counter()
    for entry in entries:
        conversation = _shift(entry["conversation"], offset)
        messages = [_shift(message, offset) for message in entry["messages"]]
        record = crisp_mapping.conversation_record(conversation, messages)
        item, _ = store_record(connection, record)
        outcomes[_processed(item.pk)] += 1
    return outcomes


def _processed(item_id: int) -> str:
    item = process_item(item_id)
    return item.outcome if item is not None and item.outcome else "failed"


# Keys holding provider times (UNIX seconds for Intercom, milliseconds for Crisp).
_TIME_KEYS = frozenset(
    {
        "created_at",
        "updated_at",
        "waiting_since",
        "notified_at",
        "timestamp",
        "first_contact_reply_at",
        "first_assignment_at",
        "first_admin_reply_at",
        "first_close_at",
        "last_assignment_at",
        "last_assignment_admin_reply_at",
        "last_contact_reply_at",
        "last_admin_reply_at",
        "last_close_at",
    }
)


def _shift(value: Any, offset: int) -> Any:
    """Copy a provider object with every non-zero time moved by offset, in its own unit."""
    if isinstance(value, dict):
        shifted = {}
        for key, item in value.items():
            if key in _TIME_KEYS and isinstance(item, int) and item > 0:
                shifted[key] = item + offset
            else:
                shifted[key] = _shift(item, offset)
        return shifted
    if isinstance(value, list):
        return [_shift(item, offset) for item in value]
    return value


def _notification(conversation: dict[str, Any]) -> bytes:
    envelope = {
        "type": "notification_event",
        "app_id": "impactlink-demo",
        "data": {"type": "notification_event_data", "item": conversation},
        "links": {},
        "id": f"notif_demo_{conversation['id']}",
        "topic": "conversation.user.created",
        "delivery_status": "pending",
        "delivery_attempts": 1,
        "delivered_at": 0,
        "first_sent_at": conversation["created_at"] + 1,
        "created_at": conversation["created_at"],
        "self": None,
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()
