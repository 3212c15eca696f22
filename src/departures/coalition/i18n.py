"""Texts ready for translation: every user-facing string goes through :func:`_`.

The English source texts are the default catalogue (msgids are English sentences). A Dutch or
French catalogue is a standard gettext ``.mo`` file at
``coalition/locale/<lang>/LC_MESSAGES/departures.mo`` (extract the strings with
``pybabel extract`` over ``coalition/`` and its templates); :func:`translations` loads it and
falls back to English for anything not translated.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

__all__ = ["DEFAULT_LANGUAGE", "LOCALE_DIR", "_", "ngettext", "translations"]

DOMAIN = "departures"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"


@cache
def translations(language: str = DEFAULT_LANGUAGE) -> gettext.NullTranslations:
    """The catalogue for ``language`` (English when there is none)."""
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    """``message`` in the default language (marks it for extraction)."""
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n``, translated."""
    return translations().ngettext(singular, plural, n)
