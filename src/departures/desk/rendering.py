"""The desk's HTML: one Jinja environment per language over ``desk/templates`` (autoescaped,
translated with the gettext catalogues), and the request's language.

The language comes from the ``desk_lang`` cookie the switcher sets, else the browser's
``Accept-Language``, else English.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from departures.coalition.i18n import translations
from departures.desk.charts import bar_chart

__all__ = ["LANGUAGES", "LANGUAGE_COOKIE", "TEMPLATES", "Renderer", "language_of"]

TEMPLATES = Path(__file__).parent / "templates"
#: The desk's languages, each named in itself (the switcher shows these names).
LANGUAGES: dict[str, str] = {"en": "English", "nl": "Nederlands", "fr": "Français"}
LANGUAGE_COOKIE = "desk_lang"


def language_of(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The page's language: the switcher's choice, else the browser's, else English."""
    chosen = cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    offered: list[tuple[float, int, str]] = []
    for index, part in enumerate(headers.get("accept-language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and quality > 0:
            offered.append((-quality, index, base))
    return min(offered)[2] if offered else "en"


@cache
def _environment(language: str) -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(  # type: ignore[attr-defined]
        translations(language), newstyle=True
    )
    environment.globals["lang"] = language
    environment.globals["languages"] = LANGUAGES
    environment.filters["number"] = number
    environment.globals["chart"] = bar_chart
    return environment


def number(value: int | float, language: str = "en") -> str:
    """A count as people of ``language`` write it (12,345 / 12.345 / 12 345)."""
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
    if language == "nl":
        return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    if language == "fr":
        return text.replace(",", "\u202f").replace(".", ",")
    return text


class Renderer:
    """Renders the desk's templates, with the navigation every page shows."""

    def __init__(self, steps: Sequence[Any]) -> None:
        self.steps = steps

    def render(self, template: str, language: str, **values: Any) -> str:
        """``template`` rendered in ``language``."""
        environment = _environment(language)
        return environment.get_template(template).render(steps=self.steps, **values)
