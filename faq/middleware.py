"""Serves cached help centre pages before the session, CSRF and auth middleware run.

A view opts a response in with faq.http.public_page. This middleware stores such a
response once the inner middleware has added its headers, and answers the next GET of
the same URL from the cache while the content version is unchanged (faq.cache). Only
responses without cookies and without Vary: Cookie are stored, so a cached page is the
same for every visitor.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from faq import cache as page_cache

CACHEABLE_ATTRIBUTE = "help_centre_cacheable"
_SKIPPED_HEADERS = {"set-cookie", "x-request-id"}


class PageCacheMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._main_prefix: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = self._key(request) if request.method == "GET" and page_cache.cache_enabled() else None
        version = 0
        if key is not None:
            cached, version = page_cache.get_versioned(key)
            if cached is not None:
                return _response_from(cached)

        response = self.get_response(request)

        if key is not None and _storable(response):
            page_cache.set_versioned(key, _snapshot(response), version=version)
        return response

    def _key(self, request: HttpRequest) -> str | None:
        # Only URLs without a query string are stored: searches must reach their view, and
        # arbitrary query strings must not fill the cache.
        if request.META.get("QUERY_STRING"):
            return None
        urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
        if urlconf == settings.ROOT_URLCONF and not request.path.startswith(self._help_prefix()):
            return None
        return page_cache.hashed_key("faq:page", str(urlconf), request.path)

    def _help_prefix(self) -> str:
        if self._main_prefix is None:
            self._main_prefix = reverse("faq:root", urlconf=settings.ROOT_URLCONF)
        return self._main_prefix


def _storable(response: HttpResponse) -> bool:
    return (
        getattr(response, CACHEABLE_ATTRIBUTE, False)
        and response.status_code == 200
        and not response.streaming
        and not response.cookies
        and "cookie" not in response.get("Vary", "").lower()
    )


def _snapshot(response: HttpResponse) -> tuple[bytes, list[tuple[str, str]]]:
    headers = [
        (name, value) for name, value in response.items() if name.lower() not in _SKIPPED_HEADERS
    ]
    return response.content, headers


def _response_from(snapshot: tuple[bytes, list[tuple[str, str]]]) -> HttpResponse:
    content, headers = snapshot
    response = HttpResponse(content)
    for name, value in headers:
        response[name] = value
    return response
