"""Measure the public help centre under load: gunicorn, PostgreSQL, Redis, 64 connections.

Run from the repository root, under the test servers (PostgreSQL and Redis on loopback):

    .venv/bin/python -m tests.servers .venv/bin/python bench/help_centre.py [--seconds 10]

The script migrates the throwaway database, loads faq/content, collects static files and
starts gunicorn (gthread workers) on 127.0.0.1 with the Redis cache. The load generator is
wrk (installed with apt-get when missing and running as root), or a built-in asyncio
HTTP/1.1 keep-alive client otherwise. Each page is warmed up and then driven by 64
keep-alive connections. The script prints requests per second and p50/p95/p99 latency,
and divides each page's rate by that of a minimal Django view (bench/help_centre_urls.py)
measured on the same server just before and after it. Then it adds 5,000 generated
articles and measures search again, with the cache on (repeated queries) and off
(HELP_CENTRE_CACHE_SECONDS=0: every search queries PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402 - the path above makes bench importable
    ROOT,
    WRK_DONE,
    free_port,
    run_wrk,
    stop,
    wait_for_port,
)

SETTINGS = "bench.help_centre_settings"
CONNECTIONS = 64
TARGETS = {"index": 0.8, "category": 0.8, "article": 0.8, "search": 0.3}
P99_TARGET_MS = 50.0
SEARCHES = [
    "tax certificate",
    "refund",
    "otp",
    "reciept",
    "cafe fundraiser",
    "payout schedule",
    "two factor",
    "donation failed",
    "matching invoice",
    "phishing",
    "payroll giving",
    "debit order",
    "verification documents",
    "api key",
    "popia",
    "snapscan",
]
WRK_SCRIPT = """
local paths = {%(paths)s}
local index = 0
request = function()
  index = index %% #paths + 1
  return wrk.format("GET", paths[index])
