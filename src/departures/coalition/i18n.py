"""The coalition's texts go through the shared :mod:`departures.i18n` (catalogues, the current
language, formatting); this module keeps the older import path working."""

from __future__ import annotations

from departures.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    LOCALE_DIR,
    _,
    current_language,
    lazy_gettext,
    negotiate,
    ngettext,
    pgettext,
    translations,
    use_language,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "LOCALE_DIR",
    "_",
    "current_language",
    "lazy_gettext",
    "negotiate",
    "ngettext",
    "pgettext",
    "translations",
    "use_language",
]
