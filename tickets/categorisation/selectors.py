"""Reads the categoriser needs from the database and settings."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import Count, Max

from .classifier import ModelLoadError, TextClassifier
from .rules import validate_rule
from .training import default_classifier
from .types import Rule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _RulesSnapshot:
    fingerprint: tuple[object, ...]
    rules: tuple[Rule, ...]


_rules_lock = threading.Lock()
_rules_snapshot: _RulesSnapshot | None = None


def active_rules() -> tuple[Rule, ...]:
    """Return the enabled CategoryRule rows as Rule records, skipping invalid ones.

    The rows are reloaded only when the table's row count or latest updated_at changes,
    which costs one aggregate query per call. The same tuple object is returned while the
    table is unchanged, so the compiled rule index is reused too.

    NOTE: QuerySet.update() does not touch updated_at, so a bulk update made that way
    shows only after another edit. Admin edits and save() calls always show at once.
    """
    from tickets.models import CategoryRule

    global _rules_snapshot
    state = CategoryRule.objects.aggregate(rows=Count("id"), latest=Max("updated_at"))
    fingerprint = (state["rows"], state["latest"])
    snapshot = _rules_snapshot
    if snapshot is not None and snapshot.fingerprint == fingerprint:
        return snapshot.rules

    with _rules_lock:
        rows = CategoryRule.objects.filter(enabled=True).values_list(
            "id", "category", "phrase", "weight", "field", "note"
        )
        rules = []
        for rule_id, category, phrase, weight, field, note in rows:
            rule = Rule(category=category, phrase=phrase, weight=weight, field=field, note=note)
            try:
                validate_rule(rule)
            except ValueError as exc:
                logger.warning("Skipping invalid category rule %s: %s", rule_id, exc)
                continue
            rules.append(rule)
        _rules_snapshot = _RulesSnapshot(fingerprint, tuple(rules))
        return _rules_snapshot.rules


def classifier_path() -> Path:
    """Return where train_categoriser saves the classifier and where it is loaded from.

    settings.CATEGORISER_MODEL_PATH if set, otherwise categoriser/model.joblib under
    settings.VAR_DIR.
    """
    configured = getattr(settings, "CATEGORISER_MODEL_PATH", None)
    if configured:
        return Path(configured)
    return Path(settings.VAR_DIR) / "categoriser" / "model.joblib"


_classifier_lock = threading.Lock()
_loaded: dict[tuple[Path, int], TextClassifier] = {}
# File versions that failed to load, so each failure is logged once, not once per ticket.
_unusable: set[tuple[Path, int]] = set()


def current_classifier() -> TextClassifier:
    """Return the saved classifier if there is a usable one, else one fitted on shipped data.

    A saved model is reloaded when its file changes. A missing file is normal, while an
    unreadable or stale one is logged and replaced by the shipped-data classifier.
    """
    path = classifier_path()
    try:
        modified = path.stat().st_mtime_ns
    except FileNotFoundError:
        return default_classifier()

    key = (path, modified)
    with _classifier_lock:
        if key in _unusable:
            return default_classifier()
        if key not in _loaded:
            try:
                classifier = TextClassifier.load(path)
            except ModelLoadError as exc:
                _unusable.add(key)
                logger.error(
                    "Cannot use the saved categoriser model %s, using the shipped-data "
                    "classifier until it is replaced: %s",
                    path,
                    exc,
                )
                return default_classifier()
            _loaded.clear()
            _loaded[key] = classifier
            logger.info("Loaded categoriser model %s", path)
        return _loaded[key]
