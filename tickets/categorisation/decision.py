"""Choose a category for a message from provider hints, phrase rules and the classifier.

The order is fixed. A provider hint decides outright. Next, a message with no text or a
bare thank-you is left uncategorised. Otherwise rule scores and classifier probabilities
are blended, each category scoring

    classifier probability + RULES_WEIGHT * rule evidence

where a category's rule evidence is its share of the positive rule weight, scaled down
when little matched in total (see rule_evidence). Several strong phrases therefore
override a hesitant classifier, while a lone generic word only tips a close decision. The
classifier decides alone when no rule matched.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .acknowledgements import content_free_reason
from .categories import RULE_CATEGORIES, UNCATEGORISED, label_for
from .hints import category_from_hints
from .rules import RuleScores, score_rules
from .types import Classifier, Decision, MessageText, Prediction, Rule, RuleMatch

# How much the rules count against the classifier's probabilities. Five-fold
# cross-validation on the training split chose it, and so does scoring only the training
# messages the rules were not written from (see docs/bench/categorisation.md).
RULES_WEIGHT = 1.0
# Positive rule weight at which rule evidence reaches 63 % of full strength: one strong
# phrase (+3) gives 0.63, two give 0.86 and a lone +1 word gives 0.28.
RULES_SATURATION = 3.0
# Rule matches and classifier terms listed in a reason.
REASON_ITEMS = 3


def categorise(
    message: MessageText,
    *,
    rules: Sequence[Rule],
    classifier: Classifier | None,
    hints: Sequence[str] = (),
) -> Decision:
    """Return the category of a message, how it was chosen and a reason an agent can read.

    Raises ValueError if a rule names an unknown category or field.
    """
    hinted = category_from_hints(hints)
    if hinted is not None:
        category, hint = hinted
        return Decision(category, f'hint "{hint}" → {label_for(category)}', 1.0, "hint")

    empty_reason = content_free_reason(message)
    if empty_reason is not None:
        return Decision(UNCATEGORISED, empty_reason, 1.0, "none")

    scores = score_rules(message, rules)
    prediction = classifier.predict(message) if classifier is not None else None
    return combine(scores, prediction)


def rule_evidence(scores: RuleScores) -> dict[str, float]:
    """Return each category's rule evidence, between 0 and 1 and all zero if nothing matched.

    The evidence is the category's share of the positive rule weight, times
    1 - exp(-total positive weight / RULES_SATURATION).
    """
    positive = {category: max(total, 0.0) for category, total in scores.totals.items()}
    total = sum(positive.values())
    if total == 0:
        return dict.fromkeys(positive, 0.0)
    strength = 1.0 - math.exp(-total / RULES_SATURATION)
    return {category: strength * weight / total for category, weight in positive.items()}


def combine(scores: RuleScores, prediction: Prediction | None) -> Decision:
    """Blend rule scores with a classifier prediction into one decision."""
    evidence = rule_evidence(scores)
    rules_matched = any(evidence.values())
    if prediction is None:
        return _rules_only(scores, evidence)

    categories = set(prediction.probabilities) | set(RULE_CATEGORIES)
    rule_weight = RULES_WEIGHT if rules_matched else 0.0
    blended = {
        category: prediction.probabilities.get(category, 0.0)
        + rule_weight * evidence.get(category, 0.0)
        for category in categories
    }
    best = max(sorted(categories), key=lambda category: blended[category])
    confidence = blended[best] / sum(blended.values())
    rules_best = max(RULE_CATEGORIES, key=lambda category: evidence[category])

    if rules_matched and best == rules_best:
        reason = _rules_reason(scores, best)
        if prediction.category == best:
            reason += f"; classifier agrees ({prediction.probability:.2f})"
        else:
            reason += (
                f"; classifier preferred {label_for(prediction.category)} "
                f"({prediction.probability:.2f})"
            )
        return _decision(best, reason, confidence, "rules", scores, prediction)

    if best == prediction.category:
        reason = _classifier_reason(prediction)
        if rules_matched:
            reason += (
                f"; rules preferred {label_for(rules_best)} "
                f"({_phrases(scores.matches_for(rules_best))})"
            )
        return _decision(best, reason, confidence, "classifier", scores, prediction)

    # Neither ranked this category first, but it came second in both.
    probability = prediction.probabilities.get(best, 0.0)
    reason = f"classifier {probability:.2f}"
    method = "classifier"
    if scores.matches_for(best):
        reason += f" and rules {_phrases(scores.matches_for(best))}"
        method = "rules"
    reason += f" together → {label_for(best)}"
    return _decision(best, reason, confidence, method, scores, prediction)


def _rules_only(scores: RuleScores, evidence: dict[str, float]) -> Decision:
    ranked = scores.ranked()
    best, top = ranked[0]
    if top <= 0:
        return Decision(UNCATEGORISED, "no rule matched and no classifier available", 0.0, "none")
    return _decision(best, _rules_reason(scores, best), evidence[best], "rules", scores, None)


def _decision(
    category: str,
    reason: str,
    confidence: float,
    method: str,
    scores: RuleScores,
    prediction: Prediction | None,
) -> Decision:
    terms = tuple(term for term, _ in prediction.terms) if prediction is not None else ()
    return Decision(
        category=category,
        reason=reason,
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        method=method,
        matches=scores.matches_for(category),
        terms=terms,
    )


def _rules_reason(scores: RuleScores, category: str) -> str:
    return f"rules: {_phrases(scores.matches_for(category))} → {label_for(category)}"


def _phrases(matches: Sequence[RuleMatch]) -> str:
    listed = [f'"{match.phrase}" ({match.weight:+.1f})' for match in matches[:REASON_ITEMS]]
    if len(matches) > REASON_ITEMS:
        listed.append(f"{len(matches) - REASON_ITEMS} more")
    return ", ".join(listed)


def _classifier_reason(prediction: Prediction) -> str:
    label = label_for(prediction.category)
    if not prediction.terms:
        return f"classifier {prediction.probability:.2f} → {label}"
    terms = ", ".join(f'"{term}"' for term, _ in prediction.terms[:REASON_ITEMS])
    return f"classifier {prediction.probability:.2f}: top terms {terms} → {label}"
