"""Check the chat transcript hash chain; exit 1 and name each transcript that broke."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.transcripts import verify_chain


class Command(BaseCommand):
    help = (
        "Recompute the SHA-256 of every chat transcript and the links between them. Exits 1 "
        "and lists each transcript whose content, hashes or position no longer fit."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = verify_chain()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Transcript chain intact: {report.checked} transcript(s), "
                    f"{report.purged} of them purged tombstones."
                )
            )
            return
        for problem in report.problems:
            self.stderr.write(f"BROKEN {problem}")
        raise CommandError(
            f"Transcript chain broken: {len(report.problems)} problem(s) in "
            f"{report.checked} transcript(s); the first is transcript "
            f"{report.problems[0].sequence}.",
            returncode=1,
        )
