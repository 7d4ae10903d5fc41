"""Load the shipped categoriser rules into CategoryRule without touching existing rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.categorisation.rules import DEFAULT_RULES_PATH
from tickets.categorisation.service import load_default_rules


class Command(BaseCommand):
    help = (
        "Add the rules from a rules JSON file to CategoryRule. Rules that already exist "
        "(same category, field and phrase, ignoring case and accents) are left as they are, "
        "so edits made in admin survive. A deleted rule is added again: disable a rule "
        "instead of deleting it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            type=Path,
            default=DEFAULT_RULES_PATH,
            help="Rules JSON file to load (default: the shipped default_rules.json).",
        )

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            result = load_default_rules(path=file)
        except FileNotFoundError as exc:
            raise CommandError(f"Rules file not found: {file}") from exc
        except ValueError as exc:
            raise CommandError(f"Rules file is invalid, nothing was loaded: {exc}") from exc
        self.stdout.write(
            f"Category rules: {result.created} created, {result.existing} already present."
        )
