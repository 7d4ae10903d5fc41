"""Text normalisation shared by the rules, the hints and the classifier."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD = re.compile(r"\w+")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


# The rules, the acknowledgement check and the classifier each fold the same subject and
# body, so a few recent results are kept.
@lru_cache(maxsize=64)
def fold(text: str) -> str:
    """Lower-case text and strip accents, so "Môre" and "more" compare equal."""
    if text.isascii():
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return stripped.casefold()


def words(folded: str) -> list[str]:
    """Split folded text into word tokens, dropping punctuation and spacing between words."""
    return _WORD.findall(folded)


def phrase_key(phrase: str) -> str:
    """Return the lookup key of a rule phrase: its folded words joined by single spaces.

    "Sign-in", "sign in" and "SIGN  IN" all give "sign in", so a phrase matches the same
    words whatever punctuation or spacing separates them in a message.
    """
    return " ".join(words(fold(phrase)))
