"""Measure mailbox ingestion end to end: Dovecot → sync → PostgreSQL → tickets.

Run from the repository root, under the test servers (PostgreSQL and Dovecot on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/ingest_mailbox.py [--messages 2000]

The script migrates the throwaway database and appends generated help@ mail to a fresh
Dovecot folder (not timed). It then runs one `sync_mailbox` with Celery tasks executed in this
process, so the measured time covers IMAP fetch, storing each raw mail, parsing, threading,
categorising and the SLA timer. It prints messages per second, the peak growth of resident
memory during the sync, and the bare standard-library parse rate and the hub's parse-only
rate over the same fetched messages.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import random
import resource
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SUBJECTS = [
    (
        "My donation to {org} failed",
        "My card was declined when I tried to give R{amount} to {org}.",
    ),
    ("Charged twice for one donation", "I see two debits of R{amount} on my statement for {org}."),
    ("Cannot log in to my account", "The reset link says it expired. I tried three times today."),
    (
        "Section 18A certificate missing",
        "I need my tax certificate for my R{amount} gift to {org}.",
    ),
    ("Is {org} a registered NPO?", "Before I give R{amount}, can you confirm their NPO number?"),
    ("Matching programme question", "Does my employer match my R{amount} donation to {org}?"),
    ("Debit order cancel", "Please stop my monthly R{amount} debit order to {org}."),
    ("App crashes on checkout", "The Android app closes when I press Donate for {org}."),
    ("Refund request", "I gave R{amount} to {org} by mistake; please refund it."),
    ("EFT reference", "Which reference do I use for an EFT of R{amount} to {org}?"),
]
ORGANISATIONS = [
    "Hope Shelter",
    "Ubuntu Kids",
    "Cape Animal Rescue",
    "Soup Kitchen Soweto",
    "Read SA",
]
NAMES = [
    "Thandi Mokoena",
    "Sipho Dlamini",
    "Anele Nkosi",
    "Pieter van Wyk",
    "Fatima Patel",
    "Lerato Molefe",
    "Johan Botha",
    "Naledi Khumalo",
    "Ayesha Adams",
    "Bongani Zulu",
]


def generate_mail(count: int, seed: int = 2026) -> list[bytes]:
    """Return `count` raw mails: questions, replies, team replies, HTML, attachments, machines."""
    rng = random.Random(seed)
    # Sent over the last hours, as a live mailbox receives it; older mail only adds business
    # hours for the SLA timer to walk.
    start = datetime.now(UTC) - timedelta(seconds=20 * count)
    sent: list[tuple[str, str, str]] = []  # (message id, customer address, subject)
    mails = []
    for number in range(count):
        when = start + timedelta(seconds=20 * number)
        roll = rng.random()
        message = EmailMessage()
        message["Date"] = format_datetime(when)
        message["Message-ID"] = f"<bench-{number}@mail.example.org>"
        if roll < 0.25 and sent:
            parent_id, address, subject = rng.choice(sent)
            message["From"] = address
            message["To"] = "help@impactlink.org"
            message["Subject"] = f"Re: {subject}"
            message["In-Reply-To"] = parent_id
            message["References"] = parent_id
            message.set_content("Any news on this? " + _paragraphs(rng, 1) + _quote(rng))
        elif roll < 0.30 and sent:
            parent_id, address, subject = rng.choice(sent)
            message["From"] = "ImpactLink Support <help@impactlink.org>"
            message["To"] = address
            message["Subject"] = f"Re: {subject}"
            message["In-Reply-To"] = parent_id
            message.set_content("Hi, thanks for waiting. " + _paragraphs(rng, 2))
        elif roll < 0.32:
            message["From"] = f"{rng.choice(NAMES)} <ooo{number}@example.net>"
            message["To"] = "help@impactlink.org"
            message["Subject"] = "Out of office"
            message["Auto-Submitted"] = "auto-replied"
            message.set_content("I am away until Monday.")
        else:
            name = rng.choice(NAMES)
            address = f"{name.split()[0].lower()}.{number}@example.org"
            template, body = rng.choice(SUBJECTS)
            values = {
                "org": rng.choice(ORGANISATIONS),
                "amount": rng.choice([50, 100, 250, 500, 1000]),
            }
            subject = template.format(**values)
            message["From"] = f"{name} <{address}>"
            message["To"] = "help@impactlink.org"
            message["Subject"] = subject
            details = _paragraphs(rng, rng.randint(1, 4))
            text = f"Hello,\n\n{body.format(**values)}\n\n{details}\n\n{name}"
            message.set_content(text)
            if roll > 0.93:
                message.add_alternative(
                    f"<html><body><p>{text.replace(chr(10), '<br>')}</p></body></html>",
                    subtype="html",
                )
            elif roll > 0.90:
                payload = rng.randbytes(30_000)
                message.add_attachment(
                    payload, maintype="application", subtype="pdf", filename="statement.pdf"
                )
            sent.append((message["Message-ID"], address, subject))
        mails.append(message.as_bytes())
    return mails


def _paragraphs(rng: random.Random, count: int) -> str:
    words = [
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
        "refund",
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
    ]
    return "\n\n".join(
        " ".join(rng.choice(words) for _ in range(rng.randint(20, 80))) for _ in range(count)
    )


def _quote(rng: random.Random) -> str:
    return "\n\nOn Monday, ImpactLink Support wrote:\n> " + _paragraphs(rng, 1).replace(
        "\n", "\n> "
    )


# ---------------------------------------------------------------- memory


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


class RssSampler(threading.Thread):
    """Samples resident memory every 20 ms while the sync runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.perf_counter(), rss_bytes()))
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# ---------------------------------------------------------------- run


