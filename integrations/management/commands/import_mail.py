"""Import mail from .eml files, a Maildir or an mbox (e.g. a Google Takeout export of help@)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from integrations.mailbox.importer import (
    DEFAULT_SKIPPED_LABELS,
    ImportSourceError,
    ImportSummary,
    MailFile,
    import_path,
)

DEMO_MAILBOX = Path(settings.BASE_DIR) / "integrations" / "mailbox" / "demo"


class Command(BaseCommand):
    help = (
        "Import mail into the queue from an .eml file, a directory of .eml files, a Maildir or "
        "an mbox file. Safe to run again: mail already stored is counted as a duplicate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="File or directory to import.")
        parser.add_argument(
            "--demo", action="store_true", help=f"Import the demo mailbox in {DEMO_MAILBOX}."
        )
        parser.add_argument(
            "--skip-labels",
            default=",".join(DEFAULT_SKIPPED_LABELS),
            help=(
                "Comma-separated Gmail labels (X-Gmail-Labels in a Takeout export) whose mail is "
                "left out; empty to import everything. Default: %(default)s."
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(
        self,
        *args: Any,
        path: str | None,
        demo: bool,
        skip_labels: str,
        no_progress: bool,
        **options: Any,
    ) -> None:
        if demo == bool(path):
            raise CommandError("Give either a PATH to import or --demo.")
        source = DEMO_MAILBOX if demo else Path(path or "")
        labels = frozenset(label.strip() for label in skip_labels.split(",") if label.strip())

        def progress(mails: list[MailFile]) -> Iterator[MailFile]:
            yield from tqdm(mails, unit="mail", disable=no_progress or None)

        try:
            summary = import_path(source, skip_labels=labels, progress=progress)
        except ImportSourceError as exc:
            raise CommandError(str(exc)) from exc
        self._print(summary)

    def _print(self, summary: ImportSummary) -> None:
        counts = summary.outcomes
        skipped = {kind: counts[kind] for kind in ("auto_reply", "bounce", "list") if counts[kind]}
        skipped_text = ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in skipped.items())
        self.stdout.write(
            f"Imported {summary.total} mail from {summary.source} ({summary.kind}): "
            f"{counts['created']} created, {counts['threaded']} threaded, "
            f"{counts['duplicate']} duplicates, {sum(skipped.values())} skipped as auto-reply, "
            f"bounce or list mail{f' ({skipped_text})' if skipped_text else ''}, "
            f"{counts['failed']} failed."
        )
        if counts["skipped_label"]:
            self.stdout.write(f"  {counts['skipped_label']} left out by their Gmail label.")
        for item_id, error in summary.failures[:20]:
            self.stdout.write(f"  failed: inbound item {item_id}: {error[:200]}")
        if len(summary.failures) > 20:
            self.stdout.write(
                f"  … and {len(summary.failures) - 20} more failed items (see admin)."
            )
