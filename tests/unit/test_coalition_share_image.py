"""The share image's text: letters a font cannot draw lose their accent, not their place."""

from __future__ import annotations

from PIL import ImageFont

from departures.coalition.share_image import _printable


def test_pillows_bundled_font_draws_french_without_accents_rather_than_boxes() -> None:
    bundled = ImageFont.load_default(size=40)
    assert _printable("Décidé — ça 漢", bundled) == "Decide - ca ?"


def test_plain_text_is_unchanged() -> None:
    bundled = ImageFont.load_default(size=40)
    assert _printable("Leave X together: 12 gone", bundled) == "Leave X together: 12 gone"
