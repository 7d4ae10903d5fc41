"""Categorise sample messages with the current rules, for trying rule changes."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.categorisation.categories import label_for
from tickets.categorisation.dataset import InvalidRecord, message_from_record
from tickets.categorisation.decision import categorise
from tickets.categorisation.selectors import active_rules, current_classifier


class Command(BaseCommand):
    help = (
        "Read messages from a JSON Lines file (one object per line with id, channel, subject, "
        "body, from_name and from_email; other keys are ignored) and write one JSON line per "
        "message with its id, category label and reason, using the enabled CategoryRule rows."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help='JSON Lines file of messages, or "-" for standard input.')
        parser.add_argument(
            "--rules-only",
            action="store_true",
            help="Use the rules alone, without the text classifier.",
        )

    def handle(self, *args: Any, file: str, rules_only: bool, **options: Any) -> None:
        if file == "-":
            failures = self._categorise_lines(sys.stdin, rules_only=rules_only)
        else:
            try:
                with open(file, encoding="utf-8") as lines:
                    failures = self._categorise_lines(lines, rules_only=rules_only)
            except FileNotFoundError as exc:
                raise CommandError(f"File not found: {file}") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{file} is not UTF-8 text: {exc}") from exc
        if failures:
            raise CommandError(
                f"{failures} line(s) could not be categorised; see the errors above."
            )

    def _categorise_lines(self, lines: TextIO, *, rules_only: bool) -> int:
        rules = active_rules()
        classifier = None if rules_only else current_classifier()
        failures = 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                message = message_from_record(record)
                if "id" not in record:
                    raise InvalidRecord('missing "id"')
            except json.JSONDecodeError as exc:
                failures += self._report(number, f"invalid JSON: {exc.msg}")
                continue
            except InvalidRecord as exc:
                failures += self._report(number, str(exc))
                continue

            decision = categorise(message, rules=rules, classifier=classifier)
            output = {
                "id": record["id"],
                "category": label_for(decision.category),
                "reason": decision.reason,
            }
            self.stdout.write(json.dumps(output, ensure_ascii=False))
        return failures

    def _report(self, number: int, problem: str) -> int:
        self.stderr.write(f"line {number}: {problem}; skipped")
        return 1
