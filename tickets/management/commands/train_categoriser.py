"""Fit the categoriser's text classifier on a labelled file and save it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tickets.categorisation.dataset import LABELLED_PATH, InvalidRecord
from tickets.categorisation.selectors import classifier_path
from tickets.categorisation.service import train_and_save_classifier


class Command(BaseCommand):
    help = (
        "Cross-validate and fit the categoriser's classifier on the training split of a "
        "labelled JSON Lines file, then save it where the hub loads it from."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data",
            type=Path,
            default=LABELLED_PATH,
            help='Labelled messages; records whose split is not "train" are skipped '
            "(default: the shipped labelled.jsonl).",
        )
        parser.add_argument(
            "--output",
            type=Path,
            default=None,
            help="Where to save the model (default: settings.CATEGORISER_MODEL_PATH, "
            f"currently {classifier_path()}).",
        )
        parser.add_argument(
            "--folds", type=int, default=5, help="Cross-validation folds (default 5, at least 2)."
        )

    def handle(
        self, *args: Any, data: Path, output: Path | None, folds: int, **options: Any
    ) -> None:
        if folds < 2:
            raise CommandError(f"--folds must be at least 2, got {folds}.")
        try:
            result = train_and_save_classifier(training_path=data, model_path=output, folds=folds)
        except FileNotFoundError as exc:
            raise CommandError(f"Training file not found: {data}") from exc
        except (InvalidRecord, ValueError) as exc:
            raise CommandError(f"Cannot train on {data}: {exc}") from exc

        validation = result.validation
        self.stdout.write(
            f"Cross-validated accuracy ({validation.folds} folds, {validation.messages} messages): "
            f"classifier alone {validation.classifier_accuracy:.1%}, "
            f"with rules {validation.combined_accuracy:.1%}"
        )
        self.stdout.write(f"Rules used: {result.rules_source}")
        self.stdout.write(
            f"Saved the model fitted on all {result.messages} messages to {result.path}"
        )
