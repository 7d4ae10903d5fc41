"""Phrase rules: each rule found in a message adds its weight to its category."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .categories import RULE_CATEGORIES
from .text import fold, phrase_key, words
from .types import MessageText, Rule, RuleMatch

FIELDS = ("any", "subject", "body")
DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "data" / "default_rules.json"


@dataclass(frozen=True)
class RuleScores:
    """Summed rule weights per category, and the rules that matched, heaviest first."""

    totals: dict[str, float]
    matches: tuple[RuleMatch, ...]

    def ranked(self) -> list[tuple[str, float]]:
        """Return (category, total) pairs, highest total first and ties in category order."""
        order = {category: i for i, category in enumerate(RULE_CATEGORIES)}
        return sorted(self.totals.items(), key=lambda item: (-item[1], order[item[0]]))

    def matches_for(self, category: str) -> tuple[RuleMatch, ...]:
        return tuple(match for match in self.matches if match.category == category)


@dataclass(frozen=True)
class CompiledRules:
    """Enabled rules indexed by phrase key, for one pass over a message's words.

    `phrase_starts` contains the first word of every multi-word phrase, so word n-grams are
    only built where a phrase can begin.
    """

    by_key: dict[str, tuple[Rule, ...]]
    max_words: int
    phrase_starts: frozenset[str]


def validate_rule(rule: Rule) -> None:
    """Raise ValueError if a rule could never match or names an unknown category or field."""
    if rule.category not in RULE_CATEGORIES:
        raise ValueError(
            f"Rule {rule.phrase!r} names category {rule.category!r}; "
            f"use one of {', '.join(RULE_CATEGORIES)}."
        )
    if rule.field not in FIELDS:
        raise ValueError(
            f"Rule {rule.phrase!r} has field {rule.field!r}; use any, subject or body."
        )
    if not phrase_key(rule.phrase):
        raise ValueError(f"Rule phrase {rule.phrase!r} contains no letters or digits.")


@lru_cache(maxsize=8)
def compile_rules(rules: tuple[Rule, ...]) -> CompiledRules:
    """Index enabled rules by their phrase key, or raise ValueError on an invalid rule.

    Cached by the rules tuple, so callers that pass the same rules reuse the index.
    """
    by_key: dict[str, list[Rule]] = defaultdict(list)
    max_words = 1
    phrase_starts = set()
    for rule in rules:
        if not rule.enabled:
            continue
        validate_rule(rule)
        key = phrase_key(rule.phrase)
        by_key[key].append(rule)
        key_words = key.split(" ")
        max_words = max(max_words, len(key_words))
        if len(key_words) > 1:
            phrase_starts.add(key_words[0])
    return CompiledRules(
        {key: tuple(matched) for key, matched in by_key.items()},
        max_words,
        frozenset(phrase_starts),
    )


# Compiled rules for tuples seen recently, found by identity: hashing a few hundred rules
# for every message would cost more than scoring them.
_COMPILED_BY_IDENTITY: dict[int, tuple[tuple[Rule, ...], CompiledRules]] = {}


def compiled(rules: Sequence[Rule]) -> CompiledRules:
    """Return the compiled form of rules, reusing it when the same tuple is passed again."""
    if not isinstance(rules, tuple):
        return compile_rules(tuple(rules))
    entry = _COMPILED_BY_IDENTITY.get(id(rules))
    if entry is not None and entry[0] is rules:
        return entry[1]
    result = compile_rules(rules)
    if len(_COMPILED_BY_IDENTITY) >= 8:
        _COMPILED_BY_IDENTITY.clear()
    _COMPILED_BY_IDENTITY[id(rules)] = (rules, result)
    return result


def _word_ngrams(tokens: list[str], index: CompiledRules) -> set[str]:
    grams = set(tokens)
    for start, token in enumerate(tokens):
        if token in index.phrase_starts:
            for n in range(2, index.max_words + 1):
                if start + n > len(tokens):
                    break
                grams.add(" ".join(tokens[start : start + n]))
    return grams


def score_rules(message: MessageText, rules: Sequence[Rule]) -> RuleScores:
    """Add up the weights of the rules found in a message.

    A rule counts once however often its phrase occurs. Phrases match whole words after
    case and accent folding, so "kanselleer" matches "Kanselleer," but not "kanselleerde".
    """
    index = compiled(rules)
    subject_grams = _word_ngrams(words(fold(message.subject)), index)
    body_grams = _word_ngrams(words(fold(message.body)), index)

    totals = dict.fromkeys(RULE_CATEGORIES, 0.0)
    matches: list[RuleMatch] = []
    for gram in subject_grams | body_grams:
        for rule in index.by_key.get(gram, ()):
            if rule.field == "subject" and gram not in subject_grams:
                continue
            if rule.field == "body" and gram not in body_grams:
                continue
            totals[rule.category] += rule.weight
            matches.append(RuleMatch(rule.phrase, rule.category, rule.weight))

    matches.sort(key=lambda match: (-abs(match.weight), match.phrase))
    return RuleScores(totals, tuple(matches))


def load_rules_file(path: Path = DEFAULT_RULES_PATH) -> tuple[Rule, ...]:
    """Read rules from a JSON list of objects, or raise ValueError naming the first bad one.

    Each object has "category", "phrase" and optionally "weight" (default 1.0), "field"
    (default "any"), "enabled" (default true) and "note" (default empty).
    """
    entries = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path} must contain a JSON list of rules.")
    rules = []
    for number, entry in enumerate(entries, start=1):
        try:
            rule = Rule(
                category=str(entry["category"]),
                phrase=str(entry["phrase"]),
                weight=float(entry.get("weight", 1.0)),
                field=str(entry.get("field", "any")),
                enabled=bool(entry.get("enabled", True)),
                note=str(entry.get("note", "")),
            )
            validate_rule(rule)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: rule {number} is invalid: {exc}") from exc
        rules.append(rule)
    return tuple(rules)


@lru_cache(maxsize=1)
def default_rules() -> tuple[Rule, ...]:
    """Return the rules shipped in data/default_rules.json, read once per process."""
    return load_rules_file(DEFAULT_RULES_PATH)
