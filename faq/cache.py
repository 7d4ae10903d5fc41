"""Cached help centre pages and search results, invalidated by a content version.

Every cached entry carries the content version it was made from. Changing any article
or category bumps the version (faq.services calls bump_content_version after the
transaction commits), so older entries stop matching at once without being found and
deleted one by one. The version lives in the Django cache (Redis when REDIS_URL is set),
so every web process reads a bump on its next request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
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


# Each process also keeps recent entries in memory, so a hit costs one small GET of the
# version instead of fetching and unpickling the whole page from Redis.
LOCAL_ENTRIES = 1000
_local: OrderedDict[str, VersionedValue] = OrderedDict()
_local_lock = threading.Lock()


def get_versioned(key: str) -> tuple[Any | None, int]:
    """Return the value cached under key if it is current, and the current version."""
    version = cache.get(VERSION_KEY)
    if version is None:
        return None, _start_version()
    with _local_lock:
        local = _local.get(key)
        if local is not None and local.version == version:
            _local.move_to_end(key)
            return local.value, int(version)
    entry = cache.get(key)
    if isinstance(entry, VersionedValue) and entry.version == version:
        _remember(key, entry)
        return entry.value, int(version)
    return None, int(version)


def set_versioned(key: str, value: Any, *, version: int) -> None:
    entry = VersionedValue(version, value)
    cache.set(key, entry, timeout=settings.HELP_CENTRE_CACHE_SECONDS)
    _remember(key, entry)


def _remember(key: str, entry: VersionedValue) -> None:
    with _local_lock:
        _local[key] = entry
        _local.move_to_end(key)
        while len(_local) > LOCAL_ENTRIES:
            _local.popitem(last=False)
