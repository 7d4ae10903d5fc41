"""Cached help centre pages and search results, invalidated by a content version.

Every cached entry carries the content version it was made from. Changing any article
or category bumps the version (faq.services calls bump_content_version after the
transaction commits), so older entries stop matching at once without being found and
deleted one by one. The version lives in the Django cache (Redis when REDIS_URL is set),
so every web process sees a bump on its next request.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

VERSION_KEY = "faq:content-version"


def current_version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = _start_version()
    return int(version)


def bump_content_version() -> int:
    """Invalidate every cached page and search result; return the new version."""
    try:
        return int(cache.incr(VERSION_KEY))
    except ValueError:
        return _start_version()


def _start_version() -> int:
    # A clock value, so entries left from before the key was lost (eviction, a restart
    # of a local-memory cache) can never match the new version.
    cache.add(VERSION_KEY, time.time_ns(), timeout=None)
    return int(cache.get(VERSION_KEY) or 0)


def cache_enabled() -> bool:
    return settings.HELP_CENTRE_CACHE_SECONDS > 0


def hashed_key(prefix: str, *parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
    return f"{prefix}:{digest}"


@dataclass(frozen=True)
class VersionedValue:
    version: int
    value: Any


def get_versioned(key: str) -> tuple[Any | None, int]:
    """Return the value cached under key if it is current, and the current version.

    One round trip to the cache fetches both the version and the entry.
    """
    found = cache.get_many([VERSION_KEY, key])
    version = found.get(VERSION_KEY)
    if version is None:
        return None, _start_version()
    entry = found.get(key)
    if isinstance(entry, VersionedValue) and entry.version == version:
        return entry.value, int(version)
    return None, int(version)


def set_versioned(key: str, value: Any, *, version: int) -> None:
    cache.set(key, VersionedValue(version, value), timeout=settings.HELP_CENTRE_CACHE_SECONDS)
