"""The outbound HTTP client: retries, waits, rate-limit budgets and where credentials go."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from integrations.base import NotConfigured, ProviderError
from integrations.http import (
    ProviderHttp,
    RateLimitHeaders,
    parse_retry_after,
    validated_base_url,
)
from tests.integrations.contract import SleepRecorder


def client(server: HTTPServer, sleep: SleepRecorder, **options: object) -> ProviderHttp:
    return ProviderHttp(
        provider="testdesk",
        base_url=server.url_for("/").rstrip("/"),
        auth=("agent@example.org", "api-secret-value"),
        sleep=sleep,
        **options,  # type: ignore[arg-type]
    )


def test_retry_after_seconds_and_date() -> None:
    now = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)

    assert parse_retry_after("42") == 42.0
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    "url",
    ["http://giving.zendesk.com", "ftp://127.0.0.1", "https://", "giving.zendesk.com"],
)
def test_base_url_must_be_https(url: str) -> None:
    with pytest.raises(NotConfigured):
        validated_base_url(url)


def test_base_url_allows_loopback_http() -> None:
    assert validated_base_url("http://127.0.0.1:8081/") == "http://127.0.0.1:8081"
    assert validated_base_url("https://giving.zendesk.com/") == "https://giving.zendesk.com"


def test_503_waits_retry_after_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/x").respond_with_response(
        Response("busy", status=503, headers={"Retry-After": "7"})
    )
    httpserver.expect_oneshot_request("/x").respond_with_json({"ok": True})
    sleep = SleepRecorder()

    response = client(httpserver, sleep).get_json("/x")

    assert response.data == {"ok": True}
    assert sleep.waits == [7.0]


def test_long_retry_after_raises_without_sleeping(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_response(
        Response("later", status=429, headers={"Retry-After": "3600"})
    )
    sleep = SleepRecorder()

    with pytest.raises(ProviderError) as raised:
        client(httpserver, sleep, max_wait=60).get_json("/x")

    assert raised.value.retryable is True
    assert raised.value.status == 429
    assert raised.value.retry_after == 3600.0
    assert sleep.waits == []
    assert len(httpserver.log) == 1


def test_backoff_doubles_until_attempts_run_out(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_response(Response("down", status=502))
    sleep = SleepRecorder()

    with pytest.raises(ProviderError) as raised:
        client(httpserver, sleep, max_attempts=4).get_json("/x")

    assert raised.value.retryable is True
    assert raised.value.status == 502
    assert sleep.waits == [1.0, 2.0, 4.0]
    assert len(httpserver.log) == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/x").respond_with_response(Response("no", status=status))
    sleep = SleepRecorder()

    with pytest.raises(ProviderError) as raised:
        client(httpserver, sleep).get_json("/x")

    assert raised.value.retryable is False
    assert raised.value.status == status
    assert sleep.waits == []
    assert len(httpserver.log) == 1


def test_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sleep = SleepRecorder()
    http = ProviderHttp(
        provider="testdesk", base_url=f"http://127.0.0.1:{port}", sleep=sleep, max_attempts=2
    )

    with pytest.raises(ProviderError) as raised:
        http.get_json("/x")

    assert raised.value.retryable is True
    assert raised.value.status is None
    assert "connection failed" in str(raised.value)
    assert sleep.waits == [1.0]


def test_slow_answer_times_out(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/slow").respond_with_handler(slow)

    with pytest.raises(ProviderError) as raised:
        client(httpserver, SleepRecorder(), timeout=0.1, max_attempts=1).get_json("/slow")

    assert raised.value.retryable is True
    assert "timed out" in str(raised.value)


def test_body_that_is_not_json_is_an_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("<html>maintenance</html>")

    with pytest.raises(ProviderError) as raised:
        client(httpserver, SleepRecorder()).get_json("/x")

    assert raised.value.retryable is True


def test_link_to_other_host_is_refused(httpserver: HTTPServer) -> None:
    http = client(httpserver, SleepRecorder())

    with pytest.raises(ProviderError) as raised:
        http.get_json("https://attacker.example/api/v2/tickets")

    assert raised.value.retryable is False
    assert httpserver.log == []


def test_download_elsewhere_sends_no_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/files/a.pdf").respond_with_data(b"%PDF-1.4")
    # Same server by another loopback name: a different origin, like a pre-signed S3 link.
    other = httpserver.url_for("/files/a.pdf").replace("localhost", "127.0.0.1")
    http = client(httpserver, SleepRecorder())

    content = http.get_bytes(other, max_bytes=1000)

    assert content == b"%PDF-1.4"
    assert "Authorization" not in httpserver.log[0][0].headers


def test_download_on_own_host_sends_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/files/a.pdf").respond_with_data(b"%PDF-1.4")
    http = client(httpserver, SleepRecorder())

    http.get_bytes(httpserver.url_for("/files/a.pdf"), max_bytes=1000)

    assert httpserver.log[0][0].headers["Authorization"].startswith("Basic ")


def test_download_over_limit_returns_none(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/files/big.bin").respond_with_data(b"x" * 5000)

    content = client(httpserver, SleepRecorder()).get_bytes(
        httpserver.url_for("/files/big.bin"), max_bytes=1000
    )

    assert content is None


def test_spent_budget_without_reset_pauses(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_json({}, headers={"X-Left": "0"})
    sleep = SleepRecorder()
    http = client(
        httpserver, sleep, rate_limits=RateLimitHeaders(remaining=("X-Left",), exhausted_wait=30)
    )

    http.get_json("/x")
    http.get_json("/x")

    assert sleep.waits == [pytest.approx(30.0, abs=1.0)]


def test_budget_pause_over_cap_raises(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_json({}, headers={"X-Left": "0", "X-Reset": "900"})
    http = client(
        httpserver,
        SleepRecorder(),
        max_wait=60,
        rate_limits=RateLimitHeaders(remaining=("X-Left",), reset=("X-Reset",)),
    )
    http.get_json("/x")

    with pytest.raises(ProviderError) as raised:
        http.get_json("/x")

    assert raised.value.retryable is True
    assert raised.value.retry_after == pytest.approx(900.0, abs=1.0)
    assert len(httpserver.log) == 1


def test_errors_and_logs_hide_credentials(httpserver: HTTPServer, caplog) -> None:
    caplog.set_level("DEBUG")
    httpserver.expect_request("/x").respond_with_response(Response("nope", status=500))

    with pytest.raises(ProviderError) as raised:
        client(httpserver, SleepRecorder(), max_attempts=2).get_json("/x", params={"q": "1"})

    assert "api-secret-value" not in str(raised.value)
    assert "api-secret-value" not in caplog.text
    assert "q=1" not in str(raised.value)