end
""" + WRK_DONE


@dataclass(frozen=True)
class Measurement:
    name: str
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=int, default=10, help="Length of each measurement, in seconds."
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes.")
    parser.add_argument("--threads", type=int, default=4, help="Threads per gunicorn worker.")
    parser.add_argument(
        "--articles", type=int, default=5000, help="Generated articles for the search run."
    )
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        print("Run under tests.servers so PostgreSQL and Redis are set:", file=sys.stderr)
        print(
            "  .venv/bin/python -m tests.servers .venv/bin/python bench/help_centre.py",
            file=sys.stderr,
        )
        return 2

    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="help-bench-"))
    _manage("migrate", "--no-input", "-v", "0")
    _manage("load_faq")
    _manage("collectstatic", "--no-input", "-v", "0")
    load = _load_generator()
    print(
        f"# help centre benchmark: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, gunicorn {args.workers} workers x {args.threads} threads, "
        f"{CONNECTIONS} connections, {args.seconds} s per page, load generator: "
        f"{'wrk' if load is _run_wrk else 'asyncio client'}"
    )

    paths = {
        "index": ["/help/faq"],
        "category": ["/help/faq/making-donations"],
        "article": ["/help/faq/making-donations/section-18a-tax-certificate"],
        "search": [f"/help/faq/search?q={query.replace(' ', '+')}" for query in SEARCHES],
    }
    rows: list[Row] = []
    with _gunicorn(args, cache_seconds=3600) as base:
        for name, urls in paths.items():
            rows.append(_compare(load, base, name, urls, args.seconds))
    with _gunicorn(args, cache_seconds=0) as base:
        rows.append(_compare(load, base, "search, cache off", paths["search"], args.seconds))

    count = _add_articles(args.articles)
    with _gunicorn(args, cache_seconds=3600) as base:
        rows.append(
            _compare(load, base, f"search, {count} articles", paths["search"], args.seconds)
        )
        rows.append(
            _compare(load, base, f"article, {count} articles", paths["article"], args.seconds)
        )
    with _gunicorn(args, cache_seconds=0) as base:
        rows.append(
            _compare(
                load, base, f"search, {count} articles, cache off", paths["search"], args.seconds
            )
        )
    _report(rows)
    return 0


def _manage(*arguments: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *arguments], check=True, cwd=ROOT)


@contextlib.contextmanager
def _gunicorn(args: argparse.Namespace, *, cache_seconds: int) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, HELP_CENTRE_CACHE_SECONDS=str(cache_seconds), LOG_LEVEL="WARNING")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "impactsupport.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--keep-alive",
            "60",
            "--backlog",
            "2048",
            "--log-level",
            "warning",
            "--chdir",
            str(ROOT),
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_port(port, process=process)
        _flush_cache()
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process, timeout=20)


def _flush_cache() -> None:
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


@dataclass(frozen=True)
class Row:
    page: Measurement
    # The minimal view measured just before and just after the page, on the same server.
    minimal_before: Measurement
    minimal_after: Measurement

    @property
    def baseline(self) -> float:
        return (
            self.minimal_before.requests_per_second + self.minimal_after.requests_per_second
        ) / 2

    @property
    def ratio(self) -> float:
        return self.page.requests_per_second / self.baseline


def _compare(load, base: str, name: str, urls: list[str], seconds: int) -> Row:  # type: ignore[no-untyped-def]
    """Measure a page between two runs of the minimal view, so that load from other
    programs on the machine affects the page and its baseline alike."""
    before = _measure(load, base, "minimal", ["/bench/minimal"], seconds)
    page = _measure(load, base, name, urls, seconds)
    after = _measure(load, base, "minimal", ["/bench/minimal"], seconds)
    print(
        f"# {name}: {page.requests_per_second:,.0f}/s, minimal view "
        f"{before.requests_per_second:,.0f}/s and {after.requests_per_second:,.0f}/s",
        flush=True,
    )
    return Row(page, before, after)


def _measure(load, base: str, name: str, urls: list[str], seconds: int) -> Measurement:  # type: ignore[no-untyped-def]
    load(base, urls, min(3, seconds))  # warm-up: caches, connections, imports
    return Measurement(name, *load(base, urls, seconds))


def _load_generator():  # type: ignore[no-untyped-def]
    if shutil.which("wrk") is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return _run_wrk if shutil.which("wrk") else _run_python_client


def _run_wrk(base: str, urls: list[str], seconds: int) -> tuple[float, float, float, float, int]:
    script = WRK_SCRIPT % {"paths": ", ".join(json.dumps(url) for url in urls)}
    data = run_wrk(
        "wrk", script, base + urls[0], threads=2, connections=CONNECTIONS, seconds=seconds
    )
    rate = data["requests"] / (data["duration_us"] / 1e6)
    return (
        rate,
        data["p50_us"] / 1000,
        data["p95_us"] / 1000,
        data["p99_us"] / 1000,
        data["errors"] + data["non_2xx"],
    )


def _run_python_client(
    base: str, urls: list[str], seconds: int
) -> tuple[float, float, float, float, int]:
    return asyncio.run(_python_load(base, urls, seconds))


async def _python_load(
    base: str, urls: list[str], seconds: int
) -> tuple[float, float, float, float, int]:
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def connection(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        position = offset
        while time.monotonic() < deadline:
            url = urls[position % len(urls)]
            position += 1
            started = time.perf_counter()
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            status_line = await reader.readline()
            length = 0
            while (header := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in status_line:
                errors += 1
        writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection(n) for n in range(CONNECTIONS)))
    elapsed = time.monotonic() - started
    latencies.sort()
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000, errors


def _add_articles(count: int) -> int:
    import django

    django.setup()
    from django.db import transaction

    from faq import services
    from faq.models import Article, Category
    from faq.text import words

    vocabulary = sorted(
        {
            word
            for text in Article.objects.values_list("body_text", flat=True)
            for word in words(text)
            if len(word) > 3 and word.isalpha()
        }
    )
    generator = random.Random(5000)
    categories = list(Category.objects.all())
    started = time.monotonic()
    with transaction.atomic():
        for number in range(count):
            title = " ".join(generator.choice(vocabulary) for _ in range(6)).capitalize()
            paragraphs = [
                " ".join(generator.choice(vocabulary) for _ in range(60)) + "." for _ in range(3)
            ]
            article = Article(
                category=generator.choice(categories),
                title=f"{title} {number}",
                slug=f"generated-{number}",
                summary=" ".join(generator.choice(vocabulary) for _ in range(14)),
                tags=[generator.choice(vocabulary) for _ in range(3)],
                body_markdown="\n\n".join(["## " + title, *paragraphs]),
                order=100,
            )
            services.save_article(article=article, refresh_terms=False)
        services.refresh_search_terms()
    print(f"# added {count} generated articles in {time.monotonic() - started:.0f} s")
    return Article.objects.filter(published=True).count()


def _report(rows: list[Row]) -> None:
    print()
    print(
        "| page | requests/s | minimal view, requests/s | ratio | p50 ms | p95 ms | p99 ms "
        "| minimal view p99 ms | errors |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        page = row.page
        minimal_p99 = max(row.minimal_before.p99_ms, row.minimal_after.p99_ms)
        print(
            f"| {page.name} | {page.requests_per_second:,.0f} | {row.baseline:,.0f} | "
            f"{row.ratio:.2f} | {page.p50_ms:.1f} | {page.p95_ms:.1f} | {page.p99_ms:.1f} | "
            f"{minimal_p99:.1f} | {page.errors} |"
        )
    print()
    for row in rows:
        kind = row.page.name.split(",")[0]
        if kind not in TARGETS or "cache off" in row.page.name:
            continue
        ratio_ok = row.ratio >= TARGETS[kind]
        latency_ok = row.page.p99_ms < P99_TARGET_MS
        print(
            f"{row.page.name}: ratio {row.ratio:.2f} {'meets' if ratio_ok else 'misses'} "
            f"{TARGETS[kind]:.2f}; p99 {row.page.p99_ms:.0f} ms "
            f"{'meets' if latency_ok else 'misses'} < {P99_TARGET_MS:.0f} ms"
        )


if __name__ == "__main__":
    raise SystemExit(main())
