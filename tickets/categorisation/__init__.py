"""Ticket categorisation: provider hints, editable phrase rules and a small text classifier.

The core, categorise and the records it takes and returns, is plain Python and needs no
database. The selectors and service modules connect it to CategoryRule rows and settings.
"""

from .categories import LABELS, label_for
from .decision import categorise
from .rules import default_rules
from .types import Classifier, Decision, MessageText, Prediction, Rule

__all__ = [
    "LABELS",
    "Classifier",
    "Decision",
    "MessageText",
    "Prediction",
    "Rule",
    "categorise",
    "default_rules",
    "label_for",
]
