from __future__ import annotations

import re
from pathlib import Path

import pytest

from faq.loading import load_content
from faq.models import Article
from tickets.models import Source, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENT = Path(__file__).resolve().parent.parent / "faq" / "content"


@pytest.fixture
def site(live_server) -> str:  # type: ignore[no-untyped-def]
    report = load_content(CONTENT)
    assert report.errors == []
    return f"{live_server.url}/help"


def test_browse_to_an_article(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/faq")
    page.get_by_role("link", name="Making Donations", exact=True).click()
    page.get_by_role("link", name="Where do I find my donation receipts?").click()

    assert page.url.endswith("/help/faq/making-donations/donation-receipts")
    assert (
        page.get_by_role("heading", level=1).inner_text() == "Where do I find my donation receipts?"
    )
    breadcrumb = page.get_by_role("navigation", name="Breadcrumb")
    assert breadcrumb.get_by_role("link", name="Making Donations").is_visible()
    assert page.locator("time").inner_text() == "20 November 2026"


def test_skip_link_is_first_and_visible_on_focus(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/faq")
    page.keyboard.press("Tab")

    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to main content"
    assert page.get_by_role("link", name="Skip to main content").is_visible()


def test_search_without_accents(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/faq")
    page.get_by_role("searchbox", name="Search the help centre").fill("so skenk cafe")
    page.get_by_role("button", name="Search").click()

    result = page.locator(".search-results a").first
    assert "Só skenk jy" in result.inner_text()
    assert page.locator(".search-results mark").count() >= 1
    result.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Só skenk jy: café-gids"


def test_vote_without_javascript_round_trip(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/faq/making-donations/refunds")
    page.get_by_role("button", name="Yes").click()

    assert page.get_by_role("heading", name="Thank you for your feedback").is_visible()
    assert re.search(r"/refunds\?feedback=thanks#feedback$", page.url)
    assert Article.objects.get(slug="refunds").helpful_yes == 1


def test_contact_form_shows_reference(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{site}/contact")
    page.get_by_label("Your name").fill("Sipho Dlamini")
    page.get_by_label("E-mail address").fill("sipho@example.org")
    page.get_by_label("What is it about?").select_option(label="Donation Issues")
    page.get_by_label("Your message").fill(
        "My monthly donation to the food bank did not go through."
    )
    page.get_by_role("button", name="Send message").click()

    reference = page.locator(".reference").inner_text()
    ticket = Ticket.objects.get()
    assert reference == f"IL-{ticket.pk}"
    assert ticket.source == Source.WEB
    assert page.get_by_role("heading", level=1).inner_text() == "Thank you, we have your message"


def test_phone_layout_has_no_sideways_scroll(page, site: str) -> None:  # type: ignore[no-untyped-def]
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/faq", "/faq/technical-issues/error-messages", "/contact"):
        page.goto(site + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, path
