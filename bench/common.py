"""Shared benchmark helpers: wrk runs, gunicorn and a Celery worker for the webhook benches.

Ports come from tests.servers (free_port, wait_for_port), the same helpers the test servers use.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.servers import free_port, wait_for_port  # noqa: E402 - needs ROOT on the path

__all__ = [
    "MINIMAL_PATH",
    "ROOT",
    "WRK_DONE",
    "LoadResult",
    "describe",
    "drain",
    "free_port",
    "gunicorn",
    "load",
    "machine",
    "run_wrk",
    "stop",
    "wait_for_port",
    "wrk",
]

MINIMAL_PATH = "/bench/minimal-post"

# The Lua done() every wrk script ends with: one RESULT line of JSON for run_wrk to read.
# Doubled percent signs, because the scripts are filled in with the % operator.
WRK_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, ' ..
    '"p50_us": %%d, "p95_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    wrk_path: str, script: str, url: str, *, threads: int, connections: int, seconds: int
) -> dict[str, int]:
    """Run wrk with the Lua script for seconds; returns the RESULT line WRK_DONE writes."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            [
                wrk_path,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "5s",
                "-s",
                handle.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return dict(json.loads(line[len("RESULT ") :]))


def load(wrk_path: str, port: int, script: str, *, seconds: int, connections: int) -> LoadResult:
    """Run wrk against 127.0.0.1:port; the Lua script chooses paths, bodies and headers."""
    data = run_wrk(
        wrk_path,
        script,
        f"http://127.0.0.1:{port}",
        threads=1,
        connections=connections,
        seconds=seconds,
    )
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=data["errors"],
        non_2xx=data["non_2xx"],
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
    )


def wrk() -> str:
    """Return the wrk binary, installing it with apt-get when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing; install it (apt-get install wrk) and run again.")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        sys.exit("apt-get did not install wrk.")
    return found


def stop(process: subprocess.Popen, timeout: float) -> None:  # type: ignore[type-arg]
    """SIGTERM, then SIGKILL if the process has not exited within timeout seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def gunicorn(env: dict[str, str], workers: int, threads: int) -> Iterator[int]:
    """gunicorn (gthread) on a free loopback port with env; yields the port."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "impactsupport.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-k",
            "gthread",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_for_port(port, process=process)
        yield port
    finally:
        stop(process, timeout=20)


def drain(env: dict[str, str], expected: int) -> tuple[int, float, float]:
    """Run one solo Celery worker until every stored webhook delivery is processed.

    Returns (items processed, seconds from first to last processed_at, wall seconds).
    """
    from django.db.models import Max, Min

    from integrations.models import InboundItem

    started = time.perf_counter()
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "impactsupport",
            "worker",
            "--pool",
            "solo",
            "--concurrency",
            "1",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
            "-l",
            "WARNING",
            "-n",
            "bench@%h",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            pending = InboundItem.objects.filter(kind="webhook", state="pending").count()
            if pending == 0:
                break
            time.sleep(0.5)
    finally:
        stop(worker, timeout=30)
    wall = time.perf_counter() - started
    items = InboundItem.objects.filter(kind="webhook").exclude(state="pending")
    span = items.aggregate(first=Min("processed_at"), last=Max("processed_at"))
    failed = items.filter(state="failed").count()
    if failed:
        first = items.filter(state="failed").first()
        print(f"warning: {failed} deliveries failed; first error: {first.last_error}")
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] else 0.0
    return items.count(), seconds, wall


def describe(run: LoadResult) -> str:
    return (
        f"{run.rate:7.0f} req/s  p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:6.1f} ms  "
        f"({run.requests} requests, {run.errors} errors, {run.non_2xx} non-2xx)"
    )


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"
