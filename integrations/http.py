"""The one way the hub calls a provider's API: timeouts, bounded retries, rate limits.

Every adapter's client goes through ProviderHttp. A failed call raises ProviderError, whose
`retryable` is True when trying again later can help. Waits (backoff, Retry-After, an
exhausted rate-limit budget) go through an injectable sleep function and are capped by
settings.PROVIDER_HTTP_MAX_WAIT; a longer wait raises a retryable ProviderError at once so the
caller can reschedule instead of holding a worker. Credentials live in the requests auth
object and are never logged, and they are never sent to a host other than the base URL's.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from requests.auth import AuthBase

from integrations.base import NotConfigured, ProviderError

logger = logging.getLogger(__name__)

USER_AGENT = "ImpactLink-Support-Hub/0.1 (+help@impactlink.org)"
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}
# Statuses after which the same request may succeed later.
RETRYABLE_STATUSES = {408, 425, 429, 500, 502, 503, 504}
_STATUS_HINTS = {
    401: "authentication failed; check the connection's API credentials",
    403: "permission denied; the API user needs admin or agent rights for this endpoint",
    404: "not found",
    429: "rate limited",
}


@dataclass(frozen=True)
class RateLimitHeaders:
    """Header names of a provider's remaining request budget, checked in order.

    reset is in seconds. exhausted_wait is the pause, in seconds, when the budget is spent
    and no reset header gives the time left.
    """

    remaining: tuple[str, ...] = ()
    reset: tuple[str, ...] = ()
    exhausted_wait: float = 60.0


class BearerAuth(AuthBase):
    """Authorization: Bearer <token>, for OAuth access tokens."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


@dataclass(frozen=True)
class ApiResponse:
    status: int
    data: Any
    headers: Mapping[str, str]
    url: str


