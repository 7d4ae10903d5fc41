"""Plain records passed into and out of the categoriser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class MessageText:
    """The parts of an inbound message that the categoriser reads."""

    subject: str = ""
    body: str = ""
    channel: str = ""
    from_name: str = ""
    from_email: str = ""


@dataclass(frozen=True)
class Rule:
    """A phrase that adds its weight to a category when a message contains it.

    Mirrors tickets.models.CategoryRule. `field` is "any", "subject" or "body".
    """

    category: str
    phrase: str
    weight: float = 1.0
    field: str = "any"
    enabled: bool = True
    note: str = ""


@dataclass(frozen=True)
class RuleMatch:
    """One rule found in a message, with the weight it added."""

    phrase: str
    category: str
    weight: float


@dataclass(frozen=True)
class Decision:
    """The category chosen for a message and why.

    `method` is "hint", "rules", "classifier" or "none"; `confidence` is between 0 and 1.
    """

    category: str
    reason: str
    confidence: float
    method: str
    matches: tuple[RuleMatch, ...] = field(default=(), compare=False)
    terms: tuple[str, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Prediction:
    """A classifier's best category, its probability, and the terms that pushed it there.

    `terms` contains (term, contribution) pairs, largest contribution first.
    """

    category: str
    probability: float
    probabilities: dict[str, float] = field(compare=False)
    terms: tuple[tuple[str, float], ...] = field(default=(), compare=False)


class Classifier(Protocol):
    """Anything that predicts a category from message text and explains the prediction."""

    def predict(self, message: MessageText) -> Prediction: ...
