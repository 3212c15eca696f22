"""Reading untrusted form input: size limits, encodings, lengths, dates, URLs, handles.

Everything a browser (or an attacker) sends passes through here before the store sees it; any
problem is a :class:`~departures.coalition.errors.BadInput` with a message saying which field
and what to do, which the web app renders as a 400 page, never a 500.
"""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from departures.coalition.errors import BadInput, TooLarge
from departures.coalition.handles import normalise_handle
from departures.coalition.i18n import _

__all__ = [
    "MAX_BODY",
    "Form",
    "parse_form",
]

MAX_BODY = 32 * 1024
"""No form of the service needs more (the longest field, a description, is 5,000 chars)."""
MAX_FIELDS = 40
# Control characters are never part of a name or an address; they break e-mails and XML.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,190}\.[A-Za-z]{2,}$")
_X_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")


def parse_form(body: bytes, content_type: str) -> Form:
    """The fields of a URL-encoded form body; a :class:`BadInput` when it is not one."""
    if len(body) > MAX_BODY:
        raise TooLarge(_("the form is too large"), _("Shorten the longest field and try again"))
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise BadInput(
            _("this address takes web forms only"),
            _("Use the form on the page"),
        )
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise BadInput(
            _("the form could not be read"),
            _("Send it again from the page; if it keeps failing, remove unusual characters"),
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise BadInput(_("the form sent the field %(name)s twice") % {"name": name[:40]})
        fields[name] = value
    return Form(fields)


class Form:
    """Typed, validated access to a form's fields."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields

    def has(self, name: str) -> bool:
        """Whether the field was sent."""
        return name in self.fields

    def text(
        self,
        name: str,
        label: str,
        *,
        max_length: int = 200,
        required: bool = False,
        multiline: bool = False,
    ) -> str:
        """A text field, stripped; refused when too long, empty-but-required or with controls."""
        value = self.fields.get(name, "").strip()
        if multiline:
            value = value.replace("\r\n", "\n")
        if required and not value:
            raise BadInput(_("%(label)s is required") % {"label": label}, _("Fill it in"))
        if len(value) > max_length:
            raise BadInput(
                _("%(label)s is too long (%(length)d characters)")
                % {"label": label, "length": len(value)},
                _("Keep it under %(max)d characters") % {"max": max_length},
            )
        pattern = _CONTROL if multiline else _CONTROL_OR_NEWLINE
        if pattern.search(value):
            raise BadInput(
                _("%(label)s contains control characters") % {"label": label},
                _("Type it again without them"),
            )
        return value

    def integer(self, name: str, label: str, *, minimum: int, maximum: int) -> int:
        """A whole number between ``minimum`` and ``maximum``."""
        raw = self.fields.get(name, "").strip()
        if not re.fullmatch(r"[0-9]{1,9}", raw):
            raise BadInput(
                _("%(label)s must be a whole number") % {"label": label},
                _("Give a number from %(min)d to %(max)d") % {"min": minimum, "max": maximum},
            )
        value = int(raw)
        if not minimum <= value <= maximum:
            raise BadInput(
                _("%(label)s must be from %(min)d to %(max)d")
                % {"label": label, "min": minimum, "max": maximum}
            )
        return value

    def flag(self, name: str) -> bool:
        """A checkbox: sent (with any value) means ticked."""
        return name in self.fields

    def choice(self, name: str, label: str, choices: tuple[str, ...]) -> str:
        """One of ``choices``."""
        value = self.fields.get(name, "")
        if value not in choices:
            raise BadInput(_("choose a value for %(label)s") % {"label": label})
        return value

    def moment(self, name: str, label: str, zone: ZoneInfo) -> datetime:
        """A ``datetime-local`` value (``2025-01-20T12:00``) read in ``zone``."""
        raw = self.text(name, label, max_length=40, required=True)
        try:
            naive = datetime.fromisoformat(raw)
        except ValueError:
            raise BadInput(
                _("%(label)s is not a date and time") % {"label": label},
                _("Give it as 2025-01-20T12:00"),
            ) from None
        if naive.tzinfo is not None:
            return naive
        return naive.replace(tzinfo=zone)

    def url(self, name: str, label: str, *, max_length: int = 500) -> str:
        """An http(s) address, ``https://`` added when none is given; "" when empty."""
        value = self.text(name, label, max_length=max_length)
        if not value:
            return ""
        if "://" not in value:
            value = "https://" + value
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
            _port = parts.port  # raises for "javascript:alert(1)" read as host:port
        except ValueError:
            host = ""
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or "." not in host
            or (" " in value)
        ):
            raise BadInput(
                _("%(label)s is not a web address") % {"label": label},
                _("Give it as https://example.org"),
            )
        return value

    def email(self, name: str, label: str) -> str:
        """An e-mail address ("" when empty)."""
        value = self.text(name, label, max_length=254)
        if value and not _EMAIL.match(value):
            raise BadInput(
                _("%(label)s is not an e-mail address") % {"label": label},
                _("Give it as name@example.org"),
            )
        return value

    def x_handle(self, name: str, label: str) -> str:
        """An X handle without the ``@`` ("" when empty)."""
        value = self.text(name, label, max_length=20).lstrip("@")
        if value and not _X_HANDLE.match(value):
            raise BadInput(
                _("%(label)s is not an X handle") % {"label": label},
                _("Give it as on X, e.g. @example (letters, digits, underscores)"),
            )
        return value

    def bluesky_handle(self, name: str, label: str) -> str:
        """A Bluesky handle, normalised ("" when empty)."""
        value = self.text(name, label, max_length=253)
        return normalise_handle(value) if value else ""
