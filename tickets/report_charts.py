"""Small server-rendered SVG charts for the SLA report; no JavaScript, no chart library.

Every label passes through Django's escaping, and the markup is marked safe only afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

ACHIEVED_COLOUR = "#2f855a"
BREACHED_COLOUR = "#c53030"
OPEN_COLOUR = "#a0aec0"
LINE_COLOUR = "#2b6cb0"
GRID_COLOUR = "#e2e8f0"
TEXT_COLOUR = "#4a5568"


@dataclass(frozen=True)
class StackedBar:
    label: str
    achieved: int
    breached: int
    open: int
    # Attainment in 0..1, drawn as a dot on the right-hand scale; None when nothing decided.
    attainment: float | None
    title: str = ""


def stacked_bars(
    bars: Sequence[StackedBar],
    *,
    width: int = 880,
    height: int = 220,
    label_every: int = 1,
    connect_attainment: bool = True,
) -> SafeString:
    """Render bars of achieved, breached and open timers, with attainment as dots.

    With `connect_attainment` the dots are joined by a dashed line. Days with a handful of
    timers swing between 0% and 100%, so a daily chart reads better without the line.
    """
    left, right, top, bottom = 36, 40, 12, 28
    plot_width = width - left - right
    plot_height = height - top - bottom
    highest = max((bar.achieved + bar.breached + bar.open for bar in bars), default=0)
    scale_max = _nice_ceiling(highest)
    slot = plot_width / max(len(bars), 1)
    bar_width = max(2.0, slot * 0.7)

    parts = [_svg_open(width, height, "Timers per period: achieved, breached and open")]
    parts += _grid(left, top, plot_width, plot_height, scale_max)
    points: list[tuple[float, float]] = []
    for index, bar in enumerate(bars):
        x = left + index * slot + (slot - bar_width) / 2
        base: float = top + plot_height
        for value, colour in (
            (bar.achieved, ACHIEVED_COLOUR),
            (bar.breached, BREACHED_COLOUR),
            (bar.open, OPEN_COLOUR),
        ):
            if not value:
                continue
            segment = plot_height * value / scale_max
            base -= segment
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar_width:.1f}" height="{segment:.1f}" '
                f'fill="{colour}"><title>{escape(bar.title or bar.label)}</title></rect>'
            )
        if bar.attainment is not None:
            points.append((x + bar_width / 2, top + plot_height * (1 - bar.attainment)))
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_width / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="10" fill="{TEXT_COLOUR}">{escape(bar.label)}</text>'
            )
    if points and connect_attainment:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5" '
            'stroke-dasharray="3 2"/>'
        )
    if points:
        parts += [
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LINE_COLOUR}"/>' for x, y in points
        ]
    parts += _percent_axis(left + plot_width, top, plot_height)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated label is escaped above


def horizontal_bars(
    rows: Sequence[tuple[str, int, int, int]], *, width: int = 420, bar_height: int = 18
) -> SafeString:
    """Render one stacked horizontal bar per (label, achieved, breached, open) row."""
    label_width, gap, right = 150, 6, 40
    height = max(len(rows), 1) * (bar_height + gap) + gap
    highest = max((a + b + o for _, a, b, o in rows), default=0) or 1
    plot_width = width - label_width - right
    parts = [_svg_open(width, height, "Timers by group: achieved, breached and open")]
    for index, (label, achieved, breached, open_count) in enumerate(rows):
        y = gap + index * (bar_height + gap)
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height * 0.72:.1f}" text-anchor="end" '
            f'font-size="11" fill="{TEXT_COLOUR}">{escape(label)}</text>'
        )
        x = float(label_width)
        for value, colour in (
            (achieved, ACHIEVED_COLOUR),
            (breached, BREACHED_COLOUR),
            (open_count, OPEN_COLOUR),
        ):
            if not value:
                continue
            length = plot_width * value / highest
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                f'fill="{colour}"/>'
            )
            x += length
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + bar_height * 0.72:.1f}" font-size="11" '
            f'fill="{TEXT_COLOUR}">{achieved + breached + open_count}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated label is escaped above


def _svg_open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, -apple-system, Segoe UI, sans-serif">'
    )


def _grid(left: int, top: int, width: float, height: float, scale_max: int) -> list[str]:
    parts = []
    for step in range(5):
        value = scale_max * step / 4
        y = top + height * (1 - step / 4)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + width:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end" font-size="10" '
            f'fill="{TEXT_COLOUR}">{value:g}</text>'
        )
    return parts


def _percent_axis(x: float, top: int, height: float) -> list[str]:
    return [
        f'<text x="{x + 6:.1f}" y="{top + height * (1 - step / 4) + 3:.1f}" font-size="10" '
        f'fill="{LINE_COLOUR}">{step * 25}%</text>'
        for step in range(5)
    ]


def _nice_ceiling(value: int) -> int:
    """Return a round axis maximum of at least `value` whose quarters are whole numbers."""
    needed = max(value, 1) / 4
    magnitude = 1
    while True:
        for factor in (1, 2, 2.5, 5):
            step = factor * magnitude
            if step == int(step) and step >= needed:
                return int(4 * step)
        magnitude *= 10
