from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from faq import services
from faq.loading import DEFAULT_CONTENT_DIR, load_content
from faq.models import Article, Category, SlugRedirect

pytestmark = pytest.mark.django_db


def edit_file(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def edit_in_admin(slug: str, **changes: object) -> Article:
    article = Article.objects.select_related("category").get(slug=slug)
    previous_slug = article.slug
    for name, value in changes.items():
        setattr(article, name, value)
    return services.save_article(article=article, previous_slug=previous_slug)


def test_first_load_creates_everything(loaded, content_dir: Path) -> None:
    assert sorted(loaded.created) == sorted(
        ["category getting-started", "category making-donations"]
        + [p.relative_to(content_dir).as_posix() for p in content_dir.glob("*/*.md")]
    )
    receipts = Article.objects.get(slug="donation-receipts")
    assert receipts.category.slug == "making-donations"
    assert "<table>" in receipts.body_html
    assert receipts.body_text.startswith("Every donation gets a receipt")
    assert receipts.loaded_hash == services.article_content_hash(services.article_fields(receipts))
    assert Article.objects.get(slug="pledges").published is False


def test_second_load_changes_nothing(loaded, content_dir: Path) -> None:
    versions = dict(Article.objects.values_list("slug", "version"))

    again = load_content(content_dir)

    assert again.created == again.updated == again.conflicts == []
    assert len(again.unchanged) == len(loaded.created)
    assert dict(Article.objects.values_list("slug", "version")) == versions


def test_changed_file_updates_article(loaded, content_dir: Path) -> None:
    edit_file(content_dir / "making-donations/refunds.md", "within 30 days", "within 60 days")

    report = load_content(content_dir)

    assert report.updated == ["making-donations/refunds.md"]
    refunds = Article.objects.get(slug="refunds")
    assert "within 60 days" in refunds.body_html
    assert refunds.version == 2


def test_admin_edit_is_kept_when_file_unchanged(loaded, content_dir: Path) -> None:
    edit_in_admin("refunds", title="Refunds and cancellations")

    report = load_content(content_dir)

    assert report.kept_admin_edits == ["making-donations/refunds.md"]
    assert Article.objects.get(slug="refunds").title == "Refunds and cancellations"


def test_admin_and_file_edit_is_a_conflict(loaded, content_dir: Path) -> None:
    edit_in_admin("refunds", summary="Edited by an editor.")
    edit_file(content_dir / "making-donations/refunds.md", "within 30 days", "within 60 days")

    report = load_content(content_dir)

    assert len(report.conflicts) == 1
    assert report.conflicts[0].startswith("making-donations/refunds.md")
    refunds = Article.objects.get(slug="refunds")
    assert refunds.summary == "Edited by an editor."
    assert "within 30 days" in refunds.body_markdown


def test_force_takes_the_file_version(loaded, content_dir: Path) -> None:
    edit_in_admin("refunds", summary="Edited by an editor.")
    edit_file(content_dir / "making-donations/refunds.md", "within 30 days", "within 60 days")

    report = load_content(content_dir, force=True)

    assert report.updated == ["making-donations/refunds.md"]
    refunds = Article.objects.get(slug="refunds")
    assert refunds.summary.startswith("When a donation")
    assert "within 60 days" in refunds.body_markdown


def test_admin_save_without_changes_is_not_an_edit(loaded, content_dir: Path) -> None:
    # Browsers send text areas with CRLF line ends; that alone must not count as an edit.
    article = Article.objects.get(slug="refunds")
    edit_in_admin("refunds", body_markdown=article.body_markdown.replace("\n", "\r\n"))

    report = load_content(content_dir)

    assert "making-donations/refunds.md" in report.unchanged


def test_slug_change_in_file_keeps_a_redirect(loaded, content_dir: Path) -> None:
    edit_file(content_dir / "making-donations/refunds.md", "slug: refunds", "slug: refund-policy")

    load_content(content_dir)

    article = Article.objects.get(slug="refund-policy")
    assert SlugRedirect.objects.get(old_slug="refunds").article == article


def test_derived_slug_for_non_ascii_title(loaded) -> None:
    article = Article.objects.get(source_path="getting-started/cafe-afrikaans.md")

    assert article.slug == "so-skenk-jy-cafe-gids"


def test_derived_slug_gives_way_to_explicit_one(loaded, content_dir: Path) -> None:
    (content_dir / "getting-started/clash.md").write_text(
        "---\ntitle: Create account\ncategory: getting-started\nslug: so-skenk-jy-cafe-gids\n"
        "updated: 2026-11-01\n---\n\nBody.\n",
        encoding="utf-8",
    )

    report = load_content(content_dir)

    assert any("so-skenk-jy-cafe-gids-2" in warning for warning in report.warnings)
    assert (
        Article.objects.get(source_path="getting-started/clash.md").slug == "so-skenk-jy-cafe-gids"
    )


def test_duplicate_explicit_slug_is_an_error(loaded, content_dir: Path) -> None:
    (content_dir / "getting-started/copy.md").write_text(
        "---\ntitle: Copy\ncategory: getting-started\nslug: create-account\nupdated: 2026-11-01\n"
        "---\n\nBody.\n",
        encoding="utf-8",
    )

    report = load_content(content_dir)

    assert len(report.errors) == 1
    assert "create-account" in report.errors[0]
    assert Article.objects.filter(slug="create-account").count() == 1


@pytest.mark.parametrize(
    ("front_matter", "message"),
    [
        ("title: No category\n", "missing category"),
        ("title: X\ncategory: nowhere\n", "not in categories.yaml"),
        ("title: X\ncategory: making-donations\n", "is in getting-started/"),
        ("title: X\ncategory: getting-started\nslug: Bad Slug\n", "may contain only"),
        ("title: X\ncategory: getting-started\nupdated: yesterday\n", "must be a date"),
        (
            "title: X\ncategory: getting-started\nupdated: 2026-11-01\npublished: maybe\n",
            "true or false",
        ),
        ("title: X\ncategory: getting-started\n", "updated is missing"),
        ("title: [unclosed\n", "cannot be read"),
    ],
)
def test_invalid_file_is_reported(
    loaded, content_dir: Path, front_matter: str, message: str
) -> None:
    (content_dir / "getting-started/broken.md").write_text(
        f"---\n{front_matter}---\n\nBody.\n", encoding="utf-8"
    )

    report = load_content(content_dir)

    assert len(report.errors) == 1
    assert message in report.errors[0]
    assert report.errors[0].startswith("getting-started/broken.md")


def test_removed_file_is_reported_then_pruned(loaded, content_dir: Path) -> None:
    (content_dir / "making-donations/refunds.md").unlink()

    kept = load_content(content_dir)
    pruned = load_content(content_dir, prune=True)

    assert any("refunds.md" in warning for warning in kept.warnings)
    assert pruned.unpublished == ["making-donations/refunds.md"]
    assert Article.objects.get(slug="refunds").published is False


def test_category_edit_in_admin_is_kept(loaded, content_dir: Path) -> None:
    category = Category.objects.get(slug="making-donations")
    category.title = "Donating"
    services.save_category(category=category)

    report = load_content(content_dir)

    assert "category making-donations" in report.kept_admin_edits
    assert Category.objects.get(slug="making-donations").title == "Donating"


def test_broken_internal_link_is_a_warning(loaded, content_dir: Path) -> None:
    edit_file(
        content_dir / "making-donations/refunds.md",
        "The charity",
        "See [x](../getting-started/gone). The charity",
    )

    report = load_content(content_dir)

    assert any("../getting-started/gone" in warning for warning in report.warnings)


def test_command_prints_summary(content_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("load_faq", "--path", str(content_dir))

    assert "7 created" in capsys.readouterr().out


def test_real_content_loads_cleanly() -> None:
    report = load_content(DEFAULT_CONTENT_DIR)

    assert report.errors == []
    assert [c.title for c in Category.objects.order_by("order")] == [
        "Getting Started",
        "Making Donations",
        "For Charities",
        "For Corporates",
        "Technical Issues",
        "Security & Privacy",
    ]
    assert Article.objects.filter(published=True).count() >= 50
    assert not [w for w in report.warnings if "points to no published article" in w]
