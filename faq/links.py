"""Absolute URLs and structured data for the help centre.

The canonical address of every page is on the help centre's own host when
HELP_CENTRE_HOST is set, and under SITE_URL/help/ otherwise; search engines are told so
by canonical links and the sitemap, whichever host served the page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

# JSON inside <script> must not contain "</script>" or an HTML comment opener.
_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


def canonical_base() -> str:
    if settings.HELP_CENTRE_HOST:
        scheme = urlsplit(settings.SITE_URL).scheme or "https"
        return f"{scheme}://{settings.HELP_CENTRE_HOST}"
    return settings.SITE_URL


def canonical_url(name: str, **kwargs: str) -> str:
    urlconf = settings.HELP_CENTRE_URLCONF if settings.HELP_CENTRE_HOST else settings.ROOT_URLCONF
    return canonical_base() + reverse(name, urlconf=urlconf, kwargs=kwargs or None)


def json_ld(data: Any) -> SafeString:
    """Return a <script type="application/ld+json"> element holding data."""
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_ESCAPES)
    return mark_safe(f'<script type="application/ld+json">{encoded}</script>')  # noqa: S308
