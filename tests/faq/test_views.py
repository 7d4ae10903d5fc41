from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.utils.cache import has_vary_header

from faq import services
from faq.models import Article, SearchMiss, Vote
from integrations.models import InboundItem
from tickets.models import Category as TicketCategory
from tickets.models import Source, Ticket

pytestmark = pytest.mark.django_db

ORIGIN = {"HTTP_ORIGIN": "http://testserver"}
RECEIPTS = "/help/faq/making-donations/donation-receipts"


def contact_data(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Thandi Mokoena",
        "email": "thandi@example.org",
        "category": TicketCategory.PAYMENT.value,
        "message": "I was charged twice for my R500 donation on 3 December.",
        "website": "",
    }
    data.update(overrides)
    return data


def json_ld_items(html: str) -> list[dict]:
    items: list[dict] = []
    for block in re.findall(r'<script type="application/ld\+json">(.*?)</script>', html):
        data = json.loads(block)
        items.extend(data if isinstance(data, list) else [data])
    return items


@pytest.mark.parametrize(
    "path", ["/help/faq", "/help/faq/making-donations", RECEIPTS, "/help/contact"]
)
def test_public_pages_are_publicly_cacheable(client: Client, loaded, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    assert not has_vary_header(response, "Cookie")
    assert not response.cookies
    assert "csrfmiddlewaretoken" not in response.content.decode()


def test_index_lists_categories_in_order(client: Client, loaded) -> None:
    html = client.get("/help/faq").content.decode()

    assert html.index("Getting Started") < html.index("Making Donations")
    assert 'href="/help/faq/making-donations/donation-receipts"' in html
    assert '<link rel="canonical" href="http://127.0.0.1:8000/help/faq">' in html
    assert 'href="#main"' in html
    assert "Pledges" not in html


def test_article_page(client: Client, loaded) -> None:
    html = client.get(RECEIPTS).content.decode()

    assert '<h1 id="article-title">Where do I find my donation receipts?</h1>' in html
    assert '<time datetime="2026-11-20">20 November 2026</time>' in html
    assert (
        '<meta name="description" content="Receipts are e-mailed and kept on your Dashboard.">'
        in html
    )
    assert 'aria-label="Breadcrumb"' in html
    assert 'href="/help/faq/making-donations/refunds"' in html  # related article
    faq_page, breadcrumbs = json_ld_items(html)
    assert faq_page["@type"] == "FAQPage"
    assert faq_page["mainEntity"][0]["name"] == "Where do I find my donation receipts?"
    assert [item["name"] for item in breadcrumbs["itemListElement"]] == [
        "Help centre",
        "Making Donations",
        "Where do I find my donation receipts?",
    ]


def test_article_under_wrong_category_redirects(client: Client, loaded) -> None:
    response = client.get("/help/faq/getting-started/donation-receipts")

    assert response.status_code == 301
    assert response["Location"] == RECEIPTS


def test_old_slug_redirects(client: Client, loaded) -> None:
    article = Article.objects.select_related("category").get(slug="donation-receipts")
    article.slug = "receipts"
    services.save_article(article=article, previous_slug="donation-receipts")

    response = client.get(RECEIPTS)

    assert response.status_code == 301
    assert response["Location"] == "/help/faq/making-donations/receipts"


def test_non_ascii_title_has_working_url(client: Client, loaded) -> None:
    response = client.get("/help/faq/getting-started/so-skenk-jy-cafe-gids")

    assert response.status_code == 200
    assert "Só skenk jy: café-gids" in response.content.decode()


def test_unknown_and_unpublished_pages_are_404(client: Client, loaded) -> None:
    for path in (
        "/help/faq/nowhere",
        "/help/faq/making-donations/nothing",
        "/help/faq/making-donations/pledges",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "We couldn't find that page" in response.content.decode()


def test_staff_see_unpublished_article(admin_client: Client, loaded) -> None:
    response = admin_client.get("/help/faq/making-donations/pledges")

    assert response.status_code == 200
    assert "Draft: only staff can see this article." in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_unexpected_query_is_dropped(client: Client, loaded) -> None:
    response = client.get(RECEIPTS + "?utm_source=mail")

    assert response.status_code == 301
    assert response["Location"] == RECEIPTS


def test_trailing_slash_is_removed(client: Client, loaded) -> None:
    response = client.get("/help/faq/making-donations/")

    assert response.status_code == 301
    assert response["Location"] == "/help/faq/making-donations"


@pytest.mark.parametrize(
    "path", ["/help/faq/a.b", "/help/faq/a.b/", "/help/faq/a/b/c/", "/help/contact/x/"]
)
def test_unknown_path_is_404_not_loop(client: Client, loaded, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path, follow=True)

    assert response.status_code == 404
    assert len(response.redirect_chain) <= 1


def test_help_host_serves_same_pages_at_root(client: Client, loaded, settings) -> None:  # type: ignore[no-untyped-def]
    settings.HELP_CENTRE_HOST = "help.impactlink.org"
    settings.ALLOWED_HOSTS = ["help.impactlink.org", "testserver"]
    host = {"HTTP_HOST": "help.impactlink.org"}
    from django.test import Client as FreshClient

    fresh = FreshClient()  # the host middleware reads the setting when it starts

    root = fresh.get("/", **host)
    article = fresh.get("/faq/making-donations/donation-receipts", **host)
    main_host = fresh.get(RECEIPTS)

    assert root.status_code == 302
    assert root["Location"] == "/faq"
    html = article.content.decode()
    assert article.status_code == 200
    assert 'href="/faq/making-donations/refunds"' in html
    assert "/help/faq" not in html
    assert (
        'rel="canonical" href="http://help.impactlink.org/faq/making-donations/donation-receipts"'
        in html
    )
    assert 'rel="canonical" href="http://help.impactlink.org/faq/' in main_host.content.decode()


def test_search_results_page(client: Client, loaded) -> None:
    response = client.get("/help/faq/search", {"q": "reciept"})
    html = response.content.decode()

    assert response.status_code == 200
    assert 'href="/help/faq/making-donations/donation-receipts"' in html
    assert "<mark>" in html
    assert '<meta name="robots" content="noindex">' in html
    assert SearchMiss.objects.count() == 0


def test_search_without_results_offers_help_and_is_recorded(client: Client, loaded) -> None:
    client.get("/help/faq/search", {"q": "Bitcoin wallet"})
    response = client.get("/help/faq/search", {"q": "bitcoin  WALLET"})
    html = response.content.decode()

    assert "No articles match" in html
    assert "Popular articles" in html
    assert 'action="/help/contact"' in html
    assert SearchMiss.objects.get().query == "bitcoin wallet"
    assert SearchMiss.objects.get().count == 2


def test_search_escapes_the_query(client: Client, loaded) -> None:
    html = client.get("/help/faq/search", {"q": "<script>alert(1)</script>"}).content.decode()

    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_vote_is_counted_once_per_visitor(client: Client, loaded) -> None:
    url = RECEIPTS + "/vote"

    first = client.post(url, {"helpful": "yes"}, **ORIGIN)
    again = client.post(url, {"helpful": "yes"}, **ORIGIN)
    changed = client.post(url, {"helpful": "no"}, **ORIGIN)

    assert first.status_code == 303
    assert first["Location"] == RECEIPTS + "?feedback=thanks#feedback"
    assert first.cookies["hc_visitor"]["httponly"]
    assert first.cookies["hc_visitor"]["samesite"] == "Lax"
    assert "no-store" in first["Cache-Control"]
    assert again.status_code == changed.status_code == 303
    article = Article.objects.get(slug="donation-receipts")
    assert (article.helpful_yes, article.helpful_no) == (0, 1)
    vote = Vote.objects.get()
    assert vote.visitor_hash != client.cookies["hc_visitor"].value
    assert len(vote.visitor_hash) == 64


def test_another_visitor_votes_separately(loaded) -> None:
    for _ in range(2):
        Client().post(RECEIPTS + "/vote", {"helpful": "yes"}, **ORIGIN)

    assert Article.objects.get(slug="donation-receipts").helpful_yes == 2


def test_thanks_page_after_vote(client: Client, loaded) -> None:
    html = client.get(RECEIPTS, {"feedback": "thanks"}).content.decode()

    assert "Thank you for your feedback" in html
    assert "Was this article helpful?" not in html


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "null"},
        {"HTTP_REFERER": "https://evil.example/page"},
    ],
)
def test_vote_from_another_site_is_rejected(
    client: Client, loaded, headers: dict[str, str]
) -> None:
    response = client.post(RECEIPTS + "/vote", {"helpful": "yes"}, **headers)

    assert response.status_code == 403
    assert Vote.objects.count() == 0


