"""Count SQL statements and time the processing of each kind of inbound record, in-process.

Run from the repository root, under the test servers (PostgreSQL on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/processing.py [--rounds 40]

No gunicorn, broker or worker: the script stores deliveries with `store_item` and calls
`process_item` on each, as the Celery task does. Zendesk kinds: a new ticket (a polled
record with one comment), a customer reply, an agent reply, an internal note and a status
change (event-subscription deliveries). Intercom kinds: a new chat (routed to an agent, the
assignment pushed to a loopback stand-in for the API), a customer reply, an agent reply, a
note and a close. Each round opens one ticket and one chat and sends the round's other
records to them, in that order. Per kind it prints the SQL statements of the last round
(savepoints included, from Django's query capture), then the mean wall and CPU milliseconds
and the rate over the other rounds, which run without the capture. --profile prints the top
functions by cumulative and by own time under cProfile.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chat import _agents, _notification, _stub_api  # noqa: E402 - path set above
from bench.chat import _connection as _intercom_connection  # noqa: E402
from bench.webhooks import _connection as _zendesk_connection  # noqa: E402
from bench.webhooks import _machine  # noqa: E402

ZENDESK_KINDS = ("new ticket", "customer reply", "agent reply", "internal note", "status change")
INTERCOM_KINDS = ("new chat", "customer reply", "agent reply", "note", "close")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=40, help="Records of each kind processed (at least 2)."
    )
    parser.add_argument("--profile", action="store_true", help="Print a cProfile summary.")
    parser.add_argument(
        "--sql", action="store_true", help="Print the statements of each kind's last record."
    )
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2: the last round is counted, not timed")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Run under the test servers:")
        print("  .venv/bin/python -m tests.servers .venv/bin/python bench/processing.py")
        return 2
    os.environ.update(
        DJANGO_SETTINGS_MODULE="bench.webhooks_settings",
        LOG_LEVEL="ERROR",
        SLA_BUSINESS_DAYS="0,1,2,3,4,5,6",
        SLA_BUSINESS_HOURS="00:00,23:59",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(_machine())
    print(f"load average at the start: {os.getloadavg()[0]:.1f}")

    with _stub_api() as api_port:
        zendesk = _zendesk_connection()
        intercom = _intercom_connection(api_port)
        _agents()
        steps = [
            *(("zendesk", kind, _zendesk_step(zendesk, kind)) for kind in ZENDESK_KINDS),
            *(("intercom", kind, _intercom_step(intercom, kind)) for kind in INTERCOM_KINDS),
        ]
        _run(steps, rounds=args.rounds, profile=args.profile, show_sql=args.sql)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


Step = Callable[[int], int]  # round number -> stored item id


def _run(
    steps: list[tuple[str, str, Step]], *, rounds: int, profile: bool, show_sql: bool
) -> None:
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.inbound import process_item
    from integrations.models import InboundItem

    wall: dict[tuple[str, str], float] = defaultdict(float)
    cpu: dict[tuple[str, str], float] = defaultdict(float)
    statements: dict[tuple[str, str], int] = {}
    profiler = cProfile.Profile() if profile else None
    # One untimed round first: the first new ticket imports and loads the categoriser.
    for _provider, _kind, step in steps:
        process_item(step(rounds))
    for number in range(rounds):
        for provider, kind, step in steps:
            item_id = step(number)
            if number == rounds - 1:
                # Counted in the last round only, since query capture costs CPU time.
                with CaptureQueriesContext(connection) as queries:
                    process_item(item_id)
                statements[provider, kind] = len(queries)
            else:
                started, started_cpu = time.perf_counter(), time.process_time()
                if profiler is not None:
                    profiler.enable()
                process_item(item_id)
                if profiler is not None:
                    profiler.disable()
                wall[provider, kind] += time.perf_counter() - started
                cpu[provider, kind] += time.process_time() - started_cpu
            if show_sql and number == rounds - 1:
                print(f"\n-- {provider} {kind}: {len(queries)} statements")
                for query in queries:
                    print("  ", query["sql"][:160])
            state = InboundItem.objects.get(pk=item_id)
            if state.state == "failed":
                raise SystemExit(f"{provider} {kind} failed: {state.last_error}")

    print(f"\n{rounds} records of each kind after a warm-up round; SQL counted in the last,")
    print("times and rates over the others")
    print(f"{'provider':9} {'kind':15} {'SQL':>4} {'wall ms':>8} {'CPU ms':>7} {'records/s':>10}")
    timed = rounds - 1
    for provider, kind, _ in steps:
        key = (provider, kind)
        mean = 1000 * wall[key] / timed
        print(
            f"{provider:9} {kind:15} {statements[key]:4d} {mean:8.1f} "
            f"{1000 * cpu[key] / timed:7.1f} {timed / wall[key]:10.0f}"
        )
    for provider in ("zendesk", "intercom"):
        keys = [(p, k) for p, k, _ in steps if p == provider]
        total = sum(wall[key] for key in keys)
        print(f"{provider} mix: {len(keys) * timed / total:.0f} records/s")
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(40)
        stats.sort_stats("tottime").print_stats(25)


# ---------------------------------------------------------------- zendesk


def _zendesk_step(connection, kind: str) -> Step:  # type: ignore[no-untyped-def]
    from integrations.inbound import store_item
    from integrations.sync import store_record
    from integrations.types import CommentRecord, Person, TicketRecord

    def new_ticket(number: int) -> int:
        now = datetime.now(UTC) - timedelta(minutes=5)
        ticket_id = str(500000 + number)
        requester = Person(f"r{number}", f"Donor {number}", f"donor{number}@example.org")
        comment = CommentRecord(
            ticket_id, f"{ticket_id}-1", requester, now, body_text="My R250 debit ran twice."
        )
        record = TicketRecord(
            ticket_id, "Debit order taken twice", requester, now, now, comments=(comment,)
        )
        item, _ = store_record(connection, record)
        return item.pk

    def delivery(number: int) -> int:
        ticket_id = str(500000 + number)
        serial = f"{kind}-{number}"
        body: dict[str, object] = {
            "account_id": 21234567,
            "id": f"bench-{serial}",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "zendesk_event_version": "2022-11-06",
            "subject": f"zen:ticket:{ticket_id}",
            "detail": {"id": ticket_id, "status": "OPEN", "requester_id": f"r{number}"},
        }
        if kind == "status change":
            body["type"] = "zen:event-type:ticket.status_changed"
            body["event"] = {"previous": "OPEN", "current": "PENDING"}
        else:
            agent = kind != "customer reply"
            body["type"] = "zen:event-type:ticket.comment_added"
            comment_id = 80_000_000_000 + 10 * number + ZENDESK_KINDS.index(kind)
            body["event"] = {
                "comment": {
                    "id": str(comment_id),
                    "body": "We refunded the duplicate R250." if agent else "Thanks, checking.",
                    "is_public": kind != "internal note",
                    "author": {
                        "id": "39120000017" if agent else f"r{number}",
                        "is_staff": agent,
                        "name": "Bench",
                    },
                }
            }
        item, _ = store_item(
            kind="webhook",
            provider="zendesk",
            connection=connection,
            idempotency_key=f"bench-processing-zendesk-{serial}",
            payload=json.dumps(body).encode(),
            enqueue=False,
        )
        return item.pk

    return new_ticket if kind == "new ticket" else delivery


# ---------------------------------------------------------------- intercom


def _intercom_step(connection, kind: str) -> Step:  # type: ignore[no-untyped-def]
    from integrations.inbound import store_item

    def delivery(number: int) -> int:
        conversation_id = f"7{number:08d}"
        serial = 10 * number + INTERCOM_KINDS.index(kind)
        envelope = json.loads(
            _notification(conversation_id, serial=serial, new=kind == "new chat")
        )
        item = envelope["data"]["item"]
        if kind in ("agent reply", "note", "close"):
            part = item["conversation_parts"]["conversation_parts"][0]
            part["author"] = {"type": "admin", "id": "5001", "name": "Agent", "email": ""}
            part["part_type"] = {"agent reply": "comment", "note": "note", "close": "close"}[kind]
            part["body"] = "<p>We refunded the duplicate R250.</p>"
            envelope["topic"] = {
                "agent reply": "conversation.admin.replied",
                "note": "conversation.admin.replied",
                "close": "conversation.admin.closed",
            }[kind]
            item["statistics"]["first_admin_reply_at"] = item["updated_at"]
            if kind == "close":
                item["state"] = "closed"
        stored, _ = store_item(
            kind="webhook",
            provider="intercom",
            connection=connection,
            idempotency_key=f"bench-processing-intercom-{serial}",
            payload=json.dumps(envelope).encode(),
            enqueue=False,
        )
        return stored.pk

    return delivery


if __name__ == "__main__":
    sys.exit(main())
