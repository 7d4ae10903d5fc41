"""Reads for the public help centre pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch, Q, QuerySet

from faq.models import Article, Category, SlugRedirect

TOP_ARTICLES_PER_CATEGORY = 5
RELATED_LIMIT = 4


def published_articles() -> QuerySet[Article]:
    return Article.objects.filter(published=True).select_related("category")


def listing_articles() -> QuerySet[Article]:
    """Published articles without the heavy body columns, for lists and links."""
    return published_articles().defer(
        "body_markdown", "body_html", "body_text", "search_text", "search_vector"
    )


def categories_with_top_articles(limit: int = TOP_ARTICLES_PER_CATEGORY) -> list[Category]:
    """Return categories with published articles, each with .top_articles and .article_count."""
    categories: list[Category] = list(
        Category.objects.annotate(
            article_count=Count("articles", filter=Q(articles__published=True))
        )
        .filter(article_count__gt=0)
        .order_by("order", "title")
    )
    for category in categories:
        category.top_articles = list(  # type: ignore[attr-defined]
            listing_articles().filter(category=category).order_by("order", "title")[:limit]
        )
    return categories


def category_by_slug(slug: str) -> Category | None:
    return (
        Category.objects.filter(slug=slug)
        .prefetch_related(
            Prefetch(
                "articles", queryset=listing_articles().order_by("order", "title"), to_attr="listed"
            )
        )
        .first()
    )


def all_categories() -> list[Category]:
    return list(
        Category.objects.filter(articles__published=True).distinct().order_by("order", "title")
    )


@dataclass(frozen=True)
class ArticleLookup:
    """An article found by slug, or the slug it moved to."""

    article: Article | None
    redirect_to: Article | None = None


def article_by_slug(slug: str, *, include_unpublished: bool = False) -> ArticleLookup:
    articles = Article.objects.select_related("category")
    if not include_unpublished:
        articles = articles.filter(published=True)
    article = articles.filter(slug=slug).first()
    if article is not None:
        return ArticleLookup(article)
    moved = (
        SlugRedirect.objects.filter(old_slug=slug, article__published=True)
        .select_related("article__category")
        .first()
    )
    return ArticleLookup(None, moved.article if moved else None)


def related_articles(article: Article, limit: int = RELATED_LIMIT) -> list[Article]:
    """Return articles sharing the most tags with this one, same category first on ties."""
    tags = set(article.tags or [])
    candidates = (
        listing_articles()
        .exclude(pk=article.pk)
        .only(
            "id",
            "title",
            "slug",
            "summary",
            "tags",
            "order",
            "category__slug",
            "category__title",
            "category__order",
        )
    )
    scored = []
    for candidate in candidates:
        shared = len(tags.intersection(candidate.tags or []))
        same_category = candidate.category_id == article.category_id
        if shared == 0 and not same_category:
            continue
        scored.append(((-shared, not same_category, candidate.order, candidate.pk), candidate))
    scored.sort(key=lambda pair: pair[0])
    return [candidate for _, candidate in scored[:limit]]


def popular_articles(limit: int = 6) -> list[Article]:
    """Return the articles most often found helpful, then the first of each category."""
    return list(
        listing_articles().order_by("-helpful_yes", "category__order", "order", "pk")[:limit]
    )
