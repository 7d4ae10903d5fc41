"""Fixtures of the help centre tests: a small content tree, clean caches, plain static files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.cache import cache

from faq.loading import LoadReport, load_content

CONTENT = Path(__file__).resolve().parent / "content"


@pytest.fixture(autouse=True)
def _clean_cache_and_static(settings, tmp_path: Path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    # Templates use {% static %}; without collectstatic the manifest storage has no entries.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the test content, for tests that change files."""
    target = tmp_path / "content"
    shutil.copytree(CONTENT, target)
    return target


@pytest.fixture
def loaded(db, content_dir: Path) -> LoadReport:  # type: ignore[no-untyped-def]
    report = load_content(content_dir)
    assert report.errors == []
    return report
