"""A :class:`~departures.errors.DeparturesError` as a page shows it: in the reader's language
and with something to do on a page, not at a terminal.

The library's errors are written for the command line: English, and hints such as "run
'departures login'" or "pass --service". The CLI keeps printing them as they are. A page
(the desk's, the coalition's) asks :func:`for_page` instead, which gives

* the page's own words for the errors it knows by their ``kind`` (an expired session, an
  unknown handle, a server that does not answer),
* the message as it is when it already is in the reader's language (a page's own errors are
  made with ``_()``), else the English message inside a translated sentence saying what kind of
  thing went wrong (what a server or the library wrote is not ours to translate),
* the hint as it is when it is in the reader's language and names no command or option, else
  a hint for the page (``surface``) and the kind of error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from departures.errors import (
    ArchiveError,
    BlueskyError,
    DeparturesError,
    SandboxError,
    WorkspaceError,
)
from departures.i18n import _, current_language, translations

Surface = Literal["desk", "coalition"]

# Words only a terminal understands: a departures command, an option.
_CLI = re.compile(
    r"\bdepartures (?:login|logout|whoami|archive|migrate|audience|sandbox|coalition)\b"
    r"|(?:^|[\s(:'\"`])--[a-z]"
)
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdif]")
# The text a translation with values needs around them to be recognised.
_MIN_LITERAL = 12


@dataclass(frozen=True)
class PageError:
    """What a page shows of an error: ``message`` and ``hint``, in the reader's language, and
    ``detail``, the error's own message as it was written (for a "details" line)."""

    message: str
    hint: str | None
    detail: str = ""


def for_page(error: DeparturesError, surface: Surface) -> PageError:
    """``error`` as a page in the current language shows it (see the module's text)."""
    known = _known(error, surface)
    if known is not None:
        return PageError(known.message, known.hint, str(error.message))
    # str(): a message or hint may be a lazy text (translated when shown).
    message = str(error.message)
    if not in_reader_language(message):
        message = _wrapped(error) % {"detail": message.rstrip(".")}
    hint = str(error.hint) if error.hint is not None else None
    if hint is not None and (_CLI.search(hint) or not in_reader_language(hint)):
        hint = _page_hint(error, surface)
    return PageError(message, hint, str(error.message))


# The classes a recorded error comes back as (a subclass as the nearest of these).
_CLASSES: tuple[type[DeparturesError], ...] = (
    ArchiveError,
    BlueskyError,
    WorkspaceError,
    SandboxError,
    DeparturesError,
)


def record(error: DeparturesError) -> dict[str, Any]:
    """``error`` as JSON can keep it (a background job's status file), for :func:`recorded`."""
    base = next(cls for cls in _CLASSES if isinstance(error, cls))
    return {
        "class": base.__name__,
        "message": error.message,
        "hint": error.hint,
        "kind": error.kind,
        "values": dict(error.values),
    }


def recorded(data: Mapping[str, Any] | None, fallback: str = "") -> DeparturesError:
    """The error :func:`record` kept; a plain error of ``fallback`` when there is none (a
    status file written before errors were recorded)."""
    if not data:
        return DeparturesError(fallback)
    cls = next((c for c in _CLASSES if c.__name__ == data.get("class")), DeparturesError)
    values = data.get("values") or {}
    return cls(
        str(data.get("message", fallback)),
        data.get("hint") or None,
        kind=data.get("kind") or None,
        values={str(k): str(v) for k, v in values.items()},
    )


