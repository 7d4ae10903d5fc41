"""Provider hints: desk tags and form fields that name a category outright.

A Zendesk tag "payments" or a help-centre form field "topic: login" is a choice the
customer or an agent already made, so it outranks anything read from the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .categories import ACCOUNT, CHARITY, DONATION, LABELS, PAYMENT, TECHNICAL, UNCATEGORISED
from .text import fold

# Keys are folded, with "-", "_" and "/" read as spaces.
HINT_CATEGORIES: dict[str, str] = {
    # Donation Issues
    "donation": DONATION,
    "donations": DONATION,
    "donation issue": DONATION,
    "recurring": DONATION,
    "recurring donation": DONATION,
    "receipt": DONATION,
    "receipts": DONATION,
    "tax certificate": DONATION,
    "18a": DONATION,
    "section 18a": DONATION,
    "employee matching": DONATION,
    # Payment Issues
    "payment": PAYMENT,
    "payments": PAYMENT,
    "billing": PAYMENT,
    "refund": PAYMENT,
    "refunds": PAYMENT,
    "card payment": PAYMENT,
    "eft": PAYMENT,
    "debit order": PAYMENT,
    "snapscan": PAYMENT,
    "zapper": PAYMENT,
    "corporate invoice": PAYMENT,
    # Account Problems
    "account": ACCOUNT,
    "accounts": ACCOUNT,
    "login": ACCOUNT,
    "log in": ACCOUNT,
    "sign in": ACCOUNT,
    "password": ACCOUNT,
    "otp": ACCOUNT,
    "2fa": ACCOUNT,
    "privacy": ACCOUNT,
    "popia": ACCOUNT,
    "gdpr": ACCOUNT,
    # Technical Support
    "bug": TECHNICAL,
    "bugs": TECHNICAL,
    "technical": TECHNICAL,
    "tech support": TECHNICAL,
    "api": TECHNICAL,
    "widget": TECHNICAL,
    "integration": TECHNICAL,
    "mobile app": TECHNICAL,
    # Charity Questions
    "charity": CHARITY,
    "charities": CHARITY,
    "npo": CHARITY,
    "payout": CHARITY,
    "payouts": CHARITY,
    "verification": CHARITY,
    "charity onboarding": CHARITY,
    "onboarding": CHARITY,
}
# Category values and labels ("payment_issues", "Payment Issues") are hints too.
for _value, _label in LABELS.items():
    if _value != UNCATEGORISED:
        HINT_CATEGORIES[fold(_value).replace("_", " ")] = _value
        HINT_CATEGORIES[fold(_label)] = _value

_SEPARATORS = re.compile(r"[-_/\s]+")


def normalise_hint(hint: str) -> str:
    """Fold a hint and keep only the value of a "key: value" or "key=value" pair."""
    value = re.split(r"[:=]", hint)[-1]
    return _SEPARATORS.sub(" ", fold(value)).strip()


def category_from_hints(hints: Sequence[str]) -> tuple[str, str] | None:
    """Return (category, hint) for the first hint that names a category, or None.

    Hints are read in the order given, so a caller that has several should pass the most
    specific first.
    """
    for hint in hints:
        category = HINT_CATEGORIES.get(normalise_hint(hint))
        if category is not None:
            return category, hint
    return None