def test_vote_with_same_site_referer_is_accepted(client: Client, loaded) -> None:
    response = client.post(
        RECEIPTS + "/vote", {"helpful": "no"}, HTTP_REFERER="http://testserver" + RECEIPTS
    )

    assert response.status_code == 303


def test_vote_needs_an_answer(client: Client, loaded) -> None:
    assert client.post(RECEIPTS + "/vote", {"helpful": "maybe"}, **ORIGIN).status_code == 400


def test_votes_are_rate_limited(loaded) -> None:
    statuses = [
        Client().post(RECEIPTS + "/vote", {"helpful": "yes"}, **ORIGIN).status_code
        for _ in range(31)
    ]

    assert statuses[:30] == [303] * 30
    assert statuses[30] == 429


def test_contact_form_creates_web_ticket(client: Client, loaded) -> None:
    response = client.post("/help/contact", contact_data(), **ORIGIN)

    assert response.status_code == 302
    assert "no-store" in response["Cache-Control"]
    ticket = Ticket.objects.get()
    assert ticket.source == Source.WEB
    assert ticket.category == TicketCategory.PAYMENT
    assert ticket.contact is not None and ticket.contact.email == "thandi@example.org"
    item = InboundItem.objects.get()
    assert item.kind == InboundItem.Kind.WEB_FORM
    assert item.state == InboundItem.State.DONE
    assert item.ticket_id == ticket.pk

    sent = client.get(response["Location"])
    assert (
        f'Your reference is <strong class="reference">IL-{ticket.pk}</strong>'
        in sent.content.decode()
    )
    assert "no-store" in sent["Cache-Control"]


