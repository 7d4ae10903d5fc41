from __future__ import annotations

import pytest

from faq.text import edit_distance, fold, slugify_title, words


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Só skenk jy: vinnige gids in Afrikaans", "so-skenk-jy-vinnige-gids-in-afrikaans"),
        (
            "Café fundraisers: banking cash from a bake sale or braai",
            "cafe-fundraisers-banking-cash-from-a-bake-sale-or-braai",
        ),
        ("Ngiyabonga — uMzansi", "ngiyabonga-umzansi"),
        ("Straße & Łódź", "strasse-lodz"),
        ("Как сделать пожертвование?", "kak-sdelat-pozhertvovanie"),
        ("如何捐款", "ruhejuankuan"),
        ("  --What's new?--  ", "what-s-new"),
    ],
)
def test_slugify_title_transliterates(title: str, slug: str) -> None:
    assert slugify_title(title) == slug


def test_slugify_title_respects_max_length() -> None:
    slug = slugify_title("word " * 100, max_length=20)

    assert len(slug) <= 20
    assert not slug.endswith("-")


def test_fold_keeps_length() -> None:
    original = "Só skenk jy, CAFÉ, naïve, İstanbul"

    folded = fold(original)

    assert len(folded) == len(original)
    assert folded.startswith("so skenk jy, cafe, naive, i")


def test_words_are_folded() -> None:
    assert words("Café-gids: Só SKENK jy 18A") == ["cafe-gids", "so", "skenk", "jy", "18a"]


@pytest.mark.parametrize(
    ("first", "second", "distance"),
    [
        ("reciept", "receipt", 1),
        ("refnd", "refund", 1),
        ("kwitansy", "kwitansie", 2),
        ("", "abc", 3),
        ("same", "same", 0),
        ("ab", "ba", 1),
    ],
)
def test_edit_distance(first: str, second: str, distance: int) -> None:
    assert edit_distance(first, second) == distance
