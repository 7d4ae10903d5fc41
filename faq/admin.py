"""Help centre editing in Django admin: articles with a rendered preview, votes, misses.

Saves go through faq.services, so each one renders the new version, refreshes search and
invalidates cached pages; nothing happens in model signals.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from faq import services
from faq.models import Article, Category, SearchMiss, SlugRedirect
from faq.rendering import render_markdown

PREVIEW_MAX_CHARS = 200_000


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "order"]
    ordering = ["order"]

    def save_model(self, request: HttpRequest, obj: Category, form: Any, change: bool) -> None:
        services.save_category(category=obj)


class SlugRedirectInline(admin.TabularInline):
    model = SlugRedirect
    extra = 0
    fields = ["old_slug", "created_at"]
    readonly_fields = ["created_at"]
    verbose_name = "old slug (redirects here)"


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "category",
        "published",
        "updated_on",
        "helpful_yes",
        "helpful_no",
        "version",
        "edited_in_admin",
    ]
    list_filter = ["published", "category"]
    search_fields = ["title", "slug", "summary"]
    list_select_related = ["category"]
    ordering = ["category__order", "order"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = [
        "rendered_preview",
        "version",
        "helpful_yes",
        "helpful_no",
        "source_path",
        "modified_at",
    ]
    inlines = [SlugRedirectInline]
    fieldsets = [
        (None, {"fields": ["title", "slug", "category", "order", "published", "updated_on"]}),
        ("Content", {"fields": ["summary", "tags", "body_markdown", "rendered_preview"]}),
        (
            "History and feedback",
            {
                "fields": ["version", "modified_at", "source_path", "helpful_yes", "helpful_no"],
            },
        ),
    ]

    class Media:
        js = ["faq/admin-preview.js"]
        css = {"all": ["faq/admin-preview.css"]}

    @admin.display(description="Rendered preview")
    def rendered_preview(self, obj: Article) -> SafeString:
        # body_html is sanitised by faq.rendering when it is saved.
        preview_url = reverse("admin:faq_article_preview")
        stored = mark_safe(obj.body_html) if obj.pk else ""  # noqa: S308
        return format_html(
            '<div class="faq-preview prose" data-preview-url="{}" aria-live="polite">{}</div>'
            '<p class="help">Shows the saved version; with JavaScript on, it follows your typing.'
            "</p>",
            preview_url,
            stored,
        )

    @admin.display(boolean=True, description="Edited in admin")
    def edited_in_admin(self, obj: Article) -> bool:
        if not obj.loaded_hash:
            return bool(obj.pk)
        return services.article_content_hash(services.article_fields(obj)) != obj.loaded_hash

    def get_urls(self) -> list[URLPattern]:
        preview = path(
            "preview/",
            self.admin_site.admin_view(require_POST(self.preview_view)),
            name="faq_article_preview",
        )
        return [preview, *super().get_urls()]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        source = request.POST.get("body_markdown", "")[:PREVIEW_MAX_CHARS]
        return JsonResponse({"html": render_markdown(source)})

    def save_model(self, request: HttpRequest, obj: Article, form: Any, change: bool) -> None:
        previous_slug = form.initial.get("slug", "") if change else ""
        services.save_article(article=obj, previous_slug=previous_slug)

    def delete_model(self, request: HttpRequest, obj: Article) -> None:
        services.delete_article(article=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        for article in queryset:
            services.delete_article(article=article)


@admin.register(SearchMiss)
class SearchMissAdmin(admin.ModelAdmin):
    list_display = ["query", "count", "first_seen_at", "last_seen_at", "search_link"]
    search_fields = ["query"]
    readonly_fields = ["query", "count", "first_seen_at", "last_seen_at"]
    ordering = ["-count", "-last_seen_at"]

    @admin.display(description="Try it")
    def search_link(self, obj: SearchMiss) -> SafeString:
        url = f"{reverse('faq:search')}?{urlencode({'q': obj.query})}"
        return format_html('<a href="{}">search</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
