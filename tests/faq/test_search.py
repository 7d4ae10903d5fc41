from __future__ import annotations

import pytest
from django.db import connection

from faq import search, services
from faq.models import Article, Category, SearchMiss

pytestmark = pytest.mark.django_db


def add_article(
    title: str, body: str, *, summary: str = "", tags: list[str] | None = None
) -> Article:
    category, _ = Category.objects.get_or_create(
        slug="making-donations", defaults={"title": "Making Donations"}
    )
    article = Article(
        category=category,
        title=title,
        slug=f"a-{Article.objects.count() + 1}",
        summary=summary,
        tags=tags or [],
        body_markdown=body,
    )
    return services.save_article(article=article)


@pytest.fixture
def corpus(db) -> dict[str, Article]:  # type: ignore[no-untyped-def]
    articles = {
        "receipts": add_article(
            "Where do I find my donation receipts?",
            "Every donation gets a receipt by e-mail. Find older ones on the Dashboard.",
            tags=["receipts"],
        ),
        "refunds": add_article(
            "Can I get a refund?",
            "Ask within 30 days. Your receipt is cancelled when the refund is paid.",
        ),
        "cafe": add_article(
            "Café fundraisers",
            "Bank the cash from a bake sale or braai through your fundraiser page.",
        ),
        "afrikaans": add_article(
            "Só skenk jy",
            "Kies 'n projek. Jy kry 'n kwitansie per e-pos, selfs vir 'n klein skenking.",
        ),
        "hostile": add_article(
            "Script tags in <b>titles</b>",
            "Text about <script>alert(1)</script> sanitising & escaping receipts.",
        ),
    }
    services.refresh_search_terms()
    return articles


def result_ids(query: str) -> list[int]:
    return [hit.article_id for hit in search.search_articles(query).hits]


def fallback_ids(query: str) -> list[int]:
    corrected = search._correct_python(search.query_words(query))
    return [hit.article_id for hit in search._search_python(corrected, 20)]


@pytest.fixture(params=["database", "fallback"])
def find(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The search as this database runs it, and the SQLite fallback (which runs anywhere)."""
    return result_ids if request.param == "database" else fallback_ids


def test_title_match_ranks_above_body_match(corpus, find) -> None:  # type: ignore[no-untyped-def]
    ids = find("receipt")

    assert ids[0] == corpus["receipts"].pk
    assert corpus["refunds"].pk in ids


@pytest.mark.parametrize("query", ["cafe", "CAFÉ", "café fundraiser"])
def test_accents_are_ignored_in_query(corpus, find, query: str) -> None:  # type: ignore[no-untyped-def]
    assert find(query)[:1] == [corpus["cafe"].pk]


def test_accents_are_ignored_in_content(corpus, find) -> None:  # type: ignore[no-untyped-def]
    assert find("so skenk")[:1] == [corpus["afrikaans"].pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("recieipt", "receipts"),
        ("reciept", "receipts"),
        ("refnd", "refunds"),
        ("fundraisr", "cafe"),
        ("kwitansy", "afrikaans"),
    ],
)
def test_small_typos_are_tolerated(corpus, find, query: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert corpus[expected].pk in find(query)


def test_nonsense_finds_nothing(corpus, find) -> None:  # type: ignore[no-untyped-def]
    assert find("xylophone quantum") == []


def test_unpublished_articles_are_not_found(corpus, find) -> None:  # type: ignore[no-untyped-def]
    refunds = corpus["refunds"]
    refunds.published = False
    services.save_article(article=refunds)

    assert refunds.pk not in find("refund")


def test_snippets_are_escaped_and_marked(corpus) -> None:  # type: ignore[no-untyped-def]
    hits = search.search_articles("sanitising").hits

    assert len(hits) == 1
    assert "<script" not in hits[0].snippet_html
    assert "<mark>" in hits[0].snippet_html
    assert "&lt;b&gt;titles&lt;/b&gt;" in hits[0].title_html


def test_fallback_snippets_are_escaped_and_marked(corpus) -> None:  # type: ignore[no-untyped-def]
    hits = search._search_python(("receipt",), 20)
    hostile = next(hit for hit in hits if hit.article_id == corpus["hostile"].pk)

    assert "<script" not in hostile.snippet_html
    assert "<mark>receipts</mark>" in hostile.snippet_html


def test_corrected_words_are_reported(corpus) -> None:  # type: ignore[no-untyped-def]
    results = search.search_articles("recieipt")

    assert results.corrected
    assert results.corrected_words[0].startswith("receipt")


def test_marked_html_never_leaves_an_open_mark() -> None:
    assert search.marked_html(f"a {search.MARK_START}b <i>") == "a b &lt;i&gt;"


def test_postgres_uses_full_text_search(corpus, requires_postgres) -> None:  # type: ignore[no-untyped-def]
    # Stemming: "donating" and "donation" share the English stem "donat".
    assert corpus["receipts"].pk in result_ids("donating")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_tsvector('faq_unaccent', 'Café')::text")
        assert cursor.fetchone()[0] == "'cafe':1"


@pytest.mark.parametrize(
    ("query", "stored"),
    [
        ("  Where   IS my Receipt ", "where is my receipt"),
        ("refund for thandi@example.org", "refund for [e-mail]"),
        ("card 4111 1111 1111 1111 declined", "card [number] declined"),
        ("x" * 300, "x" * 200),
    ],
)
def test_search_miss_is_redacted(query: str, stored: str) -> None:
    services.record_search_miss(query=query)
    services.record_search_miss(query=query)

    miss = SearchMiss.objects.get()
    assert miss.query == stored
    assert miss.count == 2
