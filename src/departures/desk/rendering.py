"""The desk's HTML: one Jinja environment over ``desk/templates`` (autoescaped), translated
and formatted in the current language by :func:`departures.i18n.install_jinja`, and the
request's language.

The language comes from the ``desk_lang`` cookie the switcher sets, else the browser's
``Accept-Language``, else English; :class:`Language` makes it current for the whole request
(views, templates, error pages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from departures.desk.charts import bar_chart
from departures.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGE_NAMES,
    current_language,
    format_number,
    gettext,
    install_jinja,
    negotiate,
    use_language,
)
from departures.page_errors import PageError, for_page, recorded

__all__ = ["LANGUAGES", "LANGUAGE_COOKIE", "TEMPLATES", "Language", "Renderer", "language_of"]

TEMPLATES = Path(__file__).parent / "templates"
#: The desk's languages, each named in itself (the switcher shows these names).
LANGUAGES: Mapping[str, str] = LANGUAGE_NAMES
LANGUAGE_COOKIE = "desk_lang"


def language_of(headers: Mapping[str, str], cookies: Mapping[str, str]) -> str:
    """The page's language: the switcher's choice, else the browser's, else English."""
    return negotiate(headers.get("accept-language"), cookies.get(LANGUAGE_COOKIE))


class Language:
    """Around the desk's app (pure ASGI): the request's language is the current one for
    everything that runs for it, views in worker threads included."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        headers = Headers(scope=scope)
        language = language_of(headers, cookie_parser(headers.get("cookie", "")))
        with use_language(language):
            await self.inner(scope, receive, send)


@pass_context
def number(_context: Any, value: int | float, _language: str | None = None) -> str:
    """A count as people of the current language write it (12,345 / 12.345 / 12 345)."""
    return format_number(value)


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    install_jinja(environment)
    environment.globals["languages"] = LANGUAGES
    environment.filters["number"] = number
    environment.globals["chart"] = bar_chart
    # An error as the page shows it: in the reader's language, with a page's hint.
    environment.globals["page_error"] = partial(for_page, surface="desk")
    environment.globals["job_error"] = job_error
    environment.globals["note"] = note
    return environment


def note(message: str) -> str:
    """A background job's progress note in the current language: the job's process writes
    the English of a marked note (or a library's English line); a line with no translation
    is left out of a page in another language, where the progress bar says enough."""
    if not message or current_language() == DEFAULT_LANGUAGE:
        return message
    translated = gettext(message)
    return translated if translated != message else ""


def job_error(job: Any) -> PageError:
    """A failed background job's error as the page shows it (``JobStatus.error``)."""
    return for_page(recorded(job.error, job.message), "desk")


class Renderer:
    """Renders the desk's templates, with the navigation every page shows."""

    def __init__(self, steps: Sequence[Any]) -> None:
        self.steps = steps

    def render(self, template: str, language: str | None = None, **values: Any) -> str:
        """``template`` rendered in ``language`` (default: the current one)."""
        with use_language(language or current_language()) as chosen:
            return (
                _environment()
                .get_template(template)
                .render(steps=self.steps, lang=chosen, **values)
            )