def append_to_dovecot(mails: list[bytes], folder: str) -> None:
    from imapclient import IMAPClient

    client = IMAPClient(
        os.environ["TEST_IMAP_HOST"], port=int(os.environ["TEST_IMAP_PORT"]), ssl=False
    )
    client.login(os.environ["TEST_IMAP_USER"], os.environ["TEST_IMAP_PASSWORD"])
    client.create_folder(folder)
    for start in range(0, len(mails), 100):
        client.multiappend(folder, mails[start : start + 100])
    client.logout()


def parse_rates(raws: list[bytes]) -> tuple[float, float]:
    from integrations.mailbox.parser import parse_message

    parser = BytesParser(policy=policy.default)
    started = time.perf_counter()
    for raw in raws:
        parser.parsebytes(raw)
    stdlib = len(raws) / (time.perf_counter() - started)
    started = time.perf_counter()
    for raw in raws:
        parse_message(raw)
    product = len(raws) / (time.perf_counter() - started)
    return stdlib, product


def main() -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    arguments.add_argument("--messages", type=int, default=2000, help="Mails to append and sync.")
    arguments.add_argument(
        "--batch-size", type=int, default=200, help="MAILBOX_BATCH_SIZE for the sync."
    )
    arguments.add_argument(
        "--profile", action="store_true", help="Print the costliest functions of the sync."
    )
    arguments.add_argument(
        "--stages",
        action="store_true",
        help="Also time fetch and store alone, then with parsing, then in full.",
    )
    options = arguments.parse_args()

    missing = [name for name in ("DATABASE_URL", "TEST_IMAP_PORT") if name not in os.environ]
    if missing:
        print(
            f"error: {', '.join(missing)} not set; run under `python -m tests.servers`.",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impactsupport.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.core.management import call_command, get_commands

    call_command("migrate", verbosity=0)
    if "load_category_rules" in get_commands():
        call_command("load_category_rules", verbosity=0)

    from django.db.models import Count

    from integrations.mailbox.sync import sync_mailbox
    from integrations.models import InboundItem
    from tickets.models import Message, Ticket

    folder = f"bench-{int(time.time())}"
    append_to_dovecot(generate_mail(options.messages), folder)
    gc.collect()
    connection = bench_connection(folder, options.batch_size)

    baseline = rss_bytes()
    sampler = RssSampler()
    sampler.start()
    profiler = cProfile.Profile() if options.profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    summary = sync_mailbox(connection)
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    sampler.stop()
    if summary.error:
        print(f"error: sync failed: {summary.error}", file=sys.stderr)
        return 1

    states = dict(InboundItem.objects.values_list("state").annotate(n=Count("id")).order_by())
    peak = max(rss for _, rss in sampler.samples)
    quarters = [
        sampler.samples[min(len(sampler.samples) - 1, len(sampler.samples) * q // 4)][1]
        for q in (1, 2, 3, 4)
    ]

    raws = [bytes(p) for p in InboundItem.objects.order_by("pk").values_list("payload", flat=True)]
    stdlib_rate, product_rate = parse_rates(raws)
    end_to_end = summary.fetched / elapsed

    mib = 1024 * 1024
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"messages: {summary.fetched} fetched, {summary.stored} stored; item states {states}")
    print(f"tickets: {Ticket.objects.count()}, messages: {Message.objects.count()}")
    print(f"end to end: {elapsed:.2f} s, {end_to_end:.0f} messages/s (target >= 200/s)")
    print(
        f"resident memory: {baseline / mib:.0f} MiB before, "
        f"peak growth {(peak - baseline) / mib:.1f} MiB; "
        f"at 25/50/75/100 % of the run: {', '.join(f'{q / mib:.0f}' for q in quarters)} MiB"
    )
    print(f"stdlib BytesParser(policy=default): {stdlib_rate:.0f} messages/s")
    print(
        f"hub parse_message only: {product_rate:.0f} messages/s "
        f"({product_rate / stdlib_rate:.2f} x stdlib)"
    )
    print(
        f"end to end vs stdlib parse: {end_to_end / stdlib_rate:.3f} x; "
        f"vs hub parse: {end_to_end / product_rate:.3f} x"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(40)
    if options.stages:
        print_stages(options.messages, options.batch_size)
    return 0


def bench_connection(folder: str, batch_size: int) -> Any:
    from integrations.models import Connection

    return Connection.objects.create(
        name=folder,
        provider=Connection.Provider.MAILBOX,
        config={
            "host": os.environ["TEST_IMAP_HOST"],
            "port": int(os.environ["TEST_IMAP_PORT"]),
            "security": "none",
            "user": os.environ["TEST_IMAP_USER"],
            "folder": folder,
            "batch_size": batch_size,
        },
        credentials={"password": os.environ["TEST_IMAP_PASSWORD"]},
    )


# ---------------------------------------------------------------- where the time goes


def store_only(item: Any) -> Any:
    """Processor that only marks the item: measures fetch, store and the task around it."""
    from integrations.inbound import ProcessResult

    return ProcessResult("ignored", "bench", None)


def parse_and_map_only(item: Any) -> Any:
    """Processor that parses and maps the mail but writes nothing to the queue."""
    from integrations.inbound import ProcessResult
    from integrations.mailbox import ingest
    from integrations.mailbox.parser import parse_message

    parsed = parse_message(bytes(item.payload))
    ingest.incoming_from_mail(
        parsed, received_at=item.received_at, support_addresses=ingest.support_addresses()
    )
    return ProcessResult("ignored", "bench", None)


def print_stages(count: int, batch_size: int) -> None:
    """Sync fresh mail three more times, each with one more stage of the processing."""
    from integrations.inbound import PROCESSORS, register_processor
    from integrations.mailbox.sync import sync_mailbox

    full = PROCESSORS["mail"]
    stages = [
        ("fetch and store (processor does nothing)", f"{__name__}.store_only"),
        ("+ parse and map to IncomingMessage", f"{__name__}.parse_and_map_only"),
        ("+ tickets.services.ingest_message (full)", full),
    ]
    print("| Stage | ms per mail | mails/s |")
    print("|---|---:|---:|")
    try:
        for number, (label, processor) in enumerate(stages, start=1):
            folder = f"stage{number}-{int(time.time())}"
            append_to_dovecot(generate_mail(count, seed=number), folder)
            register_processor("mail", processor)
            started = time.perf_counter()
            summary = sync_mailbox(bench_connection(folder, batch_size))
            elapsed = time.perf_counter() - started
            rate = summary.fetched / elapsed
            print(f"| {label} | {1000 / rate:.1f} | {rate:.0f} |")
    finally:
        register_processor("mail", full)


if __name__ == "__main__":
    raise SystemExit(main())
