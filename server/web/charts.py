"""Small SVG charts drawn on the server: no script, no chart library, no CDN.

Each chart is a few dozen shapes, so a page of charts stays far under 150 KB
and prints as it shows. Colours are the Okabe-Ito palette (readable for the
common colour-blindnesses and distinct in greyscale print when paired with the
table every chart comes with). Every bar is a link to the rows behind it, and
carries a <title> so a pointer or a screen reader gets its figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Okabe & Ito (2008), "Color Universal Design": distinguishable by deutan, protan and tritan readers.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]
    links: list[str | None] | None = None
    color: str | None = None


def _a(href: str | None, inner: str) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def _legend(series: list[Series], y: float, width: float) -> str:
    out, x = [], 0.0
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x:.0f}" y="{y:.0f}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{x + 14:.0f}" y="{y + 9:.0f}" font-size="11">{escape(s.label)}</text>')
        x += 24 + 6.5 * len(s.label)
        if x > width - 60:
            x, y = 0.0, y + 16
    return "".join(out)


def bars(categories: list[str], series: list[Series], *, title: str, stacked: bool = True, height: int = 180, fmt=str) -> Markup:
    """Vertical bars per category (months): stacked or side by side."""
    width = max(320, 56 * len(categories) + 40)
    left, top, bottom = 36, 8, 22
    legend_rows = 1 + sum(24 + 6.5 * len(s.label) for s in series) // (width - 60)
    total_h = height + top + bottom + 16 * legend_rows + 6
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series), default=0) for i in range(len(categories))]
    top_value = max(totals + [1])
    scale = (height - 4) / top_value
    slot = (width - left) / max(len(categories), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {total_h:.0f}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    # axis: zero and top value
    parts.append(f'<line x1="{left}" y1="{top + height}" x2="{width}" y2="{top + height}" stroke="#444" stroke-width="1"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" font-size="10" text-anchor="end">{escape(fmt(top_value))}</text>')
    parts.append(f'<text x="{left - 4}" y="{top + height}" font-size="10" text-anchor="end">0</text>')
    for i, cat in enumerate(categories):
        x0 = left + i * slot + slot * 0.15
        bar_w = slot * 0.7 / (1 if stacked else max(len(series), 1))
        base = top + height
        for j, s in enumerate(series):
            v = s.values[i] or 0
            h = v * scale
            color = s.color or PALETTE[j % len(PALETTE)]
            x = x0 if stacked else x0 + j * bar_w
            y = base - h if stacked else top + height - h
            rect = (f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0):.1f}" fill="{color}">'
                    f"<title>{escape(cat)} · {escape(s.label)}: {escape(fmt(v))}</title></rect>")
            parts.append(_a(s.links[i] if s.links else None, rect))
            if stacked:
                base -= h
        parts.append(f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + height + 14}" font-size="10" text-anchor="middle">{escape(cat)}</text>')
    parts.append(_legend(series, top + height + bottom + 2, width))
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(labels: list[str], values: list[float | None], *, title: str, links: list[str | None] | None = None, maximum: float = 1.0, fmt=str, color: str = PALETTE[0]) -> Markup:
    """Horizontal bars, one per row (areas, strategies); None draws no bar."""
    row_h, label_w, width = 18, 170, 460
    height = row_h * len(labels) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    span = width - label_w - 50
    for i, (label, v) in enumerate(zip(labels, values)):
        y = 3 + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" font-size="11" text-anchor="end">{escape(label[:28])}</text>')
        if v is None:
            parts.append(f'<text x="{label_w}" y="{y + 12}" font-size="11" fill="#555">—</text>')
            continue
        w = span * min(v / maximum, 1.0) if maximum else 0
        rect = f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" fill="{color}"><title>{escape(label)}: {escape(fmt(v))}</title></rect>'
        parts.append(_a(links[i] if links else None, rect))
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 12}" font-size="11">{escape(fmt(v))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
