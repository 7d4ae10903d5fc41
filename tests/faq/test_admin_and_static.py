from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from faq.loading import load_content
from faq.models import Article
from faq.services import record_search_miss

pytestmark = pytest.mark.django_db


def article_form(article: Article, **changes: str) -> dict[str, str]:
    data = {
        "title": article.title,
        "slug": article.slug,
        "category": str(article.category_id),
        "order": str(article.order),
        "published": "on" if article.published else "",
        "updated_on": article.updated_on.isoformat(),
        "summary": article.summary,
        "tags": '["receipts", "donations"]',
        "body_markdown": article.body_markdown.replace("\n", "\r\n"),
        "old_slugs-TOTAL_FORMS": "0",
        "old_slugs-INITIAL_FORMS": "0",
        "old_slugs-MIN_NUM_FORMS": "0",
        "old_slugs-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_admin_edit_renders_new_version(admin_client: Client, loaded, content_dir: Path) -> None:
    article = Article.objects.get(slug="donation-receipts")
    url = f"/admin/faq/article/{article.pk}/change/"

    response = admin_client.post(
        url, article_form(article, body_markdown="New **text** <script>x()</script>")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    article.refresh_from_db()
    assert article.version == 2
    assert article.body_html == "<p>New <strong>text</strong> </p>"
    assert load_content(content_dir).kept_admin_edits == ["making-donations/donation-receipts.md"]


def test_admin_adds_article(admin_client: Client, loaded) -> None:
    template = Article.objects.get(slug="refunds")
    add_page = admin_client.get("/admin/faq/article/add/")

    response = admin_client.post(
        "/admin/faq/article/add/",
        article_form(
            template, title="Gift cards", slug="gift-cards", body_markdown="Coming *soon*."
        ),
    )

    assert add_page.status_code == 200
    assert response.status_code == 302
    article = Article.objects.get(slug="gift-cards")
    assert article.body_html == "<p>Coming <em>soon</em>.</p>"
    assert article.source_path == ""
    assert Client().get("/help/faq/making-donations/gift-cards").status_code == 200


def test_admin_slug_change_keeps_old_url(admin_client: Client, loaded) -> None:
    article = Article.objects.get(slug="donation-receipts")

    admin_client.post(
        f"/admin/faq/article/{article.pk}/change/", article_form(article, slug="receipts")
    )

    assert Client().get("/help/faq/making-donations/donation-receipts").status_code == 301


def test_admin_change_page_shows_preview(admin_client: Client, loaded) -> None:
    article = Article.objects.get(slug="donation-receipts")

    html = admin_client.get(f"/admin/faq/article/{article.pk}/change/").content.decode()

    assert 'class="faq-preview prose"' in html
    assert "<table>" in html


def test_admin_preview_is_sanitised(admin_client: Client) -> None:
    response = admin_client.post(
        "/admin/faq/article/preview/",
        {"body_markdown": "# Hi\n\n[x](javascript:alert(1)) <img src=x onerror=y>"},
    )

    assert (
        response.json()["html"]
        == '<h2>Hi</h2>\n<p><a rel="noopener noreferrer">x</a> <img src="x"></p>'
    )


def test_admin_preview_needs_staff(client: Client) -> None:
    response = client.post("/admin/faq/article/preview/", {"body_markdown": "x"})

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_lists_votes_and_misses(admin_client: Client, loaded) -> None:
    record_search_miss(query="bitcoin")
    record_search_miss(query="bitcoin")

    articles = admin_client.get("/admin/faq/article/").content.decode()
    misses = admin_client.get("/admin/faq/searchmiss/").content.decode()

    assert "Helpful yes" in articles
    assert "bitcoin" in misses
    assert "/help/faq/search?q=bitcoin" in misses
    assert re.search(r'<td class="field-count">2</td>', misses)


def test_collectstatic_serves_hashed_compressed_files(loaded, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.STATIC_ROOT = tmp_path / "collected"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--no-input", "-v", "0")
    client = Client()  # WhiteNoise indexes STATIC_ROOT when the middleware starts

    html = client.get("/help/faq").content.decode()
    css_url = re.search(r'href="(/static/faq/help\.[0-9a-f]{12}\.css)"', html)
    assert css_url is not None, html[:600]
    plain = client.get(css_url.group(1))
    brotli = client.get(css_url.group(1), HTTP_ACCEPT_ENCODING="br, gzip")
    gzip = client.get(css_url.group(1), HTTP_ACCEPT_ENCODING="gzip")

    assert plain.status_code == 200
    assert "immutable" in plain["Cache-Control"]
    assert int(re.search(r"max-age=(\d+)", plain["Cache-Control"]).group(1)) >= 365 * 24 * 3600
    assert brotli["Content-Encoding"] == "br"
    assert gzip["Content-Encoding"] == "gzip"
