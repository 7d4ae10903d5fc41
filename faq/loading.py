"""Loads faq/content (Markdown with YAML front matter) into the database.

Loading is idempotent and never overwrites an editor's change silently. Each article
stores the content hash of the file version it was last loaded from (loaded_hash). When
the article's current fields hash to something else, an editor changed it in admin since
that load: the loader keeps the admin version and reports it, as a conflict when the file
changed too. force=True takes the file version anyway.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml
from django.db import transaction

from faq import services
from faq.models import Article, Category
from faq.text import slugify_title

DEFAULT_CONTENT_DIR = Path(__file__).resolve().parent / "content"
REQUIRED_KEYS = ("title", "category")
_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_INTERNAL_LINK = re.compile(r"\]\(\.\./([a-z0-9-]+)/([a-z0-9-]+)\)")
RESERVED_CATEGORY_SLUGS = frozenset({"search"})


class ContentError(ValueError):
    """A content file that cannot be loaded; the message names the file and the fix."""


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Edited in admin since the last load while the file stayed the same: admin version kept.
    kept_admin_edits: list[str] = field(default_factory=list)
    # Edited in admin and changed in the file: skipped, an editor must decide.
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unpublished: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.unpublished)


@dataclass(frozen=True)
class ArticleFile:
    path: str  # relative to the content directory
    fields: dict[str, Any]
    slug_given: bool


def load_content(
    content_dir: Path = DEFAULT_CONTENT_DIR, *, force: bool = False, prune: bool = False
) -> LoadReport:
    """Load categories.yaml and every article file under content_dir."""
    report = LoadReport()
    with transaction.atomic():
        categories = _load_categories(content_dir / "categories.yaml", report, force=force)
        files = _read_article_files(content_dir, categories, report)
        seen_ids: set[int] = set()
        for article_file in files:
            article_id = _load_article(article_file, categories, report, force=force)
            if article_id is not None:
                seen_ids.add(article_id)
        _report_missing_files(seen_ids, report, prune=prune)
        if report.changed:
            services.refresh_search_terms()
            services.invalidate_content_cache()
    _check_internal_links(report)
    return report


def _load_categories(path: Path, report: LoadReport, *, force: bool) -> dict[str, Category]:
    if not path.is_file():
        raise ContentError(f"{path} is missing; it lists the help centre categories.")
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContentError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(entries, list):
        raise ContentError(f"{path} must contain a list of categories with slug, title and order.")

    categories: dict[str, Category] = {}
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("slug") or not entry.get("title"):
            report.errors.append(f"categories.yaml entry {position}: slug and title are required.")
            continue
        slug = str(entry["slug"])
        if not _SLUG.match(slug) or slug in RESERVED_CATEGORY_SLUGS:
            report.errors.append(f"categories.yaml: {slug!r} is not a valid category slug.")
            continue
        values = {
            "title": str(entry["title"]).strip(),
            "order": int(entry.get("order", position)),
            "description": str(entry.get("description") or "").strip(),
        }
        categories[slug] = _upsert_category(slug, values, report, force=force)
    return categories


def _upsert_category(
    slug: str, values: dict[str, Any], report: LoadReport, *, force: bool
) -> Category:
    file_hash = services.category_content_hash(slug=slug, **values)
    category = Category.objects.filter(slug=slug).first()
    label = f"category {slug}"
    if category is None:
        category = Category(slug=slug, **values, loaded_hash=file_hash)
        category.save()
        report.created.append(label)
        return category

    db_hash = services.category_fields_hash(category)
    if db_hash == file_hash:
        if category.loaded_hash != file_hash:
            Category.objects.filter(pk=category.pk).update(loaded_hash=file_hash)
        report.unchanged.append(label)
        return category
    edited_in_admin = db_hash != category.loaded_hash
    if edited_in_admin and not force:
        if file_hash == category.loaded_hash:
            report.kept_admin_edits.append(label)
        else:
            report.conflicts.append(
                f"{label}: changed in admin and in categories.yaml; kept the admin version"
            )
        return category
    for name, value in values.items():
        setattr(category, name, value)
    category.loaded_hash = file_hash
    category.save()
    report.updated.append(label)
    return category


def _read_article_files(
    content_dir: Path, categories: dict[str, Category], report: LoadReport
) -> list[ArticleFile]:
    files: list[ArticleFile] = []
    explicit_slugs: dict[str, str] = {}
    # Files loaded before come first, so a new file cannot take an existing article's slug.
    known = set(Article.objects.exclude(source_path="").values_list("source_path", flat=True))
    paths = sorted(
        content_dir.glob("*/*.md"),
        key=lambda path: (path.relative_to(content_dir).as_posix() not in known, path.as_posix()),
    )
    for path in paths:
        relative = path.relative_to(content_dir).as_posix()
        try:
            article_file = _parse_article(path, relative, categories)
        except ContentError as exc:
            report.errors.append(str(exc))
            continue
        slug = article_file.fields["slug"]
        if article_file.slug_given:
            if slug in explicit_slugs:
                report.errors.append(
                    f"{relative}: slug {slug!r} is already used by {explicit_slugs[slug]}; "
                    "give one of them another slug."
                )
                continue
            explicit_slugs[slug] = relative
        files.append(article_file)

    # A slug derived from a title gives way to an explicit one and to earlier files.
    taken = set(explicit_slugs)
    for position, article_file in enumerate(files):
        if article_file.slug_given:
            continue
        base = article_file.fields["slug"]
        slug, counter = base, 2
        while slug in taken:
            slug, counter = f"{base}-{counter}", counter + 1
        if slug != base:
            report.warnings.append(
                f"{article_file.path}: slug {base!r} is taken, so it became {slug!r}."
            )
            fields = dict(article_file.fields, slug=slug)
            files[position] = ArticleFile(article_file.path, fields, slug_given=False)
        taken.add(slug)
    return files


def _parse_article(path: Path, relative: str, categories: dict[str, Category]) -> ArticleFile:
    try:
        post = frontmatter.loads(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        raise ContentError(f"{relative}: front matter cannot be read: {exc}") from exc
    meta = post.metadata
    missing = [key for key in REQUIRED_KEYS if not meta.get(key)]
    if missing:
        raise ContentError(f"{relative}: front matter is missing {', '.join(missing)}.")
    if not post.content.strip():
        raise ContentError(f"{relative}: the article has no body.")

    category = str(meta["category"])
    if category not in categories:
        raise ContentError(f"{relative}: category {category!r} is not in categories.yaml.")
    folder = relative.split("/", 1)[0]
    if folder != category:
        raise ContentError(
            f"{relative}: the file is in {folder}/ but its category is {category!r}."
        )

    title = str(meta["title"]).strip()
    slug_given = bool(meta.get("slug"))
    slug = str(meta["slug"]).strip() if slug_given else slugify_title(title)
    if not _SLUG.match(slug):
        raise ContentError(
            f"{relative}: slug {slug!r} may contain only a-z, 0-9 and single hyphens."
        )

    tags = meta.get("tags") or []
    if not isinstance(tags, list):
        raise ContentError(f"{relative}: tags must be a list, e.g. [receipts, 18a].")
    fields = {
        "title": title,
        "slug": slug,
        "category": category,
        "order": _as_int(meta.get("order", 100), relative, "order"),
        "summary": str(meta.get("summary") or "").strip(),
        "tags": [str(tag) for tag in tags],
        "updated_on": _as_date(meta.get("updated"), relative),
        "published": _as_bool(meta.get("published", True), relative),
        "body_markdown": services.normalise_markdown(post.content),
    }
    return ArticleFile(relative, fields, slug_given)


def _as_int(value: object, relative: str, key: str) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        raise ContentError(f"{relative}: {key} must be a whole number, not {value!r}.") from exc
    if number < 0:
        raise ContentError(f"{relative}: {key} must not be negative.")
    return number


def _as_date(value: object, relative: str) -> dt.date:
    if value is None:
        raise ContentError(
            f"{relative}: updated is missing; give the date, e.g. updated: 2026-11-20."
        )
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ContentError(
            f"{relative}: updated must be a date like 2026-11-20, not {value!r}."
        ) from exc


def _as_bool(value: object, relative: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ContentError(f"{relative}: published must be true or false, not {value!r}.")


def _load_article(
    article_file: ArticleFile, categories: dict[str, Category], report: LoadReport, *, force: bool
) -> int | None:
    fields = article_file.fields
    label = article_file.path
    file_hash = services.article_content_hash(fields)

    article = (
        Article.objects.select_related("category").filter(source_path=article_file.path).first()
    )
    if article is None:
        article = Article.objects.select_related("category").filter(slug=fields["slug"]).first()
        if article is not None and article.source_path and article.source_path != article_file.path:
            report.errors.append(
                f"{label}: slug {fields['slug']!r} belongs to {article.source_path}; "
                "a moved file keeps its article only if the old file is gone."
            )
            return None
    if article is None:
        created = _write(Article(source_path=article_file.path), fields, categories, file_hash)
        report.created.append(label)
        return created.pk

    db_hash = services.article_content_hash(services.article_fields(article))
    if db_hash == file_hash:
        if article.loaded_hash != file_hash or article.source_path != article_file.path:
            Article.objects.filter(pk=article.pk).update(
                loaded_hash=file_hash, source_path=article_file.path
            )
        report.unchanged.append(label)
        return article.pk

    edited_in_admin = db_hash != article.loaded_hash
    if edited_in_admin and not force:
        if file_hash == article.loaded_hash:
            report.kept_admin_edits.append(label)
        else:
            report.conflicts.append(
                f"{label}: changed in admin and in the file since the last load; "
                "kept the admin version (load_faq --force takes the file)"
            )
        return article.pk

    slug_owner = Article.objects.filter(slug=fields["slug"]).exclude(pk=article.pk).first()
    if slug_owner is not None:
        report.errors.append(
            f"{label}: slug {fields['slug']!r} is already used by article {slug_owner.pk}."
        )
        return article.pk
    article.source_path = article_file.path
    _write(article, fields, categories, file_hash)
    report.updated.append(label)
    return article.pk


def _write(
    article: Article, fields: dict[str, Any], categories: dict[str, Category], file_hash: str
) -> Article:
    previous_slug = article.slug if article.pk else ""
    article.category = categories[fields["category"]]
    for name in (
        "title",
        "slug",
        "order",
        "summary",
        "tags",
        "updated_on",
        "published",
        "body_markdown",
    ):
        setattr(article, name, fields[name])
    article.loaded_hash = file_hash
    return services.save_article(article=article, previous_slug=previous_slug, refresh_terms=False)


def _report_missing_files(seen_ids: set[int], report: LoadReport, *, prune: bool) -> None:
    orphans = Article.objects.exclude(source_path="").exclude(pk__in=seen_ids)
    for article in orphans.select_related("category"):
        if not prune:
            report.warnings.append(
                f"{article.source_path}: the file is gone; article {article.slug!r} is left "
                "as it is "
                "(load_faq --prune unpublishes it)."
            )
            continue
        if article.published:
            article.published = False
            article.loaded_hash = services.article_content_hash(services.article_fields(article))
            services.save_article(article=article, refresh_terms=False)
            report.unpublished.append(article.source_path)


def _check_internal_links(report: LoadReport) -> None:
    known = set(Article.objects.filter(published=True).values_list("category__slug", "slug"))
    for path, body in Article.objects.filter(published=True).values_list(
        "source_path", "body_markdown"
    ):
        for category, slug in _INTERNAL_LINK.findall(body):
            if (category, slug) not in known:
                report.warnings.append(
                    f"{path or 'an admin article'}: link to ../{category}/{slug} "
                    "points to no published article."
                )
