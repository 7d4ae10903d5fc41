"""HTTP details of the public help centre: caching headers, visitor keys and origin checks.

Public pages carry no per-visitor data, so they are cacheable by browsers, proxies and
the page cache (faq.middleware). The vote and contact forms therefore carry no CSRF token.
Their POST endpoints are exempt from Django's token check. Instead they require an Origin
(or, failing that, a Referer) of this site, which a browser on another site cannot forge,
and a rate limit applies. The contact form also has a honeypot field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control

from faq.middleware import CACHEABLE_ATTRIBUTE

PUBLIC_MAX_AGE = 300
VISITOR_COOKIE = "hc_visitor"
VISITOR_COOKIE_MAX_AGE = 365 * 24 * 3600


def public_page(response: HttpResponse) -> HttpResponse:
    """Mark a response as the same for every visitor: cacheable for five minutes."""
    patch_cache_control(response, public=True, max_age=PUBLIC_MAX_AGE)
    setattr(response, CACHEABLE_ATTRIBUTE, True)
    return response


def private_page(response: HttpResponse) -> HttpResponse:
    """Mark a response as never to be stored: POST results and per-visitor pages."""
    patch_cache_control(response, private=True, no_store=True)
    return response


def _keyed_hash(purpose: str, value: str) -> str:
    key = f"faq:{purpose}:{settings.SECRET_KEY}".encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def client_key(request: HttpRequest) -> str:
    """Return a keyed hash of the client address, for rate limits; the address is not kept.

    NOTE: behind a reverse proxy every request comes from the proxy's address, so the
    limits then apply to all visitors together until the proxy's forwarded address is used.
    """
    return _keyed_hash("client", request.META.get("REMOTE_ADDR", ""))


def visitor_token(request: HttpRequest) -> tuple[str, bool]:
    """Return the visitor cookie's value, or a new one, and whether it is new."""
    token = request.COOKIES.get(VISITOR_COOKIE, "")
    if 16 <= len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum():
        return token, False
    return secrets.token_urlsafe(18), True


def visitor_hash(token: str) -> str:
    """Return the stored form of a visitor token: it tells votes apart and names no one."""
    return _keyed_hash("visitor", token)


def set_visitor_cookie(response: HttpResponse, token: str) -> None:
    response.set_cookie(
        VISITOR_COOKIE,
        token,
        max_age=VISITOR_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def is_same_origin(request: HttpRequest) -> bool:
    """Check that a form POST came from a page of this site (or a CSRF trusted origin)."""
    allowed = {f"{request.scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin in allowed
    referer = request.headers.get("Referer")
    if not referer:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" in allowed
