"""Entry points that connect the categoriser to the database, settings and files."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from .classifier import TextClassifier
from .dataset import LABELLED_PATH, load_labelled
from .decision import categorise
from .rules import DEFAULT_RULES_PATH, load_rules_file
from .selectors import active_rules, classifier_path, current_classifier
from .text import phrase_key
from .training import CrossValidation, cross_validate, train_classifier
from .types import Decision, MessageText, Rule

logger = logging.getLogger(__name__)


def categorise_text(
    *,
    subject: str,
    body: str,
    channel: str = "",
    from_name: str = "",
    from_email: str = "",
    hints: Sequence[str] = (),
    rules_only: bool = False,
) -> Decision:
    """Categorise one message with the enabled CategoryRule rows and the current classifier."""
    message = MessageText(
        subject=subject, body=body, channel=channel, from_name=from_name, from_email=from_email
    )
    classifier = None if rules_only else current_classifier()
    return categorise(message, rules=active_rules(), classifier=classifier, hints=hints)


@dataclass(frozen=True)
class RuleLoadResult:
    created: int
    existing: int


def load_default_rules(*, path: Path = DEFAULT_RULES_PATH) -> RuleLoadResult:
    """Add the rules from a rules file that are not in CategoryRule yet.

    A rule already exists when a row has the same category and field and a phrase that
    folds to the same words ("18A" and "18a" are one phrase). Existing rows are never
    changed, so weights and switches edited in admin survive a reload. A deleted row is
    created again, so disable a shipped rule instead of deleting it.
    Raises ValueError if the file contains an invalid rule.
    """
    from tickets.models import CategoryRule

    rules = load_rules_file(path)
    with transaction.atomic():
        existing_keys = {
            (category, phrase_key(phrase), field)
            for category, phrase, field in CategoryRule.objects.values_list(
                "category", "phrase", "field"
            )
        }
        new_rows = []
        for rule in rules:
            key = (rule.category, phrase_key(rule.phrase), rule.field)
            if key in existing_keys:
                continue
            existing_keys.add(key)
            new_rows.append(
                CategoryRule(
                    category=rule.category,
                    phrase=rule.phrase,
                    weight=rule.weight,
                    field=rule.field,
                    enabled=rule.enabled,
                    note=rule.note[:200],
                )
            )
        CategoryRule.objects.bulk_create(new_rows)
    logger.info("Loaded category rules from %s: %d created", path, len(new_rows))
    return RuleLoadResult(created=len(new_rows), existing=len(rules) - len(new_rows))


@dataclass(frozen=True)
class TrainingResult:
    path: Path
    messages: int
    validation: CrossValidation
    rules_source: str


def train_and_save_classifier(
    *, training_path: Path = LABELLED_PATH, model_path: Path | None = None, folds: int = 5
) -> TrainingResult:
    """Cross-validate, fit the classifier on a file's training split and save it.

    Records without a "split" field count as training data. Cross-validation combines the
    classifier with the enabled CategoryRule rows, or with the shipped default rules when
    the table is empty. Raises InvalidRecord for a malformed file and ValueError when a
    category has fewer messages than `folds`.
    """
    items = [item for item in load_labelled(training_path) if item.split == "train"]
    if not items:
        raise ValueError(f"{training_path} contains no training messages.")

    rules: Sequence[Rule] = active_rules()
    rules_source = "enabled CategoryRule rows"
    if not rules:
        rules = load_rules_file(DEFAULT_RULES_PATH)
        rules_source = (
            f"default rules from {DEFAULT_RULES_PATH.name} (the CategoryRule table is empty)"
        )
    validation = cross_validate(items, rules=rules, folds=folds)

    classifier: TextClassifier = train_classifier(items)
    path = model_path or classifier_path()
    classifier.save(path)
    logger.info("Saved categoriser model %s, fitted on %d messages", path, len(items))
    return TrainingResult(
        path=path, messages=len(items), validation=validation, rules_source=rules_source
    )
