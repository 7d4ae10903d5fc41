"""Measure webhook intake and processing: gunicorn, PostgreSQL, Redis and one Celery worker.

Run from the repository root, under the test servers (PostgreSQL and Redis on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/webhooks.py [--seconds 6]

Intake: the script migrates the throwaway database and opens --tickets Zendesk tickets in
the queue (not timed). It starts gunicorn (gthread workers) on 127.0.0.1 with Celery pointed
at the Redis broker, so every accepted delivery is one INSERT and one real LPUSH. wrk (installed
with apt-get when missing and running as root) then posts signed Zendesk event-subscription
deliveries, each with a new comment id, to /hooks/zendesk/<token>, and posts the same bodies
to /bench/minimal-post, a minimal Django view in the same server (bench/webhooks_urls.py).
Rounds alternate between the two. The script prints accepted deliveries per second, p50 and
p99 latency, and the ratio to the minimal view.

Processing: gunicorn is stopped and one Celery worker (solo pool, one process) drains the
queued deliveries. Each is a comment on an existing ticket, applied through
tickets.services.ingest_message. The rate is processed records per second between the first
and the last item's processed_at.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
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
SECRET = "bench-signing-secret"  # noqa: S105 - a throwaway secret for the benchmark
P99_TARGET_MS = 100.0
PROCESSING_TARGET = 300.0
# Upper bound on deliveries per second that one wrk run is given bodies for. Beyond it wrk
# would resend a body, which the hub stores once and reports as a duplicate.
MAX_RATE = 5000

WRK_SCRIPT = """
local path = "%(path)s"
local bodies = {%(bodies)s}
local signatures = {%(signatures)s}
local stamp = "%(stamp)s"
local prepared = {}
local sent = 0
init = function(args)
  for i = 1, #bodies do
    prepared[i] = wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["X-Zendesk-Webhook-Signature"] = signatures[i],
      ["X-Zendesk-Webhook-Signature-Timestamp"] = stamp,
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
    parser.add_argument("--tickets", type=int, default=200, help="Tickets the comments go to.")
    parser.add_argument(
        "--processing-only",
        type=int,
        default=0,
        metavar="N",
        help="Skip the load: store and enqueue N deliveries, then time one worker draining them.",
    )
    args = parser.parse_args()

    redis_url = os.environ.get("REDIS_URL", "")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not redis_url:
        print("Run under the test servers:")
        print("  .venv/bin/python -m tests.servers .venv/bin/python bench/webhooks.py")
        return 2
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        CELERY_TASK_ALWAYS_EAGER="false",
        CELERY_BROKER_URL=redis_url,
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    connection = _connection()
    requesters = _open_tickets(connection, args.tickets)
    print(machine())
    print(f"load average at the start: {os.getloadavg()[0]:.1f} (other processes share the CPUs)")
    if args.processing_only:
        return _processing_only(env, connection, requesters, args.processing_only)
    wrk = find_wrk()

    minimal_runs: list[LoadResult] = []
    webhook_runs: list[LoadResult] = []
    next_comment = 0
    with gunicorn(env, args.workers, args.threads) as port:
        bodies = _deliveries(requesters, start=10**9, count=200)
        _load(wrk, port, MINIMAL_PATH, bodies, seconds=1, connections=args.connections)
        _load(wrk, port, connection.webhook_path, bodies, seconds=1, connections=args.connections)
        for round_number in range(1, args.rounds + 1):
            count = args.seconds * MAX_RATE
            bodies = _deliveries(requesters, start=next_comment, count=count)
            next_comment += count
            minimal = _load(
                wrk, port, MINIMAL_PATH, bodies, seconds=args.seconds, connections=args.connections
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

    accepted = InboundItem.objects.filter(kind="webhook").count()
    sent = sum(run.requests for run in webhook_runs) + 0
    print(
        f"\nstored deliveries: {accepted} (wrk counted {sent} timed webhook requests plus warm-up)"
    )
    processed, seconds, wall = drain(env, accepted)
    _report(minimal_runs, webhook_runs, processed, seconds, wall, args)
    _breakdown(requesters, next_comment)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


def _processing_only(env: dict[str, str], connection, requesters, count: int) -> int:  # type: ignore[no-untyped-def]
    """Store count deliveries as the webhook view does (one task each on the broker), drain."""
    from integrations.inbound import store_item

    for number, body in enumerate(_deliveries(requesters, start=0, count=count)):
        store_item(
            kind="webhook",
            provider="zendesk",
            connection=connection,
            idempotency_key=f"bench-processing-only-{number}",
            payload=body,
        )
    processed, seconds, wall = drain(env, count)
    rate = processed / seconds if seconds else 0.0
    print(
        f"processing: {processed} records in {seconds:.1f} s = {rate:.0f} records/s by one "
        f"worker (wall {wall:.1f} s with start-up; target >= {PROCESSING_TARGET:.0f}: "
        f"{'met' if rate >= PROCESSING_TARGET else 'MISSED'})"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


# ---------------------------------------------------------------- setup


def _connection():  # type: ignore[no-untyped-def]
    from integrations.models import Connection

    return Connection.objects.create(
        name="bench-zendesk",
        provider="zendesk",
        # Nothing is fetched: every delivery names a ticket the hub already holds.
        config={"base_url": "http://127.0.0.1:9"},
        credentials={"email": "bench@example.org", "api_token": "unused", "signing_secret": SECRET},
    )


def _open_tickets(connection, count: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Open count tickets through the same apply path; returns (ticket id, requester id)."""
    from integrations.apply import apply_ticket
    from integrations.registry import adapter_for
    from integrations.types import CommentRecord, Person, TicketRecord

    adapter = adapter_for(connection)
    now = datetime.now(UTC) - timedelta(hours=1)
    opened = []
    for number in range(count):
        ticket_id = str(900000 + number)
        requester = Person(str(700000 + number), f"Donor {number}", f"donor{number}@example.org")
        comment = CommentRecord(
            ticket_id,
            f"{ticket_id}-1",
            requester,
            now,
            body_text="My R250 debit order went off twice.",
        )
        record = TicketRecord(
            ticket_id, "Debit order taken twice", requester, now, now, comments=(comment,)
        )
        apply_ticket(adapter=adapter, record=record)
        opened.append((ticket_id, requester.external_id))
    return opened


def _deliveries(requesters: list[tuple[str, str]], *, start: int, count: int) -> list[bytes]:
    """Signed-ready event bodies: comments with ids start…start+count, 3 in 10 by an agent."""
    time_text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bodies = []
    for offset in range(count):
        comment_id = start + offset
        ticket_id, requester_id = requesters[comment_id % len(requesters)]
        agent = comment_id % 10 < 3
        body = {
            "type": "zen:event-type:ticket.comment_added",
            "account_id": 21234567,
            "id": f"bench-{comment_id}",
            "time": time_text,
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {"id": ticket_id, "status": "OPEN", "requester_id": requester_id},
            "event": {
                "comment": {
                    "id": str(80_000_000_000 + comment_id),
                    "body": "Thanks, I will check with my bank and come back to you."
                    if not agent
                    else "We have refunded the duplicate R250; allow 3 to 5 working days.",
                    "is_public": True,
                    "author": {
                        "id": "39120000017" if agent else requester_id,
                        "is_staff": agent,
                        "name": "Bench",
                    },
                }
            },
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


# ---------------------------------------------------------------- load


def _load(
    wrk: str, port: int, path: str, bodies: list[bytes], *, seconds: int, connections: int
) -> LoadResult:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    signatures = [
        base64.b64encode(
            hmac.new(SECRET.encode(), stamp.encode() + body, hashlib.sha256).digest()
        ).decode()
        for body in bodies
    ]
    script = WRK_SCRIPT % {
        "path": path,
        "bodies": ",".join(f"[==[{body.decode()}]==]" for body in bodies),
        "signatures": ",".join(f'"{signature}"' for signature in signatures),
        "stamp": stamp,
    }
    return load(wrk, port, script, seconds=seconds, connections=connections)


# ---------------------------------------------------------------- output


def _breakdown(requesters: list[tuple[str, str]], start: int, count: int = 300) -> None:
    """Process 2 × count more deliveries in this process: count timed, with the CPU time
    of this process, then count under cProfile to print where the time goes."""
    import cProfile
    import pstats

    from integrations.inbound import process_item, store_item
    from integrations.models import Connection

    connection = Connection.objects.get(name="bench-zendesk")
    ids = []
    for number, body in enumerate(_deliveries(requesters, start=start + 10**8, count=2 * count)):
        item, _ = store_item(
            kind="webhook",
            provider="zendesk",
            connection=connection,
            idempotency_key=f"bench-profile-{number}",
            payload=body,
            enqueue=False,
        )
        ids.append(item.pk)

    wall, cpu = time.perf_counter(), time.process_time()
    for item_id in ids[:count]:
        process_item(item_id)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"\nin-process, {count} deliveries: {count / wall:.0f} records/s")
    each_wall, each_cpu = 1000 * wall / count, 1000 * cpu / count
    print(f"  each {each_wall:.1f} ms wall, {each_cpu:.1f} ms CPU of this process")

    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    for item_id in ids[count:]:
        process_item(item_id)
    profile.disable()
    elapsed = time.perf_counter() - started
    totals = {}
    for (filename, _, name), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        totals[(Path(filename).name, name)] = row[3]

    def share(module: str, name: str) -> str:
        return f"{100 * totals.get((module, name), 0.0) / elapsed:4.0f} %"

    print(f"where the time goes (cProfile, {count} more deliveries):")
    print(f"  process_item (bookkeeping + below)  {share('inbound.py', 'process_item')}")
    print(f"  process_webhook_item (parse, apply) {share('webhooks.py', 'process_webhook_item')}")
    print(f"  tickets.services.ingest_message     {share('services.py', 'ingest_message')}")
    print(f"  of which the SLA refresh            {share('services.py', 'refresh_sla')}")


def _report(minimal_runs, webhook_runs, processed, seconds, wall, args) -> None:  # type: ignore[no-untyped-def]
    from tickets.models import Message

    minimal_rate = sum(r.rate for r in minimal_runs) / len(minimal_runs)
    webhook_rate = sum(r.rate for r in webhook_runs) / len(webhook_runs)
    webhook_p99 = max(r.p99_ms for r in webhook_runs)
    minimal_p99 = max(r.p99_ms for r in minimal_runs)
    failures = sum(r.errors + r.non_2xx for r in webhook_runs)
    processing_rate = processed / seconds if seconds else 0.0
    messages = Message.objects.filter(source="zendesk").count()
    print("\nsummary")
    print(f"  minimal view     {minimal_rate:7.0f} req/s   worst p99 {minimal_p99:6.1f} ms")
    print(
        f"  webhook accepted {webhook_rate:7.0f} req/s   worst p99 {webhook_p99:6.1f} ms   "
        f"failures {failures}"
    )
    print(f"  ratio accepted / minimal: {webhook_rate / minimal_rate:.2f} (target >= 1.00)")
    verdict = "met" if webhook_p99 < P99_TARGET_MS else "MISSED"
    print(f"  p99 target < {P99_TARGET_MS:.0f} ms: {verdict}")
    print(
        f"  processing: {processed} records in {seconds:.1f} s = {processing_rate:.0f} records/s "
        f"by one worker (wall {wall:.1f} s with start-up; target >= {PROCESSING_TARGET:.0f}: "
        f"{'met' if processing_rate >= PROCESSING_TARGET else 'MISSED'})"
    )
    print(f"  messages stored: {messages} ({args.tickets} opening messages + processed comments)")


if __name__ == "__main__":
    raise SystemExit(main())
