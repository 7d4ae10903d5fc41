"""Public help centre pages. Views validate input and call one selector or service.

Links are reversed with the request's URLconf (set by HelpCentreHostMiddleware), so the
same views serve /help/… on the main host and the root of the help centre's own host.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from faq import cache as content_cache
from faq import http, ratelimit, selectors, services
from faq.forms import ContactForm
from faq.links import canonical_url, json_ld
from faq.models import Article
from faq.search import search_articles
from integrations.webform import submit_contact_form

logger = logging.getLogger(__name__)

CONTACT_LIMIT = (5, 3600)  # submissions per client address per hour
VOTE_LIMIT = (30, 600)  # votes per client address per ten minutes
MISS_LIMIT = (30, 60)  # recorded searches without results per client address per minute
CONTACT_TOKEN_SALT = "faq.contact-sent"  # noqa: S105 - a signing namespace, not a secret
CONTACT_TOKEN_MAX_AGE = 24 * 3600
MAX_QUERY_LENGTH = 200


@require_safe
def root(request: HttpRequest) -> HttpResponse:
    return redirect("faq:index")


@require_safe
def strip_trailing_slash(request: HttpRequest, path: str) -> HttpResponse:
    # Redirect only to a page that exists: CommonMiddleware appends a slash to unknown
    # paths, and bouncing those back would loop between the two forms for ever.
    try:
        match = resolve(request.path_info.rstrip("/"), urlconf=getattr(request, "urlconf", None))
    except Resolver404:
        raise Http404("No help centre page at this address.") from None
    if match.func is strip_trailing_slash:
        raise Http404("No help centre page at this address.")
    query = request.META.get("QUERY_STRING", "")
    target = request.path.rstrip("/") + (f"?{query}" if query else "")
    return HttpResponseRedirect(target, status=301)


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    categories = selectors.categories_with_top_articles()
    context = {
        "categories": categories,
        "canonical": canonical_url("faq:index"),
        "meta_description": "Answers about donating, charity and corporate accounts, payments, "
        "security and privacy on ImpactLink, South Africa's giving platform.",
    }
    return _public(request, "faq/index.html", context)


@require_safe
def category(request: HttpRequest, category: str) -> HttpResponse:
    found = selectors.category_by_slug(category)
    if found is None or not found.listed:  # type: ignore[attr-defined]
        return _not_found(request)
    canonical = canonical_url("faq:category", category=found.slug)
    context = {
        "category": found,
        "articles": found.listed,  # type: ignore[attr-defined]
        "canonical": canonical,
        "meta_description": found.description,
        "json_ld": json_ld(_breadcrumb_data([(found.title, canonical)])),
    }
    return _public(request, "faq/category.html", context)


@require_safe
def article(request: HttpRequest, category: str, slug: str) -> HttpResponse:
    lookup = selectors.article_by_slug(slug)
    if lookup.article is None and lookup.redirect_to is None:
        return _draft_preview_or_404(request, slug)
    current = lookup.article or lookup.redirect_to
    assert current is not None
    if lookup.redirect_to is not None or current.category.slug != category:
        return HttpResponseRedirect(_article_path(current), status=301)

    feedback = request.GET.get("feedback", "")
    if request.GET and set(request.GET) != {"feedback"} or feedback not in ("", "thanks"):
        return HttpResponseRedirect(_article_path(current), status=301)
    response = _render_article(request, current, feedback_sent=feedback == "thanks")
    return http.public_page(response)


def _render_article(request: HttpRequest, current: Article, *, feedback_sent: bool) -> HttpResponse:
    canonical = canonical_url("faq:article", category=current.category.slug, slug=current.slug)
    category_url = canonical_url("faq:category", category=current.category.slug)
    structured = [
        {
            "@context": "https://schema.org",
            "@type": "FAQPage",
            "mainEntity": [
                {
                    "@type": "Question",
                    "name": current.title,
                    "acceptedAnswer": {"@type": "Answer", "text": current.body_html},
                }
            ],
        },
        _breadcrumb_data([(current.category.title, category_url), (current.title, canonical)]),
    ]
    context = {
        "article": current,
        "related": selectors.related_articles(current),
        "canonical": canonical,
        "meta_description": current.summary,
        "json_ld": json_ld(structured),
        "feedback_sent": feedback_sent,
    }
    return render(request, "faq/article.html", context)


def _draft_preview_or_404(request: HttpRequest, slug: str) -> HttpResponse:
    # Only an unpublished slug reaches the session, so published pages stay cookie-free.
    draft = Article.objects.filter(slug=slug, published=False).select_related("category").first()
    if draft is not None and request.user.is_staff:
        response = _render_article(request, draft, feedback_sent=False)
        return http.private_page(response)
    return _not_found(request)


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:MAX_QUERY_LENGTH].strip()
    if set(request.GET) - {"q"}:
        return redirect(f"{reverse('faq:search')}?{_query_string(query)}")

    # The whole page is cached per query, but outside the page cache middleware, because
    # every search that finds nothing must still reach record_search_miss.
    urlconf = str(getattr(request, "urlconf", None) or settings.ROOT_URLCONF)
    key = content_cache.hashed_key("faq:search-page", urlconf, query)
    cached, version = None, 0
    if content_cache.cache_enabled():
        cached, version = content_cache.get_versioned(key)
    if cached is not None:
        html, found = cached
    else:
        html, found = _render_search(request, query)
        if content_cache.cache_enabled():
            content_cache.set_versioned(key, (html, found), version=version)

    if query and not found and _may_record_miss(request):
        services.record_search_miss(query=query)
    response = HttpResponse(html)
    patch_cache_control(response, public=True, max_age=http.PUBLIC_MAX_AGE)
    return response


def _render_search(request: HttpRequest, query: str) -> tuple[bytes, bool]:
    results = search_articles(query) if query else None
    nothing_found = results is not None and not results.hits
    context: dict[str, Any] = {
        "query": query,
        "results": results,
        "popular": selectors.popular_articles() if nothing_found else [],
        "form": ContactForm() if nothing_found else None,
        "canonical": canonical_url("faq:search"),
        "meta_description": "Search the ImpactLink help centre.",
        "noindex": True,
    }
    return render(request, "faq/search.html", context).content, not nothing_found


def _may_record_miss(request: HttpRequest) -> bool:
    limit, window = MISS_LIMIT
    return ratelimit.allow("miss", http.client_key(request), limit=limit, window_seconds=window)


def _query_string(query: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": query})


@csrf_exempt
@require_POST
def vote(request: HttpRequest, category: str, slug: str) -> HttpResponse:
    lookup = selectors.article_by_slug(slug)
    current = lookup.article
    if current is None:
        return _not_found(request)
    if not http.is_same_origin(request):
        return _forbidden(
            request, "Your vote could not be checked. Open the article and try again."
        )
    answer = request.POST.get("helpful")
    if answer not in ("yes", "no"):
        return _bad_request(request, "Choose Yes or No to say whether the article helped.")
    limit, window = VOTE_LIMIT
    if not ratelimit.allow("vote", http.client_key(request), limit=limit, window_seconds=window):
        return _too_many(
            request, "You have sent many votes in a short time. Try again in a few minutes."
        )

    token, new_token = http.visitor_token(request)
    services.record_vote(
        article=current, visitor_hash=http.visitor_hash(token), helpful=answer == "yes"
    )
    response = HttpResponseRedirect(
        f"{_article_path(current)}?feedback=thanks#feedback", status=303
    )
    if new_token:
        http.set_visitor_cookie(response, token)
    return http.private_page(response)


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def contact(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        context = {
            "form": ContactForm(),
            "canonical": canonical_url("faq:contact"),
            "meta_description": "Send the ImpactLink support team a message. We reply by e-mail.",
        }
        return _public(request, "faq/contact.html", context)

    if not http.is_same_origin(request):
        return _forbidden(
            request, "Your message could not be checked. Open the contact page and send it again."
        )
    form = ContactForm(request.POST)
    if not form.is_valid():
        if form.has_error("website"):
            logger.info("help centre contact form rejected: honeypot field filled")
        return http.private_page(
            render(request, "faq/contact.html", {"form": form, "noindex": True}, status=400)
        )
    limit, window = CONTACT_LIMIT
    if not ratelimit.allow("contact", http.client_key(request), limit=limit, window_seconds=window):
        return _too_many(
            request,
            "You have sent several messages in the last hour. Please wait, or e-mail "
            f"{settings.SUPPORT_ADDRESS}.",
        )

    submission = submit_contact_form(
        name=form.cleaned_data["name"],
        email=form.cleaned_data["email"],
        category=form.cleaned_data["category"],
        message=form.cleaned_data["message"],
    )
    token = signing.dumps({"item": submission.item_id}, salt=CONTACT_TOKEN_SALT)
    return http.private_page(redirect("faq:contact_sent", token=token))


@require_safe
def contact_sent(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = signing.loads(token, salt=CONTACT_TOKEN_SALT, max_age=CONTACT_TOKEN_MAX_AGE)
    except signing.BadSignature:
        return redirect("faq:contact")
    from integrations.models import InboundItem

    item = InboundItem.objects.filter(pk=data.get("item")).only("ticket_id").first()
    reference = f"IL-{item.ticket_id}" if item is not None and item.ticket_id else None
    context = {"reference": reference, "noindex": True, "support_address": settings.SUPPORT_ADDRESS}
    return http.private_page(render(request, "faq/contact_sent.html", context))


@require_safe
def sitemap_xml(request: HttpRequest) -> HttpResponse:
    context = {
        "index_url": canonical_url("faq:index"),
        "categories": [
            (canonical_url("faq:category", category=item.slug), item)
            for item in selectors.all_categories()
        ],
        "articles": [
            (canonical_url("faq:article", category=item.category.slug, slug=item.slug), item)
            for item in selectors.listing_articles().order_by("category__order", "order", "pk")
        ],
    }
    response = render(
        request, "faq/sitemap.xml", context, content_type="application/xml; charset=utf-8"
    )
    return http.public_page(response)


@require_safe
def robots_txt(request: HttpRequest) -> HttpResponse:
    lines = ["User-agent: *"]
    for path in ("/admin/", "/api/", "/hooks/", "/staff/"):
        lines.append(f"Disallow: {path}")
    lines.append(f"Disallow: {reverse('faq:search')}")
    lines.append("Allow: /")
    lines.append(f"Sitemap: {canonical_url('faq:sitemap')}")
    response = HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")
    return http.public_page(response)


def _public(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    if request.GET:
        return HttpResponseRedirect(request.path, status=301)
    return http.public_page(render(request, template, context))


def _article_path(current: Article) -> str:
    return reverse("faq:article", kwargs={"category": current.category.slug, "slug": current.slug})


def _breadcrumb_data(trail: list[tuple[str, str]]) -> dict[str, Any]:
    items = [("Help centre", canonical_url("faq:index")), *trail]
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": position, "name": name, "item": url}
            for position, (name, url) in enumerate(items, start=1)
        ],
    }


def _message_page(request: HttpRequest, *, title: str, message: str, status: int) -> HttpResponse:
    context = {"title": title, "message": message, "noindex": True}
    return http.private_page(render(request, "faq/message.html", context, status=status))


def _not_found(request: HttpRequest) -> HttpResponse:
    context = {"popular": selectors.popular_articles(), "noindex": True}
    return http.private_page(render(request, "faq/not_found.html", context, status=404))


def _forbidden(request: HttpRequest, message: str) -> HttpResponse:
    logger.info("help centre POST to %s rejected: origin not of this site", request.path)
    return _message_page(request, title="Please try again", message=message, status=403)


def _bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return _message_page(request, title="Something was missing", message=message, status=400)


def _too_many(request: HttpRequest, message: str) -> HttpResponse:
    response = _message_page(request, title="Please slow down", message=message, status=429)
    response["Retry-After"] = "600"
    return response