def test_contact_form_sent_twice_files_one_ticket(client: Client, loaded) -> None:
    client.post("/help/contact", contact_data(), **ORIGIN)
    client.post("/help/contact", contact_data(), **ORIGIN)

    assert Ticket.objects.count() == 1
    assert InboundItem.objects.count() == 1


def test_contact_form_honeypot(client: Client, loaded) -> None:
    response = client.post("/help/contact", contact_data(website="http://spam.example"), **ORIGIN)

    assert response.status_code == 400
    assert Ticket.objects.count() == InboundItem.objects.count() == 0


def test_contact_form_errors_are_shown(client: Client, loaded) -> None:
    response = client.post(
        "/help/contact", contact_data(email="not-an-address", message=""), **ORIGIN
    )
    html = response.content.decode()

    assert response.status_code == 400
    assert "Please correct the 2 fields marked below." in html
    assert 'aria-invalid="true"' in html
    assert "Thandi Mokoena" in html


def test_contact_form_checks_origin(client: Client, loaded) -> None:
    response = client.post("/help/contact", contact_data(), HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403
    assert Ticket.objects.count() == 0


def test_contact_form_is_rate_limited(client: Client, loaded) -> None:
    statuses = [
        client.post(
            "/help/contact",
            contact_data(message=f"Message number {n} about my donation."),
            **ORIGIN,
        ).status_code
        for n in range(6)
    ]

    assert statuses == [302] * 5 + [429]
    assert Ticket.objects.count() == 5


def test_forged_sent_token_shows_no_reference(client: Client, loaded) -> None:
    response = client.get("/help/contact/sent/forged-token")

    assert response.status_code == 302
    assert response["Location"] == "/help/contact"


def test_page_cache_is_invalidated_by_a_save(
    client: Client, loaded, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    first = client.get(RECEIPTS).content.decode()
    Article.objects.filter(slug="donation-receipts").update(
        title="Changed behind the services' back"
    )
    cached = client.get(RECEIPTS).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        article = Article.objects.select_related("category").get(slug="donation-receipts")
        article.title = "Receipts, explained"
        services.save_article(article=article)
    fresh = client.get(RECEIPTS).content.decode()

    assert cached == first
    assert "Receipts, explained" in fresh


def test_sitemap_lists_canonical_urls(client: Client, loaded) -> None:
    response = client.get("/sitemap.xml")
    xml = response.content.decode()

    assert response["Content-Type"].startswith("application/xml")
    assert "<loc>http://127.0.0.1:8000/help/faq/making-donations/donation-receipts</loc>" in xml
    assert "<lastmod>2026-11-20</lastmod>" in xml
    assert "pledges" not in xml


def test_robots_txt(client: Client, loaded) -> None:
    text = client.get("/robots.txt").content.decode()

    assert "Disallow: /admin/" in text
    assert "Disallow: /help/faq/search" in text
    assert "Sitemap: http://127.0.0.1:8000/help/sitemap.xml" in text


def test_home_redirects_to_help_centre(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/help/faq"
