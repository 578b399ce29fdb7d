"""The report's bar chart of rows deleted per day, drawn on the server as SVG."""

from __future__ import annotations

from datetime import date, timedelta

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_pg_retention.models import RetentionDaily


def daily_chart_svg(rows: list[RetentionDaily], first: date, last: date) -> SafeString:
    """Rows deleted per day as a bar chart, drawn on the server (nothing loaded from the internet)."""
    totals: dict[date, int] = {}
    for r in rows:
        totals[r.day] = totals.get(r.day, 0) + r.rows_deleted
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    width, height, left, bottom = 720, 180, 56, 24
    bar = (width - left) / max(len(days), 1)
    peak = max(totals.values(), default=0) or 1
    bars = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690"><title>{}: {} rows</title></rect>',
        (
            (
                f"{left + i * bar:.1f}",
                f"{height - bottom - (totals.get(d, 0) / peak) * (height - bottom - 8):.1f}",
                f"{max(bar - 1, 1):.1f}",
                f"{(totals.get(d, 0) / peak) * (height - bottom - 8):.1f}",
                d.isoformat(),
                totals.get(d, 0),
            )
            for i, d in enumerate(days)
        ),
    )
    # Text and axis in currentColor, the admin's text colour (var(--body-fg)): readable in the
    # light and the dark scheme.
    axis = format_html(
        '<text x="{}" y="14" font-size="11" text-anchor="end" fill="currentColor">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="currentColor">0</text>'
        '<text x="{}" y="{}" font-size="11" fill="currentColor">{}</text>'
        '<text x="{}" y="{}" font-size="11" text-anchor="end" fill="currentColor">{}</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor" stroke-opacity="0.5"/>',
        left - 6,
        f"{peak:,}",
        left - 6,
        height - bottom,
        left,
        height - 6,
        first.isoformat(),
        width,
        height - 6,
        last.isoformat(),
        left,
        height - bottom,
        width,
        height - bottom,
    )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="rows deleted per day" '
        'width="{}" height="{}" viewBox="0 0 {} {}" class="retention-daily-chart" '
        'style="color: var(--body-fg); max-width: 100%; height: auto">{}{}</svg>',
        width,
        height,
        width,
        height,
        axis,
        bars,
    )
