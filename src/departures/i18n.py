"""Texts in three languages: English (the source), Dutch and French.

One module for every part of departures that people read (the coalition service, the local
desk): the gettext catalogues in ``departures/locale/<lang>/LC_MESSAGES/departures.{po,mo}``,
the **current language** (a context variable, so each request or call has its own, also in
worker threads and tasks started from it), translation in that language, lazy strings for
module-level constants, ``Accept-Language`` negotiation, locale-aware dates and numbers through
Babel, and the hook that gives a Jinja environment all of this at render time.

Mark a text with ``_("...")`` (or ``ngettext``, ``pgettext``, ``lazy_gettext``) and use named
placeholders: ``_("%(name)s joined") % {"name": name}``. ``make i18n`` extracts the texts and
updates and compiles the catalogues (``departures.i18n_catalogues``); ARCHITECTURE.md
("Texts in three languages") says how to add one.
"""

from __future__ import annotations

import gettext as _gettext
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale, dates, numbers

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "LOCALE_DIR",
    "LazyString",
    "_",
    "babel_locale",
    "current_language",
    "format_date",
    "format_datetime",
    "format_decimal",
    "format_number",
    "format_percent",
    "format_time",
    "format_timedelta",
    "gettext",
    "install_jinja",
    "language_or_default",
    "lazy_gettext",
    "lazy_ngettext",
    "negotiate",
    "ngettext",
    "normalise_language",
    "npgettext",
    "pgettext",
    "translations",
    "use_language",
]

DOMAIN = "departures"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = "en"
# The source language first; the catalogues exist for the others.
LANGUAGES: tuple[str, ...] = ("en", "nl", "fr")
# Each language in its own words: what a language switcher shows.
LANGUAGE_NAMES: Mapping[str, str] = {"en": "English", "nl": "Nederlands", "fr": "Français"}
# Dates and numbers as a Belgian reader expects them ("7 dec. 2026", "1.234,5"); English in
# the British style (24-hour clock, day before month) rather than the American one.
_FORMAT_LOCALES: Mapping[str, str] = {"en": "en_GB", "nl": "nl_BE", "fr": "fr_BE"}

_current: ContextVar[str] = ContextVar("departures_language", default=DEFAULT_LANGUAGE)


