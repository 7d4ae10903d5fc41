"""Measure live chat: routing decisions, webhook intake and processing of Intercom deliveries.

Run from the repository root, under the test servers (PostgreSQL and Redis on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/chat.py [--seconds 6]

Routing: 50 agents in the five category teams (capacity 30) hold 1,000 open chats, with
--history closed chats behind them. The script times choose_agent (the decision: locking the
team's available agents and counting their open chats in SQL) and route_conversation (the
decision plus the assignment, its TicketEvent and the push row), each in its own transaction.

Intake and processing: gunicorn (gthread workers) with Celery on the Redis broker takes signed
Intercom notifications at /hooks/intercom/<token>, posted by wrk; one delivery in five opens a
new conversation, the rest are customer replies to existing ones. The same bodies also go to
bench.webhooks_urls' minimal view. Then one Celery worker (solo pool) drains the stored
deliveries: each reply is ingested, each new conversation is categorised, ingested and routed.
Chat hours are widened to the whole week for the run, so every new chat takes the routing path
whatever the time the bench runs. The load, gunicorn and worker helpers come from
bench/common.py.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402 - the path above makes bench importable
    MINIMAL_PATH,
    ROOT,
    WRK_DONE,
    LoadResult,
    describe,
    drain,
    gunicorn,
    load,
    machine,
)
from bench.common import wrk as find_wrk  # noqa: E402

SETTINGS = "bench.webhooks_settings"
SECRET = "bench-intercom-client-secret"  # noqa: S105 - a throwaway secret for this run
ROUTING_P95_TARGET_MS = 20.0
AGENTS = 50
OPEN_CHATS = 1000
CAPACITY = 30
CATEGORIES = (
    "donation_issues",
    "account_problems",
    "technical_support",
    "charity_questions",
    "payment_issues",
)
# Deliveries one wrk run is given bodies for, per second of load. Beyond it wrk would resend a
# body, which the hub stores once and reports as a duplicate.
MAX_RATE = 4000
CONVERSATIONS = 400

WRK_SCRIPT = """
local path = "%(path)s"
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local prepared = {}
local sent = 0
init = function(args)
  for i = 1, #bodies do
    prepared[i] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Hub-Signature"] = signatures[i],
    }, bodies[i])
  end