def _known(error: DeparturesError, surface: Surface) -> PageError | None:
    values = error.values
    if error.kind == "session-expired":
        message = _("The Bluesky session of %(handle)s has expired or was revoked") % {
            "handle": values.get("handle", "?")
        }
        return PageError(message, _connect_again(surface))
    if error.kind == "not-logged-in":
        return PageError(_("No Bluesky account is connected"), _connect_again(surface))
    if error.kind == "handle-unknown":
        return PageError(
            _("Bluesky does not know the handle %(handle)s")
            % {"handle": values.get("handle", "?")},
            _("Check the spelling, for example name.bsky.social"),
        )
    if error.kind == "job-crashed":
        return PageError(
            _("The work stopped unexpectedly (%(name)s)") % {"name": values.get("name", "?")},
            _("Look at the terminal where the desk runs, and try again"),
        )
    if error.kind == "job-crashed-log":
        return PageError(
            _("The work stopped unexpectedly (%(name)s)") % {"name": values.get("name", "?")},
            _("The details are in %(log)s; try again") % {"log": values.get("log", "?")},
        )
    if error.kind == "password-refused":
        return PageError(
            _("Bluesky refused the password for %(handle)s")
            % {"handle": values.get("handle", "?")},
            _(
                "Check the app password (in Bluesky: Settings, Privacy and security, App "
                "passwords), or create a new one"
            ),
        )
    if error.kind == "login-refused":
        # The reason is the server's words: inside our sentence, not translated.
        return PageError(
            _("Bluesky refused the sign-in for %(handle)s (%(reason)s)")
            % {"handle": values.get("handle", "?"), "reason": values.get("reason", "?")},
            _("Check the handle and the app password"),
        )
    if error.kind == "unreachable":
        return PageError(
            _("The Bluesky server does not answer"),
            _("Check your internet connection, and try again in a few minutes"),
        )
    return None


def _connect_again(surface: Surface) -> str:
    if surface == "desk":
        return _("Connect the account again on the publish page, then try again")
    return _("Connect your Bluesky account again on your member page")


def _wrapped(error: DeparturesError) -> str:
    """The translated sentence around an English message, by the kind of error."""
    if isinstance(error, ArchiveError):
        return _("The archive cannot be read (%(detail)s)")
    if isinstance(error, BlueskyError):
        return _("Bluesky did not do it (%(detail)s)")
    if isinstance(error, WorkspaceError):
        return _("The desk's saved work cannot be used (%(detail)s)")
    if isinstance(error, SandboxError):
        return _("The rehearsal network does not work (%(detail)s)")
    return _("That did not work (%(detail)s)")


def _page_hint(error: DeparturesError, surface: Surface) -> str:
    """What to do on a page, by the kind of error (its command-line hint does not apply)."""
    if isinstance(error, ArchiveError):
        return _("Choose the zip of your X archive as X gave it, or download it again from X")
    if isinstance(error, BlueskyError):
        return _("Try again in a few minutes; if it keeps happening, connect the account again")
    if isinstance(error, WorkspaceError):
        if surface == "desk":
            return _(
                "Close the desk and start it again; if that does not help, import the archive again"
            )
        return _("Try again in a few minutes")
    if isinstance(error, SandboxError):
        return _("Start the rehearsal again in a few minutes")
    return _("Try again; if it keeps happening, ask for help and show this text")


def in_reader_language(text: str) -> bool:
    """Whether ``text`` is one of the catalogue's texts in the current language (with any
    values in its placeholders). In English every text is; a text nobody translated is not."""
    language = current_language()
    if language == "en":
        return True
    exact, patterns = _translated(language)
    text = " ".join(text.split())
    # Pages may start a message with a capital, or end it with a full stop.
    candidates = {text, text.rstrip("."), text[:1].lower() + text[1:].rstrip(".")}
    if candidates & exact:
        return True
    return any(pattern.fullmatch(c) for pattern in patterns for c in candidates)


@cache
def _translated(language: str) -> tuple[frozenset[str], tuple[re.Pattern[str], ...]]:
    """The catalogue's texts in ``language``: whole ones, and patterns for those with values."""
    catalogue: dict[object, object] = getattr(translations(language), "_catalog", {})
    exact: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for key, value in catalogue.items():
        if not key or not isinstance(value, str) or not value:
            continue
        text = " ".join(value.split())
        if _PLACEHOLDER.search(text):
            pieces = [p.replace("%%", "%") for p in _PLACEHOLDER.split(text)]
            # "%(n)s minutes" would take any text ending in "minutes" for a translation.
            if sum(len(p.strip()) for p in pieces) >= _MIN_LITERAL:
                escaped = (re.escape(p) for p in pieces)
                patterns.append(re.compile(".+?".join(escaped), re.DOTALL))
        else:
            exact.add(text)
    return frozenset(exact), tuple(patterns)
