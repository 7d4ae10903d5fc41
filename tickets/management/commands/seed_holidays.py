"""Add South Africa's public holidays to the Holiday table, keeping rows that already exist."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from tickets.sla_calendar import seed_south_african_holidays


def parse_years(text: str) -> range:
    """Parse "2026" or "2025-2028" (both ends included)."""
    first, _, last = text.partition("-")
    try:
        start = int(first)
        stop = int(last) if last else start
    except ValueError as error:
        raise CommandError(
            f"--years {text!r} is invalid; write a year or a range like 2025-2028."
        ) from error
    if not 1995 <= start <= stop <= 2100:
        raise CommandError(
            f"--years {text!r} is invalid; use years from 1995 to 2100, first <= last."
        )
    return range(start, stop + 1)


class Command(BaseCommand):
    help = (
        "Seed the Holiday table with South African public holidays (the Public Holidays Act, "
        "its Sunday rule and declared days) from the holidays package. Existing dates are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--years",
            default="",
            help=(
                "A year or an inclusive range such as 2025-2028; "
                "default: last year to two years ahead."
            ),
        )

    def handle(self, *args: Any, years: str, **options: Any) -> None:
        if years:
            span = parse_years(years)
        else:
            this_year = timezone.localdate().year
            span = range(this_year - 1, this_year + 3)
        result = seed_south_african_holidays(years=span)
        self.stdout.write(
            f"Holidays {span.start}-{span.stop - 1}: {result.created} added, "
            f"{result.kept} already in the table."
        )
