"""What the commands share in how they talk to people: option types and wording helpers.

Server addresses typed without ``https://``, dates typed the way people in Belgium write
them, plurals, the "Next:" line after each step, and progress bars that only draw on a
terminal (in a log or a pipe a bar leaves blank lines and control codes behind).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import click


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 image``, ``3 images``, ``1 reply``, ``2 replies`` (the count included)."""
    if count == 1:
        return f"{count:,} {singular}"
    if plural_form is None:
        if singular.endswith("y") and singular[-2:-1] not in ("a", "e", "o", "u"):
            plural_form = singular[:-1] + "ies"
        elif singular.endswith(("s", "x", "ch", "sh")):
            plural_form = singular + "es"
        else:
            plural_form = singular + "s"
    return f"{count:,} {plural_form}"


def next_step(*commands: str) -> None:
    """Print the journey's next step: ``Next: departures ...`` (alternatives joined by "or")."""
    click.echo("Next: " + " or ".join(commands))


def plain_time(value: str | None) -> str:
    """An ISO time from the workspace as people read it: ``2025-01-20 14:03 UTC``.

    Dates alone stay dates; an unreadable value is shown as it is rather than hidden.
    """
    if not value:
        return "-"
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if len(text) <= 10:
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


# --- server addresses ----------------------------------------------------------------------


def normalise_server(value: str) -> str:
    """A server address with its scheme: ``bsky.social`` → ``https://bsky.social``.

    :class:`click.BadParameter` (one line) for anything that is not an http(s) address.
    """
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise click.BadParameter(
            f"{value!r} is not a server address; write it like https://bsky.social"
        )
    return text


def server_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Option callback: the address with its scheme, or a one-line usage error."""
    if value is None:
        return None
    try:
        return normalise_server(value)
    except click.BadParameter as exc:
        exc.ctx, exc.param = ctx, param
        raise


# --- dates ---------------------------------------------------------------------------------

_DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


def parse_day(value: str) -> date:
    """A day written ``2025-12-01``, ``01/12/2025``, ``1/12/2025``, ``1-12-2025`` or ``1.12.2025``.

    Day before month, as in Belgium and most of Europe. :class:`ValueError` with the
    expected forms otherwise.
    """
    text = value.strip()
    for form in _DATE_FORMS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    raise ValueError(
        f"{value!r} is not a date; write it as DD/MM/YYYY (for example 31/12/2019) "
        "or YYYY-MM-DD (2019-12-31)"
    )


def day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Option callback: the day, or a usage error showing the expected form with an example."""
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


# --- progress ------------------------------------------------------------------------------


def progress_bar(*columns: Any, transient: bool = True) -> Any:
    """A rich progress bar on stderr, drawn only when stderr is a terminal."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=transient, disable=not console.is_terminal)


def join(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = [i for i in items if i]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]
