"""Help centre content: categories, articles, old slugs, votes and unanswered searches.

Articles are written through faq.services, which renders the Markdown once per version,
refreshes the search columns and invalidates cached pages.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone


class Category(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    # Content hash of the categories.yaml entry last loaded; see Article.loaded_hash.
    loaded_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["order", "title"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.title


class Article(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="articles")
    title = models.CharField(max_length=200)
    # Unique across categories, so an article keeps its URL identity when it moves.
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    body_markdown = models.TextField()
    tags = models.JSONField(default=list, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    published = models.BooleanField(default=True)
    # The date shown to readers as "Last updated"; the editors' date, not the save time.
    updated_on = models.DateField(default=timezone.localdate)

    # Derived by faq.services on every save; never edited directly.
    version = models.PositiveIntegerField(default=1)
    body_html = models.TextField(blank=True, editable=False)
    body_text = models.TextField(blank=True, editable=False)
    # Title, summary, tags and body folded to unaccented lower case, for the SQLite search.
    search_text = models.TextField(blank=True, editable=False)
    search_vector = SearchVectorField(null=True, editable=False)

    # Content file this article was loaded from, relative to faq/content, and the content
    # hash of that load. A different hash of the current fields means an editor changed the
    # article in admin since, and load_faq must not overwrite it.
    source_path = models.CharField(max_length=300, blank=True, editable=False)
    loaded_hash = models.CharField(max_length=64, blank=True, editable=False)

    helpful_yes = models.PositiveIntegerField(default=0, editable=False)
    helpful_no = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    modified_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["category__order", "order", "title"]
        indexes = [
            models.Index(fields=["category", "published", "order"], name="faq_article_listing_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class SlugRedirect(models.Model):
    """A slug an article used to have; its old URL redirects to the current one."""

    old_slug = models.SlugField(max_length=200, unique=True)
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="old_slugs")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.old_slug} → {self.article.slug}"


class Vote(models.Model):
    """One visitor's answer to "Was this helpful?" on one article.

    visitor_hash is an HMAC of a random cookie value: it tells repeat votes apart and
    identifies no one.
    """

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    visitor_hash = models.CharField(max_length=64)
    helpful = models.BooleanField()
    created_at = models.DateTimeField(default=timezone.now)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "visitor_hash"], name="faq_vote_once_per_visitor"
            )
        ]

    def __str__(self) -> str:
        return f"{'yes' if self.helpful else 'no'} on {self.article_id}"


class SearchMiss(models.Model):
    """A search that found nothing, with how often it was made; a list for the editors."""

    query = models.CharField(max_length=200, unique=True)
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "search without results"
        verbose_name_plural = "searches without results"
        ordering = ["-count", "-last_seen_at"]

    def __str__(self) -> str:
        return self.query


class SearchTerm(models.Model):
    """A word of the published articles, folded to unaccented lower case.

    PostgreSQL search corrects misspelt query words to the nearest of these terms by
    trigram similarity.
    """

    word = models.CharField(max_length=64, primary_key=True)
    documents = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return self.word
