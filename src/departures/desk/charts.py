"""Charts drawn on the server as inline SVG: nothing fetched, nothing run in the browser.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (what a screen
reader announces), and every bar carries its value as text beside it, so the figures are
readable without seeing the bars' lengths. Colours are SVG attributes (the desk's CSP
allows no inline styles) with a contrast of at least 4.5:1 on white for the text.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

__all__ = ["bar_chart"]

_BAR = "#1d5fa8"  # 6.4:1 on white
_TEXT = "#1a1a1a"


def bar_chart(
    title: str,
    description: str,
    items: Sequence[tuple[str, int]],
    *,
    value_text: Sequence[str] | None = None,
    width: int = 640,
    row: int = 26,
    label_width: int = 230,
) -> Markup:
    """Horizontal bars for ``items`` (label, value), longest value = full width.

    ``value_text`` (one per item) is the value as written beside its bar (a localised
    number); by default the plain number.
    """
    ident = "c" + secrets.token_hex(4)
    height = max(row, row * len(items)) + 8
    values = value_text or [str(value) for _, value in items]
    top = max((value for _, value in items), default=0) or 1
    room = width - label_width - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{ident}t {ident}d">',
        f'<title id="{ident}t">{escape(title)}</title>',
        f'<desc id="{ident}d">{escape(description)}</desc>',
    ]
    for index, ((label, value), shown) in enumerate(zip(items, values, strict=True)):
        y = 4 + index * row
        length = round(room * value / top) if value else 0
        parts.append(
            f'<text x="{label_width - 8}" y="{y + row * 0.65:.1f}" text-anchor="end" '
            f'fill="{_TEXT}" font-size="14">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{max(length, 1)}" '
            f'height="{row - 8}" fill="{_BAR}"><title>{escape(label)}: {escape(shown)}</title>'
            f"</rect>"
            f'<text x="{label_width + length + 6}" y="{y + row * 0.65:.1f}" fill="{_TEXT}" '
            f'font-size="14">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
