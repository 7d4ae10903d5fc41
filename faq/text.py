"""Text folding shared by slugs and search: transliteration to ASCII, case and accents."""

from __future__ import annotations

import re
import unicodedata

from anyascii import anyascii

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_WORD = re.compile(r"[0-9a-z]+(?:[-'][0-9a-z]+)*")


def slugify_title(title: str, *, max_length: int = 200) -> str:
    """Return an ASCII slug for a title in any script, e.g. "Só skenk jy" → "so-skenk-jy".

    Non-Latin scripts are transliterated (anyascii), so a Cyrillic or Chinese title still
    gives a readable, non-empty slug.
    """
    ascii_text = anyascii(title).lower()
    slug = _NOT_SLUG.sub("-", ascii_text).strip("-")
    return slug[:max_length].rstrip("-")


def fold_char(char: str) -> str:
    """Return one character without accents, in lower case; always exactly one character.

    Keeping the length lets a position in the folded text point into the original text.
    """
    decomposed = unicodedata.normalize("NFKD", char)
    base = "".join(c for c in decomposed if not unicodedata.combining(c)) or char
    lowered = base.lower()
    return lowered[0] if lowered else char


def fold(text: str) -> str:
    """Return text in lower case without accents, character for character."""
    if text.isascii():
        return text.lower()
    return "".join(fold_char(c) for c in text)


def words(text: str) -> list[str]:
    """Return the folded words of text, in order, repeats kept."""
    return _WORD.findall(fold(text))


def edit_distance(first: str, second: str) -> int:
    """Return the optimal string alignment distance: insertions, deletions, substitutions and
    swaps of two neighbouring letters each cost 1, so "reciept" is 1 from "receipt"."""
    previous_row: list[int] = []
    row = list(range(len(second) + 1))
    for i, first_char in enumerate(first, start=1):
        before, previous_row, row = previous_row, row, [i] + [0] * len(second)
        for j, second_char in enumerate(second, start=1):
            cost = 0 if first_char == second_char else 1
            row[j] = min(previous_row[j] + 1, row[j - 1] + 1, previous_row[j - 1] + cost)
            if i > 1 and j > 1 and first_char == second[j - 2] and first[i - 2] == second_char:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]
