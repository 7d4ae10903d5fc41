"""Measure the agents' queue in Django admin with 100,000 tickets in PostgreSQL.

Run from the repository root, under the test servers (PostgreSQL on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/admin_queue.py [--tickets 100000]

The script migrates the throwaway database, bulk-inserts contacts, agents, tickets (one
customer message each) and runs ANALYZE, then counts the SQL queries of each measured page in
this process. It starts gunicorn on a loopback port, logs a staff agent in, and requests the
ticket changelist pages from client threads (default list, filters, searches, a deep page),
printing p50, p95 and max latency per page. Nothing is sent to any host but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT_USERNAME = "bench-agent"
AGENT_PASSWORD = "bench-agent-password"  # noqa: S105 - throwaway database on loopback
PAGES = [
    ("default list", "/admin/tickets/ticket/"),
    (
        "filter status+category",
        "/admin/tickets/ticket/?status__exact=open&category__exact=payment_issues",
    ),
    ("filter SLA at risk", "/admin/tickets/ticket/?sla=at_risk"),
    ("filter assignee", "/admin/tickets/ticket/?assignee__id__exact={agent_id}"),
    ("search word", "/admin/tickets/ticket/?q=refund"),
    ("search two words", "/admin/tickets/ticket/?q=card+declined"),
    ("search e-mail", "/admin/tickets/ticket/?q={email}"),
    ("search IL-number", "/admin/tickets/ticket/?q=IL-{ticket_id}"),
    ("page 40", "/admin/tickets/ticket/?p=40"),
]
SUBJECTS = [
    "Double charge on my card for {org}",
    "Refund request for my donation to {org}",
    "Section 18A certificate for {org}",
    "Cannot log in after password reset",
    "Is {org} a registered NPO?",
    "Debit order to {org} went off twice",
    "Matching programme: my employer's share",
    "App crashes when I donate",
    "EFT to {org} not showing",
    "Update my company details",
]
DOMAIN_WORDS = [
    "donation",
    "receipt",
    "card",
    "bank",
    "account",
    "charity",
    "debit",
    "order",
    "reference",
    "payment",
    "certificate",
    "matching",
    "employer",
    "programme",
    "website",
    "app",
    "login",
    "profile",
    "amount",
    "month",
    "thanks",
    "please",
    "help",
    "refund",
    "declined",
    "statement",
    "password",
    "section",
    "tax",
    "monthly",
    "transfer",
    "eft",
    "snapscan",
]
ORGANISATIONS = ["Hope Shelter", "Ubuntu Kids", "Cape Animal Rescue", "Read SA", "Soup Kitchen"]


# ---------------------------------------------------------------- data


def body_vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Return 3,000 words with Zipf weights, the support words ranked 40 to 400.

    Word frequencies in real text fall off as 1/rank, so a support word such as "refund"
    appears in roughly one message in ten, not in nearly all of them.
    """
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(3000)]
    for word, rank in zip(DOMAIN_WORDS, rng.sample(range(40, 400), len(DOMAIN_WORDS)), strict=True):
        words[rank] = word
    return words, [1 / (rank + 1) for rank in range(len(words))]


