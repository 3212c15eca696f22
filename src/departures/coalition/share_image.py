"""The board's share image: the Open Graph picture (1200×630 PNG) a link to the board shows
when it is shared: the campaign's title, how many organisations have gone, the departure date.

Drawn with Pillow: in DejaVu Sans when the system has it (most Linux servers do; it covers the
accents of Dutch and French), else in the font Pillow bundles, whose few glyphs lack é or ç:
letters it cannot draw are drawn without their accents rather than as empty boxes. No font is
downloaded. The web layer renders the image once per board version.
"""

from __future__ import annotations

import functools
import io
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from departures.coalition.board import Board
from departures.coalition.i18n import _, ngettext
from departures.i18n import format_moment

__all__ = ["HEIGHT", "WIDTH", "share_png"]

WIDTH, HEIGHT = 1200, 630
MARGIN = 72
BACKGROUND = (16, 42, 67)
ACCENT = (80, 170, 255)
TEXT = (255, 255, 255)
MUTED = (190, 205, 220)
TITLE_LINES = 3


Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
SYSTEM_FONT = "DejaVuSans.ttf"
_FOLDED = {"—": "-", "–": "-", "\u00a0": " "}


@functools.cache
def _font(size: int) -> Font:
    try:
        # Pillow looks the file name up in the system's font directories.
        return ImageFont.truetype(SYSTEM_FONT, size)
    except OSError:
        # Pillow ≥ 10.1 bundles a scalable font (Aileron, a small character set).
        return ImageFont.load_default(size=size)


def _glyph(font: Font, char: str) -> tuple[object, bytes]:
    mask = font.getmask(char)
    return mask.size, bytes(mask)


@functools.cache
def _drawable(font: Font, char: str) -> str:
    """``char``, or the nearest the font can draw: without its accent, a plain dash, or "?"."""
    missing = _glyph(font, "\uffff")
    if char.isspace() or _glyph(font, char) != missing:
        return char
    if char in _FOLDED:
        return _FOLDED[char]
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(_glyph(font, c) != missing for c in base):
        return base
    return "?"


def _printable(text: str, font: Font) -> str:
    return "".join(_drawable(font, char) for char in text)


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: Font,
    width: int,
    lines: int,
) -> list[str]:
    """``text`` in at most ``lines`` lines of at most ``width`` pixels, an ellipsis if cut."""
    words = text.split()
    out: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not current:
            current = candidate
            continue
        out.append(current)
        current = word
    if current:
        out.append(current)
    out = [_fit(draw, line, font, width) for line in out]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = _fit(draw, out[-1] + "…", font, width, ellipsis=True)
    return out


def _fit(
    draw: ImageDraw.ImageDraw,
    line: str,
    font: Font,
    width: int,
    ellipsis: bool = False,
) -> str:
    # One word longer than the line (a URL, a long compound) is cut, not overflowed.
    if draw.textlength(line, font=font) <= width and not ellipsis:
        return line
    base = line.rstrip("…")
    while base and draw.textlength(base + "…", font=font) > width:
        base = base[:-1]
    return base + "…" if base != line else line


def share_png(board: Board) -> bytes:
    """The board's Open Graph image as PNG bytes."""
    campaign = board.campaign
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 16, HEIGHT), fill=ACCENT)
    title_font, count_font, line_font = _font(64), _font(96), _font(40)
    y = MARGIN
    title = _printable(campaign.title, title_font)
    for line in _wrap(draw, title, title_font, WIDTH - 2 * MARGIN, TITLE_LINES):
        draw.text((MARGIN, y), line, font=title_font, fill=TEXT)
        y += 78
    gone = board.gone_count
    count = ngettext("%(n)d organisation gone", "%(n)d organisations gone", gone) % {"n": gone}
    count = _fit(draw, _printable(count, count_font), count_font, WIDTH - 2 * MARGIN)
    draw.text((MARGIN, HEIGHT - 250), count, font=count_font, fill=ACCENT)
    when = _("Departure: %(when)s") % {"when": format_moment(campaign.departure_at, campaign.zone)}
    draw.text(
        (MARGIN, HEIGHT - MARGIN - 48), _printable(when, line_font), font=line_font, fill=MUTED
    )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
