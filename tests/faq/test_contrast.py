"""WCAG 2.1 AA contrast of the colour pairs the help centre stylesheet uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "static" / "faq" / "help.css"


def variables() -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", CSS.read_text()))


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize(
    ("foreground", "background", "minimum"),
    [
        ("ink", "paper", 4.5),
        ("ink", "canvas", 4.5),
        ("muted", "paper", 4.5),
        ("muted", "canvas", 4.5),
        ("link", "paper", 4.5),
        ("link", "canvas", 4.5),
        ("link", "brand-soft", 4.5),
        ("brand", "paper", 4.5),
        ("error", "paper", 4.5),
        ("#ffffff", "brand", 4.5),
        ("#ffffff", "accent", 4.5),
        ("accent", "paper", 4.5),
        # Focus ring against the header and the page: non-text contrast needs 3:1.
        ("focus", "brand", 3.0),
        ("ink", "focus", 3.0),
    ],
)
def test_colour_pair_meets_wcag_aa(foreground: str, background: str, minimum: float) -> None:
    palette = variables()
    first = foreground if foreground.startswith("#") else palette[foreground]
    second = background if background.startswith("#") else palette[background]

    assert contrast(first, second) >= minimum
