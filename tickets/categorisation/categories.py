"""Category values and labels as the categoriser uses them.

The values match tickets.models.Category; they are repeated here so the core runs without
Django. A database test checks that the two stay equal.
"""

from __future__ import annotations

DONATION = "donation_issues"
ACCOUNT = "account_problems"
TECHNICAL = "technical_support"
CHARITY = "charity_questions"
PAYMENT = "payment_issues"
UNCATEGORISED = "uncategorised"

LABELS: dict[str, str] = {
    DONATION: "Donation Issues",
    ACCOUNT: "Account Problems",
    TECHNICAL: "Technical Support",
    CHARITY: "Charity Questions",
    PAYMENT: "Payment Issues",
    UNCATEGORISED: "Uncategorised",
}

# The five categories a rule may vote for. UNCATEGORISED is the absence of a decision.
RULE_CATEGORIES: tuple[str, ...] = (DONATION, ACCOUNT, TECHNICAL, CHARITY, PAYMENT)

_VALUES_BY_LABEL = {label.casefold(): value for value, label in LABELS.items()}


def label_for(category: str) -> str:
    """Return the display label of a category value, e.g. "Payment Issues"."""
    return LABELS[category]


def value_for_label(label: str) -> str:
    """Return the category value for a display label or a value, or raise KeyError."""
    if label in LABELS:
        return label
    return _VALUES_BY_LABEL[label.casefold()]
