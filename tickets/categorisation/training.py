"""Training the classifier on labelled messages, and measuring it by cross-validation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sklearn.model_selection import StratifiedKFold

from .classifier import TextClassifier
from .dataset import LabelledMessage, training_set
from .decision import categorise
from .types import Rule


def train_classifier(items: Sequence[LabelledMessage]) -> TextClassifier:
    """Fit a classifier on labelled messages."""
    return TextClassifier.fit([item.message for item in items], [item.category for item in items])


@lru_cache(maxsize=1)
def default_classifier() -> TextClassifier:
    """Return a classifier fitted on the shipped training split, fitted once per process."""
    return train_classifier(training_set())


@dataclass(frozen=True)
class CrossValidation:
    """Accuracy over all held-out folds, for the classifier alone and with the rules."""

    folds: int
    messages: int
    classifier_accuracy: float
    combined_accuracy: float


def cross_validate(
    items: Sequence[LabelledMessage], *, rules: Sequence[Rule], folds: int = 5, seed: int = 0
) -> CrossValidation:
    """Fit on all folds but one and score the one left out, for each fold in turn.

    Folds are stratified by category, so every category needs at least `folds` messages;
    scikit-learn raises ValueError otherwise.
    """
    categories = [item.category for item in items]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    classifier_correct = combined_correct = 0
    for train_indices, test_indices in splitter.split(categories, categories):
        classifier = train_classifier([items[i] for i in train_indices])
        for i in test_indices:
            item = items[i]
            classifier_correct += classifier.predict(item.message).category == item.category
            decision = categorise(item.message, rules=rules, classifier=classifier)
            combined_correct += decision.category == item.category
    return CrossValidation(
        folds=folds,
        messages=len(items),
        classifier_accuracy=classifier_correct / len(items),
        combined_accuracy=combined_correct / len(items),
    )
