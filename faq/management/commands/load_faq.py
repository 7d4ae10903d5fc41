"""Load the help centre articles from faq/content into the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from faq.loading import DEFAULT_CONTENT_DIR, ContentError, LoadReport, load_content


class Command(BaseCommand):
    help = (
        "Load categories.yaml and the Markdown articles into the help centre. Safe to run "
        "again: unchanged articles are skipped, and articles edited in admin are kept and reported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path",
            type=Path,
            default=DEFAULT_CONTENT_DIR,
            help="Content directory with categories.yaml and one folder per category.",
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Overwrite articles edited in admin with the file version.",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Unpublish articles whose content file no longer exists.",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="Exit with an error when any file is invalid or in conflict.",
        )

    def handle(
        self, *args: Any, path: Path, force: bool, prune: bool, strict: bool, **options: Any
    ) -> None:
        try:
            report = load_content(path, force=force, prune=prune)
        except ContentError as exc:
            raise CommandError(str(exc)) from exc
        self._print(report)
        if strict and (report.errors or report.conflicts):
            raise CommandError(
                f"{len(report.errors)} invalid file(s) and {len(report.conflicts)} conflict(s); "
                "see above."
            )

    def _print(self, report: LoadReport) -> None:
        self.stdout.write(
            f"Help centre: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, "
            f"{len(report.kept_admin_edits)} kept as edited in admin, "
            f"{len(report.conflicts)} conflicts, {len(report.errors)} errors."
        )
        for line in report.kept_admin_edits:
            self.stdout.write(f"  kept admin edit: {line}")
        for line in report.unpublished:
            self.stdout.write(f"  unpublished: {line}")
        for line in report.conflicts:
            self.stdout.write(self.style.WARNING(f"  conflict: {line}"))
        for line in report.warnings:
            self.stdout.write(self.style.WARNING(f"  warning: {line}"))
        for line in report.errors:
            self.stderr.write(self.style.ERROR(f"  error: {line}"))
