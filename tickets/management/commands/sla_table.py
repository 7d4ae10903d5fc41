"""Recompute the expected columns of an SLA worked-examples table and print it as CSV."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.sla import format_examples_table, recompute_examples_table


class Command(BaseCommand):
    help = (
        "Read an SLA examples CSV file, recompute every expected_* column with the timer rules "
        "and South African public holidays, and write the table to standard output."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="Examples CSV file with the standard columns.")

    def handle(self, *args: Any, path: Path, **options: Any) -> None:
        try:
            with path.open(newline="", encoding="utf-8") as file:
                reader = csv.DictReader(file)
                rows = list(reader)
                fieldnames = list(reader.fieldnames or [])
        except OSError as error:
            raise CommandError(f"Failed to read {path}: {error.strerror}.") from error
        except UnicodeDecodeError as error:
            raise CommandError(
                f"{path} is not UTF-8 text (invalid byte at offset {error.start}); "
                "save the table as UTF-8 CSV."
            ) from error
        except csv.Error as error:
            raise CommandError(f"{path} is not a valid CSV file: {error}.") from error
        if not fieldnames:
            raise CommandError(f"{path} is empty; expected a header row with the examples columns.")

        try:
            recomputed = recompute_examples_table(rows)
        except ValueError as error:
            raise CommandError(f"Invalid examples table {path}: {error}") from error
        self.stdout.write(format_examples_table(recomputed, fieldnames), ending="")
