"""Every write to help centre content: articles, categories, votes and search misses.

Admin and load_faq both save articles through save_article, which renders the Markdown
for the new version, refreshes the search columns, keeps old slugs as redirects and
invalidates cached pages after the transaction commits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.utils import timezone

from faq import cache as content_cache
from faq.models import Article, Category, SearchMiss, SearchTerm, SlugRedirect, Vote
from faq.rendering import html_to_text, render_markdown
from faq.text import fold, words

logger = logging.getLogger(__name__)

# Text search configuration made by the faq migrations: English stemming after unaccent.
SEARCH_CONFIG = "faq_unaccent"
_MAX_MISS_LENGTH = 200
_EMAIL = re.compile(r"\S+@\S+")
_LONG_NUMBER = re.compile(r"\d[\d -]{5,}\d")


def normalise_markdown(source: str) -> str:
    """Return Markdown with LF line ends and no trailing blank lines.

    The loader and the admin form both store this form, because browsers submit text
    areas with CRLF line ends."""
    return source.replace("\r\n", "\n").replace("\r", "\n").strip() + "\n"


def article_content_hash(fields: dict[str, Any]) -> str:
    """Return the SHA-256 of an article's editable fields, the same for file and database."""
    canonical = {
        "title": fields["title"].strip(),
        "slug": fields["slug"],
        "category": fields["category"],
        "order": int(fields["order"]),
        "summary": fields["summary"].strip(),
        "tags": [str(tag) for tag in fields["tags"]],
        "updated_on": str(fields["updated_on"]),
        "published": bool(fields["published"]),
        "body": normalise_markdown(fields["body_markdown"]),
    }
    encoded = json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()


def article_fields(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "slug": article.slug,
        "category": article.category.slug,
        "order": article.order,
        "summary": article.summary,
        "tags": list(article.tags or []),
        "updated_on": article.updated_on,
        "published": article.published,
        "body_markdown": article.body_markdown,
    }


def category_content_hash(*, slug: str, title: str, order: int, description: str) -> str:
    canonical = [slug, title.strip(), int(order), description.strip()]
    return hashlib.sha256(json.dumps(canonical, ensure_ascii=False).encode()).hexdigest()


def category_fields_hash(category: Category) -> str:
    return category_content_hash(
        slug=category.slug,
        title=category.title,
        order=category.order,
        description=category.description,
    )


@transaction.atomic
def save_article(
    *, article: Article, previous_slug: str = "", refresh_terms: bool = True
) -> Article:
    """Save an article as a new version: render, index for search, keep the old slug.

    previous_slug is the slug the article had before this change, if any.
    """
    article.body_markdown = normalise_markdown(article.body_markdown)
    article.tags = [str(tag).strip() for tag in (article.tags or []) if str(tag).strip()]
    article.body_html = render_markdown(article.body_markdown)
    article.body_text = html_to_text(article.body_html)
    article.search_text = fold(
        " ".join([article.title, article.summary, " ".join(article.tags), article.body_text])
    )
    article.modified_at = timezone.now()
    if article.pk is not None:
        article.version = (
            Article.objects.filter(pk=article.pk).values_list("version", flat=True).first() or 0
        ) + 1
    article.save()

    SlugRedirect.objects.filter(old_slug=article.slug).delete()
    if previous_slug and previous_slug != article.slug:
        SlugRedirect.objects.update_or_create(old_slug=previous_slug, defaults={"article": article})
        SlugRedirect.objects.filter(article=article, old_slug=article.slug).delete()

    _index_article(article)
    if refresh_terms:
        refresh_search_terms()
    invalidate_content_cache()
    logger.debug(
        "faq article %s saved as version %s (%s)", article.pk, article.version, article.slug
    )
    return article


@transaction.atomic
def delete_article(*, article: Article) -> None:
    article_id = article.pk
    article.delete()
    refresh_search_terms()
    invalidate_content_cache()
    logger.info("faq article %s deleted", article_id)


def save_category(*, category: Category) -> Category:
    category.save()
    invalidate_content_cache()
    return category


