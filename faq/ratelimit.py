"""Fixed-window rate limits kept in the Django cache (shared across processes with Redis)."""

from __future__ import annotations

import time

from django.core.cache import cache


def allow(
    scope: str, key: str, *, limit: int, window_seconds: int, now: float | None = None
) -> bool:
    """Count one request of key in scope; return False once limit is passed in this window."""
    window = int((time.time() if now is None else now) // window_seconds)
    cache_key = f"faq:rate:{scope}:{key}:{window}"
    if cache.add(cache_key, 1, timeout=window_seconds + 5):
        return True
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # The entry expired between add and incr: this request starts a new count.
        cache.set(cache_key, 1, timeout=window_seconds + 5)
        return True
    return int(count) <= limit