def populate(tickets: int, seed: int = 100_000) -> dict[str, object]:
    """Insert agents, contacts, tickets and messages in bulk; return ids the URLs need."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from tickets.models import (
        AuthorKind,
        Category,
        Contact,
        Direction,
        Message,
        SlaState,
        Source,
        Status,
        Ticket,
    )

    rng = random.Random(seed)
    vocabulary, weights = body_vocabulary(rng)
    users = get_user_model()
    agent = users.objects.create_superuser(AGENT_USERNAME, "agent@impactlink.org", AGENT_PASSWORD)
    agents = [agent] + [
        users.objects.create_user(f"agent{n}", f"agent{n}@impactlink.org", is_staff=True)
        for n in range(11)
    ]
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Donor {n}", email=f"donor{n}@example.org") for n in range(tickets // 3)],
        batch_size=5000,
    )
    now = datetime.now(UTC)
    statuses = (
        [Status.CLOSED] * 50
        + [Status.SOLVED] * 20
        + [Status.OPEN] * 12
        + [Status.NEW] * 6
        + [Status.PENDING_CUSTOMER] * 8
        + [Status.ON_HOLD] * 4
    )
    categories = list(Category.values)
    sources = [Source.EMAIL] * 6 + [Source.WEB, Source.ZENDESK, Source.FRESHDESK, Source.INTERCOM]

    for start in range(0, tickets, 5000):
        batch = []
        for _ in range(start, min(start + 5000, tickets)):
            received = now - timedelta(minutes=rng.randint(0, 2 * 365 * 24 * 60))
            status = rng.choice(statuses)
            live = status in (Status.NEW, Status.OPEN)
            due = received + timedelta(hours=rng.choice([2, 24]))
            batch.append(
                Ticket(
                    source=rng.choice(sources),
                    subject=rng.choice(SUBJECTS).format(org=rng.choice(ORGANISATIONS)),
                    category=rng.choice(categories),
                    status=status,
                    contact=rng.choice(contacts),
                    assignee=rng.choice(agents) if rng.random() < 0.8 else None,
                    escalation_level=rng.choice([1] * 12 + [2, 2, 3, 4]),
                    created_in_source_at=received,
                    received_at=received,
                    last_message_at=received,
                    message_count=1,
                    sla_policy="bh",
                    sla_state=(SlaState.RUNNING if due > now else SlaState.BREACHED)
                    if live
                    else SlaState.ACHIEVED,
                    sla_started_at=received,
                    sla_due_at=due,
                    sla_warning_at=received + (due - received) * 0.75,
                )
            )
        created = Ticket.objects.bulk_create(batch)
        Message.objects.bulk_create(
            [
                Message(
                    ticket=ticket,
                    source=ticket.source,
                    direction=Direction.INBOUND,
                    author_kind=AuthorKind.CUSTOMER,
                    author_contact_id=ticket.contact_id,
                    subject=ticket.subject,
                    body_text=" ".join(rng.choices(vocabulary, weights, k=rng.randint(30, 150))),
                    sent_at=ticket.received_at,
                    received_at=ticket.received_at,
                )
                for ticket in created
            ]
        )
    print(f"  inserted {tickets} tickets")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    sample_ticket = Ticket.objects.order_by("?").values_list("pk", flat=True).first()
    return {"agent_id": agents[3].pk, "email": contacts[17].email, "ticket_id": sample_ticket}


def count_queries(urls: list[tuple[str, str]], *, explain: bool) -> dict[str, int]:
    """Render each page in this process and count its SQL queries.

    With `explain`, print every query slower than 5 ms with PostgreSQL's EXPLAIN ANALYZE.
    """
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.login(username=AGENT_USERNAME, password=AGENT_PASSWORD)
    counts = {}
    for label, url in urls:
        client.get(url)
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        total = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"error: {url} returned HTTP {response.status_code}")
        counts[label] = len(captured.captured_queries)
        if explain:
            sql_ms = sum(float(query["time"]) for query in captured.captured_queries) * 1000
            print(f"\n== {label}: {url}: {total:.0f} ms in this process, {sql_ms:.0f} ms in SQL")
            for query in captured.captured_queries:
                if float(query["time"]) * 1000 > 5:
                    print(f"-- {float(query['time']) * 1000:.0f} ms: {query['sql'][:600]}")
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN ANALYZE " + query["sql"])
                        print("\n".join(row[0] for row in cursor.fetchall()))
    return counts


# ---------------------------------------------------------------- server and load


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(port: int, workers: int) -> subprocess.Popen[bytes]:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    process = subprocess.Popen(
        [
            gunicorn,
            "impactsupport.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "ALLOWED_HOSTS": "127.0.0.1"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("error: gunicorn did not listen within 30 s")


def login(base: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/admin/login/", timeout=10)
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "username": AGENT_USERNAME,
            "password": AGENT_PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    if "sessionid" not in session.cookies:
        raise SystemExit(f"error: admin login failed with HTTP {response.status_code}")
    return session


def measure(base: str, url: str, *, requests_per_page: int, concurrency: int) -> list[float]:
    """Request `url` from `concurrency` logged-in threads; return the latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    remaining = [requests_per_page]
    failures: list[str] = []

    def worker() -> None:
        session = login(base)
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            started = time.perf_counter()
            response = session.get(base + url, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}")
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"error: {url}: {len(failures)} failed requests ({failures[0]})")
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    arguments.add_argument("--tickets", type=int, default=100_000, help="Tickets to insert.")
    arguments.add_argument("--requests", type=int, default=60, help="Requests per page.")
    arguments.add_argument("--concurrency", type=int, default=2, help="Client threads.")
    arguments.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    arguments.add_argument(
        "--explain", action="store_true", help="Print slow queries with EXPLAIN ANALYZE."
    )
    options = arguments.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print(
            "error: DATABASE_URL is not PostgreSQL; run under `python -m tests.servers`.",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impactsupport.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    started = time.perf_counter()
    ids = populate(options.tickets)
    print(f"inserted {options.tickets} tickets in {time.perf_counter() - started:.0f} s")
    urls = [(label, url.format(**ids)) for label, url in PAGES]
    queries = count_queries(urls, explain=options.explain)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_gunicorn(port, options.workers)
    try:
        for _, url in urls:  # warm each worker's connection and caches
            measure(base, url, requests_per_page=options.workers * 2, concurrency=options.workers)
        results = []
        for label, url in urls:
            latencies = measure(
                base, url, requests_per_page=options.requests, concurrency=options.concurrency
            )
            results.append((label, url, latencies))
    finally:
        server.terminate()
        server.wait(timeout=20)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"gunicorn workers: {options.workers}, client threads: {options.concurrency}, "
        f"requests per page: {options.requests}"
    )
    print("| Page | Queries | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    worst = 0.0
    for label, _url, latencies in results:
        p95 = percentile(latencies, 0.95)
        worst = max(worst, p95)
        print(
            f"| {label} | {queries[label]} | {statistics.median(latencies):.0f} | {p95:.0f} | "
            f"{max(latencies):.0f} |"
        )
    print(f"worst p95: {worst:.0f} ms (target < 200 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