def invalidate_content_cache() -> None:
    """Bump the content version once the surrounding transaction commits."""
    transaction.on_commit(content_cache.bump_content_version)


def _index_article(article: Article) -> None:
    if connection.vendor != "postgresql":
        return
    secondary = " ".join([article.summary, *article.tags])
    vector = (
        SearchVector(Value(article.title), weight="A", config=SEARCH_CONFIG)
        + SearchVector(Value(secondary), weight="B", config=SEARCH_CONFIG)
        + SearchVector(Value(article.body_text), weight="C", config=SEARCH_CONFIG)
    )
    Article.objects.filter(pk=article.pk).update(search_vector=vector)


def refresh_search_terms() -> None:
    """Rebuild the vocabulary that misspelt search words are corrected against."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM faq_searchterm")
            cursor.execute(
                """
                INSERT INTO faq_searchterm (word, documents)
                SELECT word, ndoc FROM ts_stat(
                    'SELECT to_tsvector(''simple'', unaccent(title || '' '' || summary || '' ''
                     || body_text)) FROM faq_article WHERE published'
                ) WHERE length(word) BETWEEN 3 AND 64
                """
            )
            # Fresh statistics let the planner use the trigram index on the new rows.
            cursor.execute("ANALYZE faq_searchterm")
        return

    documents: dict[str, int] = {}
    for text in Article.objects.filter(published=True).values_list("search_text", flat=True):
        for word in set(words(text)):
            if 3 <= len(word) <= 64:
                documents[word] = documents.get(word, 0) + 1
    SearchTerm.objects.all().delete()
    SearchTerm.objects.bulk_create(
        [SearchTerm(word=word, documents=count) for word, count in documents.items()],
        batch_size=1000,
    )


@dataclass(frozen=True)
class VoteOutcome:
    """Result of a vote: "recorded", "changed" or "unchanged" (the same vote again)."""

    outcome: str
    vote: Vote


@transaction.atomic
def record_vote(*, article: Article, visitor_hash: str, helpful: bool) -> VoteOutcome:
    """Record one visitor's vote; a different second vote replaces it and moves the count."""
    now = timezone.now()
    try:
        with transaction.atomic():
            vote = Vote.objects.create(
                article=article,
                visitor_hash=visitor_hash,
                helpful=helpful,
                created_at=now,
                changed_at=now,
            )
    except IntegrityError:
        vote = Vote.objects.select_for_update().get(article=article, visitor_hash=visitor_hash)
        if vote.helpful == helpful:
            return VoteOutcome("unchanged", vote)
        vote.helpful = helpful
        vote.changed_at = now
        vote.save(update_fields=["helpful", "changed_at"])
        _move_count(article, helpful=helpful, delta=1)
        _move_count(article, helpful=not helpful, delta=-1)
        return VoteOutcome("changed", vote)
    _move_count(article, helpful=helpful, delta=1)
    return VoteOutcome("recorded", vote)


def _move_count(article: Article, *, helpful: bool, delta: int) -> None:
    field = "helpful_yes" if helpful else "helpful_no"
    Article.objects.filter(pk=article.pk).update(**{field: F(field) + delta})


def redact_query(query: str) -> str:
    """Return a search query without e-mail addresses or long numbers (card, ID, phone),
    folded and with single spaces, as it is stored for the editors."""
    redacted = _EMAIL.sub("[e-mail]", query)
    redacted = _LONG_NUMBER.sub("[number]", redacted)
    return " ".join(redacted.lower().split())[:_MAX_MISS_LENGTH]


def record_search_miss(*, query: str) -> None:
    """Count a search that found nothing."""
    stored = redact_query(query)
    if not stored:
        return
    now = timezone.now()
    updated = SearchMiss.objects.filter(query=stored).update(count=F("count") + 1, last_seen_at=now)
    if updated:
        return
    try:
        with transaction.atomic():
            SearchMiss.objects.create(query=stored, count=1, first_seen_at=now, last_seen_at=now)
    except IntegrityError:
        SearchMiss.objects.filter(query=stored).update(count=F("count") + 1, last_seen_at=now)
