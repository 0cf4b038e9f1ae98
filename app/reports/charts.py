"""Small charts drawn on the server as SVG (no chart library, nothing from a CDN): they
scale with the screen, print as they are, and carry a title and a description for
screen readers; every chart sits beside a table of the same numbers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

INK, MUTED, BAR, TARGET, GRID = "#1c1917", "#57534e", "#9b1c1c", "#1d4ed8", "#e7e5e4"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    target: float | None = None  # a marker drawn across the bar


def _id(title: str) -> str:
    return hashlib.sha1(title.encode()).hexdigest()[:8]


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}".replace(",", ".")
    return f"{value:.1f}".replace(".", ",")


def bars(title: str, items: list[Bar], *, unit: str = "", width: int = 360) -> Markup:
    """Horizontal bars, one per row (labels above their bar, so long Vietnamese unit names
    fit a phone); a target, when given, is a blue tick across the bar."""
    row = 44
    height = 24 + row * max(len(items), 1)
    top = max([b.value for b in items] + [b.target or 0 for b in items] + [1])
    inner = width - 70
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="c-{_id(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="c-{_id(title)}">{escape(title)}</title>',
    ]
    for i, item in enumerate(items):
        y = 12 + i * row
        length = inner * item.value / top
        parts.append(
            f'<text x="0" y="{y + 10}" font-size="12" fill="{INK}">{escape(item.label)}</text>'
            f'<rect x="0" y="{y + 16}" width="{inner}" height="14" fill="{GRID}" rx="3"/>'
            f'<rect x="0" y="{y + 16}" width="{length:.1f}" height="14" fill="{BAR}" rx="3"/>'
            f'<text x="{inner + 6}" y="{y + 28}" font-size="12" fill="{INK}">'
            f"{_number(item.value)}{escape(unit)}</text>"
        )
        if item.target is not None:
            x = inner * item.target / top
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 13}" y2="{y + 33}" '
                f'stroke="{TARGET}" stroke-width="3"/>'
            )
    if not items:
        parts.append(f'<text x="0" y="30" font-size="12" fill="{MUTED}">Chưa có số liệu</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def columns(title: str, labels: list[str], values: list[float], *, width: int = 360) -> Markup:
    """Vertical columns over time (a week each), the value above each column."""
    height, bottom, left = 170, 140, 4
    n = max(len(values), 1)
    step = (width - left) / n
    top = max([*values, 1])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="c-{_id(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="c-{_id(title)}">{escape(title)}</title>',
        f'<line x1="0" x2="{width}" y1="{bottom}" y2="{bottom}" stroke="{MUTED}"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = (bottom - 24) * value / top
        x = left + i * step
        w = max(step * 0.6, 4)
        parts.append(
            f'<rect x="{x + (step - w) / 2:.1f}" y="{bottom - h:.1f}" width="{w:.1f}" '
            f'height="{h:.1f}" fill="{BAR}" rx="2"/>'
            f'<text x="{x + step / 2:.1f}" y="{bottom - h - 4:.1f}" font-size="11" '
            f'text-anchor="middle" fill="{INK}">{_number(value)}</text>'
            f'<text x="{x + step / 2:.1f}" y="{bottom + 16}" font-size="10" '
            f'text-anchor="middle" fill="{MUTED}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