end
request = function()
  sent = sent + 1
  return prepared[(sent - 1) %% #prepared + 1]
end
""" + WRK_DONE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=6, help="Length of each load run, in seconds."
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="Rounds of minimal view then webhook."
    )
    parser.add_argument("--connections", type=int, default=16, help="Concurrent wrk connections.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker.")
    parser.add_argument("--decisions", type=int, default=2000, help="Routing decisions to time.")
    parser.add_argument(
        "--history", type=int, default=20000, help="Closed chats behind the open ones."
    )
    parser.add_argument(
        "--processing-only",
        type=int,
        default=0,
        metavar="N",
        help="Skip routing timing and the load: store and enqueue N deliveries, then time one "
        "worker draining them.",
    )
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not redis_url:
        print(
            "Run under the test servers: "
            ".venv/bin/python -m tests.servers .venv/bin/python bench/chat.py"
        )
        return 2
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_BROKER_URL=redis_url,
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
        SLA_BUSINESS_DAYS="0,1,2,3,4,5,6",
        SLA_BUSINESS_HOURS="00:00,23:59",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(machine())

    with _stub_api() as api_port:
        connection = _connection(api_port)
        agents = _agents()
        _open_chats(agents, history=args.history)
        if args.processing_only:
            return _processing_only(env, connection, args.processing_only)
        decision, full = _time_routing(connection, args.decisions)
        conversations = _conversations(connection)

        wrk = find_wrk()
        minimal_runs: list[LoadResult] = []
        webhook_runs: list[LoadResult] = []
        serial = 0
        with gunicorn(env, args.workers, args.threads) as port:
            warm = _deliveries(conversations, start=10**8, count=200)
            _load(wrk, port, MINIMAL_PATH, warm, seconds=1, connections=args.connections)
            _load(wrk, port, connection.webhook_path, warm, seconds=1, connections=args.connections)
            for round_number in range(1, args.rounds + 1):
                count = args.seconds * MAX_RATE
                bodies = _deliveries(conversations, start=serial, count=count)
                serial += count
                minimal = _load(
                    wrk,
                    port,
                    MINIMAL_PATH,
                    bodies,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                webhook = _load(
                    wrk,
                    port,
                    connection.webhook_path,
                    bodies,
                    seconds=args.seconds,
                    connections=args.connections,
                )
                minimal_runs.append(minimal)
                webhook_runs.append(webhook)
                print(f"round {round_number}: minimal {describe(minimal)}")
                print(f"round {round_number}: webhook {describe(webhook)}")

        from integrations.models import InboundItem

        stored = InboundItem.objects.filter(kind="webhook").count()
        print(f"\nstored deliveries: {stored}")
        processed, seconds, wall = drain(env, stored)
    _report(decision, full, minimal_runs, webhook_runs, processed, seconds, wall)
    return 0


def _processing_only(env: dict[str, str], connection, count: int) -> int:  # type: ignore[no-untyped-def]
    """Store count deliveries as the webhook view does (one task each on the broker), drain."""
    from integrations.inbound import store_item

    conversations = _conversations(connection)
    for number, body in enumerate(_deliveries(conversations, start=0, count=count)):
        store_item(
            kind="webhook",
            provider="intercom",
            connection=connection,
            idempotency_key=f"bench-processing-only-{number}",
            payload=body,
        )
    processed, seconds, wall = drain(env, count)
    rate = processed / seconds if seconds else 0.0
    print(
        f"processing: {processed} deliveries in {seconds:.1f} s = {rate:.0f} messages/s by one "
        f"worker (wall {wall:.1f} s with start-up)"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


# ---------------------------------------------------------------- routing


def _agents() -> list[int]:
    from django.contrib.auth import get_user_model

    from chat.models import AgentAvailability, ChatTeam

    user_model = get_user_model()
    ids = []
    for number in range(AGENTS):
        user = user_model.objects.create_user(
            username=f"agent{number:02d}", email=f"agent{number:02d}@impactlink.org", is_staff=True
        )
        team, _ = ChatTeam.objects.get_or_create(
            category=CATEGORIES[number % len(CATEGORIES)], defaults={"name": f"team {number % 5}"}
        )
        team.members.add(user)
        AgentAvailability.objects.create(user=user, status="available", capacity=CAPACITY)
        ids.append(user.pk)
    return ids


def _open_chats(agents: list[int], *, history: int) -> None:
    """Insert OPEN_CHATS open chat tickets spread over the agents, and closed ones behind them.

    Setup only, so rows are bulk-inserted instead of going through ingest_message.
    """
    from tickets.models import Ticket

    now = datetime.now(UTC)
    rows = []
    for number in range(OPEN_CHATS + history):
        is_open = number < OPEN_CHATS
        agent = agents[number % len(agents)]
        rows.append(
            Ticket(
                source="intercom",
                channel="chat",
                external_id=f"bench-open-{number}",
                subject="Bench chat",
                category=CATEGORIES[agents.index(agent) % len(CATEGORIES)],
                status="open" if is_open else "closed",
                assignee_id=agent,
                created_in_source_at=now - timedelta(minutes=number % 600),
            )
        )
    Ticket.objects.bulk_create(rows, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE tickets_ticket")


def _time_routing(connection, decisions: int) -> tuple[list[float], list[float]]:  # type: ignore[no-untyped-def]
    from django.db import transaction

    from chat.models import ChatConversation
    from chat.routing import choose_agent, route_conversation
    from tickets.models import Ticket

    for _ in range(50):
        with transaction.atomic():
            choose_agent(category="payment_issues")
    decision_times = []
    for number in range(decisions):
        category = CATEGORIES[number % len(CATEGORIES)]
        started = time.perf_counter()
        with transaction.atomic():
            choice = choose_agent(category=category)
        decision_times.append((time.perf_counter() - started) * 1000)
        assert choice is not None

    now = datetime.now(UTC)
    full_times = []
    for number in range(200):
        ticket = Ticket.objects.create(
            source="intercom",
            channel="chat",
            external_id=f"bench-route-{number}",
            subject="Bench route",
            category=CATEGORIES[number % len(CATEGORIES)],
            created_in_source_at=now,
        )
        chat = ChatConversation.objects.create(
            ticket=ticket,
            provider="intercom",
            external_id=ticket.external_id,
            connection=connection,
            queued_at=now,
        )
        started = time.perf_counter()
        decision = route_conversation(conversation=chat, now=now)
        full_times.append((time.perf_counter() - started) * 1000)
        assert decision.outcome == "assigned", decision
        # Free the slot again, so every timed decision runs against the same 1,000 open chats.
        Ticket.objects.filter(pk=ticket.pk).update(status="closed")
    return decision_times, full_times


# ---------------------------------------------------------------- deliveries


def _connection(api_port: int):  # type: ignore[no-untyped-def]
    from integrations.models import Connection

    return Connection.objects.create(
        name="bench-intercom",
        provider="intercom",
        # The assignment pushes go to the stub API on loopback (_stub_api).
        config={
            "api_base_url": f"http://127.0.0.1:{api_port}",
            "admin_id": "7381999",
            "admins": {
                f"agent{number:02d}@impactlink.org": str(5000 + number) for number in range(AGENTS)
            },
        },
        credentials={"client_secret": SECRET, "access_token": "bench-token"},
    )


@contextlib.contextmanager
def _stub_api() -> Iterator[int]:
    """Serve a loopback Intercom stand-in that returns a one-part conversation for every write."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = (
                b'{"type":"conversation","conversation_parts":{"conversation_parts":[{"id":"1"}]}}'
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def _conversations(connection) -> list[str]:  # type: ignore[no-untyped-def]
    """Open CONVERSATIONS Intercom conversations as polled records (not timed); returns ids."""
    from integrations.inbound import process_item
    from integrations.intercom.mapping import conversation_record
    from integrations.sync import store_record

    ids = []
    for number in range(CONVERSATIONS):
        conversation_id = f"9{number:08d}"
        envelope = json.loads(_notification(conversation_id, serial=-number - 1, new=True))
        record = conversation_record(envelope["data"]["item"])
        item, _ = store_record(connection, record)
        process_item(item.pk)
        ids.append(conversation_id)
    return ids


def _deliveries(conversations: list[str], *, start: int, count: int) -> list[bytes]:
    """Bodies with notification ids start…start+count: one in five opens a new conversation."""
    bodies = []
    for serial in range(start, start + count):
        if serial % 5 == 0:
            bodies.append(_notification(f"8{serial:09d}", serial=serial, new=True))
        else:
            bodies.append(
                _notification(conversations[serial % len(conversations)], serial=serial, new=False)
            )
    return bodies


def _notification(conversation_id: str, *, serial: int, new: bool) -> bytes:
    now = int(time.time())
    person = {
        "type": "user",
        "id": f"u{conversation_id}",
        "name": "Bench Donor",
        "email": f"d{conversation_id}@example.org",
    }
    parts = (
        []
        if new
        else [
            {
                "type": "conversation_part",
                "id": f"p{serial}",
                "part_type": "comment",
                "body": "<p>My debit order for R250 ran twice this month.</p>",
                "created_at": now,
                "updated_at": now,
                "author": person,
                "attachments": [],
            }
        ]
    )
    item = {
        "type": "conversation",
        "id": conversation_id,
        "created_at": now - 60,
        "updated_at": now,
        "state": "open",
        "priority": "not_priority",
        "admin_assignee_id": None,
        "tags": {"type": "tag.list", "tags": [{"type": "tag", "name": "payments"}]},
        "source": {
            "type": "conversation",
            "id": f"s{conversation_id}",
            "delivered_as": "customer_initiated",
            "subject": "",
            "body": "<p>My card payment failed but the money left my account.</p>",
            "author": person,
            "attachments": [],
        },
        "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": person["id"]}]},
        "statistics": {"count_conversation_parts": len(parts)},
        "conversation_parts": {
            "type": "conversation_part.list",
            "conversation_parts": parts,
            "total_count": len(parts),
        },
    }
    envelope = {
        "type": "notification_event",
        "app_id": "bench",
        "id": f"notif_bench_{serial}",
        "topic": "conversation.user.created" if new else "conversation.user.replied",
        "data": {"type": "notification_event_data", "item": item},
        "created_at": now,
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def _load(
    wrk: str, port: int, path: str, bodies: list[bytes], *, seconds: int, connections: int
) -> LoadResult:
    signatures = [
        "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest() for body in bodies
    ]
    script = WRK_SCRIPT % {
        "path": path,
        "bodies": ",".join(f"[==[{body.decode()}]==]" for body in bodies),
        "signatures": ",".join(f'"{signature}"' for signature in signatures),
    }
    return load(wrk, port, script, seconds=seconds, connections=connections)


# ---------------------------------------------------------------- output


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(decision, full, minimal_runs, webhook_runs, processed, seconds, wall) -> None:  # type: ignore[no-untyped-def]
    from chat.models import ChatConversation

    decision_p95 = _percentile(decision, 0.95)
    minimal_rate = statistics.mean(r.rate for r in minimal_runs)
    webhook_rate = statistics.mean(r.rate for r in webhook_runs)
    failures = sum(r.errors + r.non_2xx for r in webhook_runs)
    routed = ChatConversation.objects.filter(routing="assigned").count()
    print("\nsummary")
    print(
        f"  routing decision ({AGENTS} agents, {OPEN_CHATS} open chats): p50 "
        f"{statistics.median(decision):.2f} ms, p95 {decision_p95:.2f} ms, p99 "
        f"{_percentile(decision, 0.99):.2f} ms over {len(decision)} decisions "
        f"(target p95 < {ROUTING_P95_TARGET_MS:.0f} ms: "
        f"{'met' if decision_p95 < ROUTING_P95_TARGET_MS else 'MISSED'})"
    )
    print(
        f"  route and assign: p50 {statistics.median(full):.2f} ms, p95 "
        f"{_percentile(full, 0.95):.2f} ms over {len(full)} chats"
    )
    print(f"  minimal view     {minimal_rate:7.0f} req/s")
    print(f"  webhook accepted {webhook_rate:7.0f} req/s   failures {failures}")
    print(f"  ratio accepted / minimal: {webhook_rate / minimal_rate:.2f}")
    rate = processed / seconds if seconds else 0.0
    print(
        f"  processing: {processed} deliveries in {seconds:.1f} s = {rate:.0f} messages/s by one "
        f"worker (wall {wall:.1f} s with start-up); chats assigned in total: {routed}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