def validated_base_url(url: str) -> str:
    """Return the URL without a trailing slash; raises NotConfigured unless it is HTTPS or
    plain HTTP on a loopback address (a local test server)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/")
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return url.rstrip("/")
    raise NotConfigured(
        f"API base URL {url!r} is invalid; use https:// (plain http only on loopback)."
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read Retry-After as seconds (a number or an HTTP date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ProviderHttp:
    """A requests.Session bound to one provider account's base URL and credentials."""

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        auth: AuthBase | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        rate_limits: RateLimitHeaders | None = None,
        sleep: Callable[[float], None] | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        max_wait: float | None = None,
        backoff: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = validated_base_url(base_url)
        self._origin = _origin(self.base_url)
        self._auth = auth
        self._rate_limits = rate_limits or RateLimitHeaders()
        self._sleep = sleep or time.sleep
        read_timeout = timeout if timeout is not None else settings.PROVIDER_HTTP_TIMEOUT
        self._timeout = (min(5.0, read_timeout), read_timeout)
        self._max_attempts = max(1, max_attempts or settings.PROVIDER_HTTP_MAX_ATTEMPTS)
        self._max_wait = settings.PROVIDER_HTTP_MAX_WAIT if max_wait is None else max_wait
        self._backoff = backoff
        self._clock = clock
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers["Accept"] = "application/json"
        self._session.headers.update(headers or {})
        # Monotonic instant before which no request is sent, set when the budget runs out.
        self._paused_until = 0.0
        self._failures = 0
        self.requests_sent = 0

    # ------------------------------------------------------------ public calls

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> ApiResponse:
        """GET a JSON document; raises ProviderError, also when the response is not JSON."""
        response = self.request("GET", path, params=params)
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(
                f"{self.provider} GET {_path(response.url)} returned {response.status_code} "
                "with a body that is not JSON",
                retryable=True,
                status=response.status_code,
            ) from exc
        return ApiResponse(response.status_code, data, response.headers, response.url)

    def get_bytes(self, url: str, *, max_bytes: int) -> bytes | None:
        """Download a file; None when it is larger than max_bytes. Credentials are sent only
        when the URL is on the base URL's host (vendors hand out pre-signed links elsewhere)."""
        authenticated = _origin(self.absolute_url(url, check_origin=False)) == self._origin
        response = self.request("GET", url, authenticated=authenticated, stream=True)
        chunks: list[bytes] = []
        size = 0
        with response:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > max_bytes:
                    logger.info(
                        "%s attachment %s skipped: larger than %s bytes",
                        self.provider, _path(url), max_bytes,
                    )
                    return None
                chunks.append(chunk)
        return b"".join(chunks)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        authenticated: bool = True,
        stream: bool = False,
    ) -> requests.Response:
        """Send a request, retrying retryable failures; returns a response with status < 400.

        Raises ProviderError when the provider rejects the request, when attempts run out,
        or when the next wait would exceed the cap.
        """
        url = self.absolute_url(path, check_origin=authenticated)
        attempt = 0
        while True:
            attempt += 1
            self._wait_for_budget()
            outcome = self._attempt(method, url, params, json, authenticated, stream)
            if isinstance(outcome, requests.Response):
                return outcome
            error, wait = outcome
            if not error.retryable or attempt >= self._max_attempts:
                raise error
            if wait > self._max_wait:
                error.retry_after = wait
                raise error
            logger.info(
                "%s %s %s: %s; retry %s of %s in %.1f s",
                self.provider, method, _path(url), error, attempt, self._max_attempts - 1, wait,
            )
            self._sleep(wait)
            self._paused_until = 0.0

    def absolute_url(self, path: str, *, check_origin: bool = True) -> str:
        """Resolve a path or a URL the provider returned (a next-page link) against the base.

        With check_origin, raises ProviderError for a URL on another host, so credentials
        never leave the configured account.
        """
        url = urljoin(self.base_url + "/", path.lstrip("/")) if "://" not in path else path
        if check_origin and _origin(url) != self._origin:
            raise ProviderError(
                f"{self.provider} returned a link to another host ({urlsplit(url).hostname}); "
                "credentials are only sent to the configured base URL",
                retryable=False,
            )
        return url

    # ------------------------------------------------------------ internals

    def _attempt(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        json: Any,
        authenticated: bool,
        stream: bool,
    ) -> requests.Response | tuple[ProviderError, float]:
        """Send once; return the response, or the error and the seconds to wait before retrying."""
        self.requests_sent += 1
        try:
            response = self._session.request(
                method,
                url,
                params=params,
                json=json,
                auth=self._auth if authenticated else None,
                timeout=self._timeout,
                stream=stream,
            )
        except requests.Timeout as exc:
            return self._network_error(method, url, "timed out", exc)
        except requests.ConnectionError as exc:
            return self._network_error(method, url, "connection failed", exc)

        if response.status_code < 400:
            self._note_budget(response.headers)
            return response
        error = self._status_error(method, url, response)
        response.close()
        if error.retry_after is None and error.status == 429:
            error.retry_after = _first_number(response.headers, self._rate_limits.reset)
        wait = error.retry_after if error.retry_after is not None else self._backoff_for(url)
        return error, wait

    def _network_error(
        self, method: str, url: str, what: str, exc: Exception
    ) -> tuple[ProviderError, float]:
        error = ProviderError(
            f"{self.provider} {method} {_path(url)} {what} ({type(exc).__name__})", retryable=True
        )
        return error, self._backoff_for(url)

    def _status_error(self, method: str, url: str, response: requests.Response) -> ProviderError:
        status = response.status_code
        hint = _STATUS_HINTS.get(status) or ("server error" if status >= 500 else "rejected")
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s %s returned %s: %.500s",
                self.provider, method, _path(url), status, response.text,
            )
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return ProviderError(
            f"{self.provider} {method} {_path(url)} returned {status} ({hint})",
            retryable=status in RETRYABLE_STATUSES,
            status=status,
            retry_after=retry_after,
        )

    def _backoff_for(self, url: str) -> float:
        # Doubles per consecutive failure of this client: 1, 2, 4 … seconds with backoff=1.
        self._failures += 1
        return float(self._backoff * 2 ** (self._failures - 1))

    def _note_budget(self, headers: Mapping[str, str]) -> None:
        self._failures = 0
        remaining = _first_number(headers, self._rate_limits.remaining)
        if remaining is None or remaining > 0:
            return
        reset = _first_number(headers, self._rate_limits.reset)
        pause = reset if reset is not None else self._rate_limits.exhausted_wait
        self._paused_until = self._clock() + pause
        logger.info(
            "%s rate-limit budget spent; pausing %.0f s before the next call", self.provider, pause
        )

    def _wait_for_budget(self) -> None:
        pause = self._paused_until - self._clock()
        if pause <= 0:
            return
        if pause > self._max_wait:
            raise ProviderError(
                f"{self.provider} rate-limit budget spent for another {pause:.0f} s",
                retryable=True,
                status=429,
                retry_after=pause,
            )
        self._sleep(pause)
        self._paused_until = 0.0


def _first_number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            continue
        try:
            return float(value)
        except ValueError:
            continue
    return None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _path(url: str) -> str:
    """Return the URL's path for log lines, without the query string and its cursors."""
    return urlsplit(url).path or "/"
