"""Category hints from desk tags and form fields, read by the categoriser before the text.

A tag that names one of our categories becomes `category:<value>`, which
tickets.services.decide_category takes as the sender's choice. Every tag and field value is
also passed as `tag:<name>` or `field:<name>=<value>`, so the categoriser's own hint table can
read the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from tickets.models import Category

logger = logging.getLogger(__name__)

# Desk tags (lower case) that name a category. A connection's config "tag_categories" adds to
# these or overrides them, e.g. {"vip_refund": "payment_issues"}.
DEFAULT_TAG_CATEGORIES: dict[str, str] = {
    "payments": Category.PAYMENT,
    "payment": Category.PAYMENT,
    "refund": Category.PAYMENT,
    "billing": Category.PAYMENT,
    "donation": Category.DONATION,
    "donations": Category.DONATION,
    "recurring_donation": Category.DONATION,
    "receipt": Category.DONATION,
    "tax_certificate": Category.DONATION,
    "section_18a": Category.DONATION,
    "charity": Category.CHARITY,
    "charities": Category.CHARITY,
    "npo": Category.CHARITY,
    "account": Category.ACCOUNT,
    "login": Category.ACCOUNT,
    "password": Category.ACCOUNT,
    "technical": Category.TECHNICAL,
    "bug": Category.TECHNICAL,
}


def tag_categories(config: Mapping[str, object]) -> dict[str, str]:
    """Return the default table merged with the connection's overrides, skipping invalid values."""
    table = dict(DEFAULT_TAG_CATEGORIES)
    overrides = config.get("tag_categories") or {}
    if not isinstance(overrides, Mapping):
        logger.warning(
            "config tag_categories ignored: expected an object, got %s", type(overrides).__name__
        )
        return table
    for tag, category in overrides.items():
        if category in Category.values:
            table[str(tag).lower()] = str(category)
        else:
            logger.warning("config tag_categories[%r] = %r ignored: not a category", tag, category)
    return table


def category_hints(
    *,
    tags: Iterable[str],
    fields: Iterable[tuple[str, object]] = (),
    table: Mapping[str, str] = DEFAULT_TAG_CATEGORIES,
) -> tuple[str, ...]:
    """Return hints, most specific first: mapped tags, then raw tags, then field values."""
    tags = [tag for tag in tags if tag]
    named = [f"category:{table[tag.lower()]}" for tag in tags if tag.lower() in table]
    raw = [f"tag:{tag}" for tag in tags]
    field_hints = [
        f"field:{name}={value}"
        for name, value in fields
        if value not in (None, "", [], False) and not isinstance(value, dict | list)
    ]
    return tuple(dict.fromkeys([*named, *raw, *field_hints]))
