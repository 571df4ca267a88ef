"""A goal's line over the supervision, drawn on the server as a small SVG
(docs/api.md, "Where guidance is going"): one point per rating, at the
session's day across the supervision and at the rating's level (mundur, tetap,
maju, tercapai), joined in order; the stages' starts as thin rules. No script:
it prints as it shows and fits a phone's width (it scales with its box).
Every point carries a <title> with its day and rating, and the page lists the
same ratings as badges beside it, so nothing rests on the picture alone."""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

from server.web.charts import PALETTE

LEVELS = ("mundur", "tetap", "maju", "tercapai")
WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 320, 96, 62, 6, 14


def goal_chart(points: list[tuple[date, str, str]], start: date, end: date, labels: dict[str, str], stage_starts: list[date], title: str) -> Markup:
    """``points``: (day, rating, text of its title) in order; ``labels``: each level's word."""
    span = max((end - start).days, 1)
    inner_w, inner_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + inner_w * min(max((day - start).days, 0), span) / span

    def y(rating: str) -> float:
        return TOP + inner_h * (len(LEVELS) - 1 - LEVELS.index(rating)) / (len(LEVELS) - 1)

    out = [f'<svg class="goal-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for level in LEVELS:
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y(level):.1f}" y2="{y(level):.1f}" stroke="#ddd"/>'
                   f'<text x="{LEFT - 4}" y="{y(level) + 4:.1f}" font-size="10" text-anchor="end">{escape(labels[level])}</text>')
    for first in stage_starts:
        if start < first <= end:
            out.append(f'<line x1="{x(first):.1f}" x2="{x(first):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#999" stroke-dasharray="2 2"/>')
    out.append(f'<text x="{LEFT}" y="{HEIGHT - 2}" font-size="9">{start.strftime("%d-%m-%Y")}</text>'
               f'<text x="{WIDTH - 8}" y="{HEIGHT - 2}" font-size="9" text-anchor="end">{end.strftime("%d-%m-%Y")}</text>')
    if points:
        path = " ".join(f"{x(day):.1f},{y(rating):.1f}" for day, rating, _ in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
        for day, rating, text in points:
            fill = PALETTE[2] if rating == "tercapai" else PALETTE[0]
            out.append(f'<circle cx="{x(day):.1f}" cy="{y(rating):.1f}" r="4" fill="{fill}" data-rating="{rating}"><title>{escape(text)}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))