def normalise_language(tag: str | None) -> str | None:
    """The supported language a tag names (``"nl-BE"``, ``"fr_be"``, ``"NL"`` → ``"nl"``),
    or None when it names none of :data:`LANGUAGES`."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LANGUAGES else None


def language_or_default(tag: str | None) -> str:
    """A supported language for ``tag``, the default one when it names none."""
    return normalise_language(tag) or DEFAULT_LANGUAGE


def current_language() -> str:
    """The language of the request or call being served (English unless one is in use)."""
    return _current.get()


@contextmanager
def use_language(language: str | None) -> Iterator[str]:
    """Translate and format in ``language`` inside the ``with`` block (an unsupported or
    missing language means English); the previous language comes back afterwards."""
    chosen = language_or_default(language)
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def negotiate(
    accept_language: str | None,
    chosen: str | None = None,
    *,
    default: str = DEFAULT_LANGUAGE,
) -> str:
    """The language to answer in: the reader's explicit choice (a cookie or a ``?lang=``
    parameter) when it is supported, else the best supported match of the
    ``Accept-Language`` header (RFC 9110 quality values, ``nl-BE`` matching ``nl``), else
    ``default``. A malformed header never fails: its unreadable parts are skipped."""
    picked = normalise_language(chosen)
    if picked is not None:
        return picked
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _sep, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value.strip())
                except ValueError:
                    quality = 0.0
        if not 0.0 < quality <= 1.0:
            continue  # q=0 means "not this one"; a broken q is not a preference
        language = DEFAULT_LANGUAGE if tag == "*" else normalise_language(tag)
        if language is not None:
            # Higher quality first; among equals, the order the reader wrote them in.
            ranked.append((-quality, position, language))
    if ranked:
        return min(ranked)[2]
    return language_or_default(default)


@cache
def translations(language: str = DEFAULT_LANGUAGE) -> _gettext.NullTranslations:
    """The compiled catalogue for ``language`` (English, the msgids themselves, when there is
    none or for an untranslated text)."""
    return _gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def _catalogue() -> _gettext.NullTranslations:
    return translations(_current.get())


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return _catalogue().gettext(message)


def _(message: str) -> str:
    """``message`` in the current language (the usual mark for extraction)."""
    return _catalogue().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current language."""
    return _catalogue().ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` in the current language, told apart from the same English words in
    another ``context`` (``pgettext("verb", "Post")``)."""
    return _catalogue().pgettext(context, message)


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """:func:`ngettext` with a context."""
    return _catalogue().npgettext(context, singular, plural, n)


class LazyString:
    """A text translated only when it is used, in the language current then: for constants
    defined at import time (labels, titles in a module-level table). ``str()``, ``%``,
    ``format`` and comparison all translate first."""

    __slots__ = ("_args", "_function")

    def __init__(self, function: Callable[..., str], *args: Any) -> None:
        self._function = function
        self._args = args

    def __str__(self) -> str:
        return self._function(*self._args)

    def __repr__(self) -> str:
        return f"LazyString({self._args[0]!r})"

    def __html__(self) -> str:
        # Jinja escapes what it prints; a lazy string is plain text, not markup.
        from markupsafe import escape

        return str(escape(str(self)))

    def __mod__(self, values: Any) -> str:
        text: str = str(self) % values
        return text

    def format(self, *args: Any, **kwargs: Any) -> str:
        """``str(self).format(...)``."""
        return str(self).format(*args, **kwargs)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __eq__(self, other: object) -> bool:
        return str(self) == (str(other) if isinstance(other, LazyString) else other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __len__(self) -> int:
        return len(str(self))

    def __bool__(self) -> bool:
        return bool(self._args[0])


def lazy_gettext(message: str) -> LazyString:
    """``message``, translated each time it is used (marks it for extraction)."""
    return LazyString(gettext, message)


def lazy_ngettext(singular: str, plural: str, n: int) -> LazyString:
    """:func:`ngettext`, evaluated each time it is used."""
    return LazyString(ngettext, singular, plural, n)


def babel_locale(language: str | None = None) -> Locale:
    """The Babel locale that formats dates and numbers for ``language`` (the current one by
    default): Belgian Dutch and French, British English."""
    return _babel_locale(language_or_default(language or _current.get()))


@cache
def _babel_locale(language: str) -> Locale:
    return Locale.parse(_FORMAT_LOCALES[language])


def format_datetime(value: datetime, format: str = "medium", tzinfo: tzinfo | None = None) -> str:
    """A date and time for the current reader (``format``: short, medium, long, full or a
    CLDR pattern); ``tzinfo`` converts an aware ``value`` first."""
    return dates.format_datetime(value, format, tzinfo=tzinfo, locale=babel_locale())


def format_date(value: date, format: str = "medium") -> str:
    """A date for the current reader (``7 dec. 2026`` in Dutch)."""
    return dates.format_date(value, format, locale=babel_locale())


def format_time(value: time | datetime, format: str = "short", tzinfo: tzinfo | None = None) -> str:
    """A time of day for the current reader (24-hour in all three languages)."""
    return dates.format_time(value, format, tzinfo=tzinfo, locale=babel_locale())


def format_timedelta(value: timedelta, threshold: float = 0.85, add_direction: bool = False) -> str:
    """A duration in words ("3 uur", "in 2 jours" with ``add_direction``)."""
    return dates.format_timedelta(
        value, threshold=threshold, add_direction=add_direction, locale=babel_locale()
    )


def format_number(value: int | float | Decimal) -> str:
    """A number with the current reader's separators (``1.234`` in Dutch, ``1 234`` in
    French, ``1,234`` in English)."""
    return numbers.format_decimal(value, locale=babel_locale())


def format_decimal(value: int | float | Decimal, format: str | None = None) -> str:
    """A decimal number, optionally with a CLDR ``format`` such as ``"#,##0.0"``."""
    return numbers.format_decimal(value, format=format, locale=babel_locale())


def format_percent(value: int | float | Decimal, format: str | None = None) -> str:
    """A ratio as a percentage (0.25 → ``25%`` / ``25 %``)."""
    return numbers.format_percent(value, format=format, locale=babel_locale())


# What :func:`install_jinja` gives templates as filters and globals.
_FORMATTERS: Mapping[str, Callable[..., str]] = {
    "format_datetime": format_datetime,
    "format_date": format_date,
    "format_time": format_time,
    "format_timedelta": format_timedelta,
    "format_number": format_number,
    "format_decimal": format_decimal,
    "format_percent": format_percent,
}


def install_jinja(environment: Any) -> None:
    """Give a Jinja environment the gettext callables and the formatters, all reading the
    current language when a template renders (so one environment serves every language).

    Templates then use ``{{ _("Text") }}``, ``{{ _("%(n)s left", n=3) }}`` (new-style:
    placeholders are filled and escaped by Jinja), ``{{ ngettext(...) }}``,
    ``{% trans %}...{% endtrans %}`` (whitespace trimmed, as the extraction expects),
    ``{{ when|format_datetime }}``, ``{{ count|format_number }}``, and
    ``{{ current_language() }}`` for ``<html lang>``."""
    environment.add_extension("jinja2.ext.i18n")
    # `{% trans %}` blocks collapse their whitespace: the msgid does not depend on the
    # template's indentation, and extraction (babel.cfg: trimmed = true) agrees.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(
        gettext=gettext,
        ngettext=ngettext,
        newstyle=True,
        pgettext=pgettext,
        npgettext=npgettext,
    )
    environment.globals["current_language"] = current_language
    environment.globals["LANGUAGES"] = LANGUAGES
    environment.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    for name, formatter in _FORMATTERS.items():
        environment.filters[name] = _at_render_time(formatter)
        environment.globals[name] = formatter


def _at_render_time(formatter: Callable[..., str]) -> Callable[..., str]:
    """``formatter`` as a Jinja filter that is never folded at compile time: Jinja evaluates
    a filter on a constant when it compiles the template, which would fix its language."""
    from jinja2 import pass_context

    @pass_context
    def render_time(_context: Any, value: Any, *args: Any, **kwargs: Any) -> str:
        return formatter(value, *args, **kwargs)

    return render_time
