"""The pages' HTML: one Jinja environment over ``coalition/templates`` (autoescaped, with
``_partials``, translated through :mod:`departures.i18n` in the language current when a page
renders) and the filters the templates use."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from departures.coalition.i18n import _
from departures.coalition.rules import State
from departures.coalition.store import Campaign
from departures.coalition.triage_score import reason_text
from departures.coalition.web.language import LANGUAGE_PARAM
from departures.coalition.web.sessions import Ctx, csrf_token
from departures.i18n import LANGUAGE_NAMES, LANGUAGES, format_moment, install_jinja
from departures.page_errors import for_page

__all__ = ["TEMPLATES", "Renderer", "error_title", "language_links", "when"]

TEMPLATES = Path(__file__).parent.parent / "templates"


class Renderer:
    """Renders a template for one request, with what every page shows (sign-in, CSRF)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # gettext, ngettext and the date/number formatters read the current language at
        # render time, so one environment serves every language.
        install_jinja(self.environment)
        self.environment.globals["State"] = State
        self.environment.filters["when"] = when
        self.environment.filters["triage_reason"] = reason_text
        # An error as the page shows it: in the reader's language, with a page's hint.
        self.environment.globals["page_error"] = partial(for_page, surface="coalition")

    def render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        """The page ``template`` as a response with status ``code``."""
        page = self._render(ctx, template, **values)
        return HTMLResponse(page, status_code=code)

    def _render(self, ctx: Ctx, template: str, **values: Any) -> str:
        # The page is in the current language (web/language.py set it for the request); the
        # switcher offers the languages the page exists in (a board: its campaign's).
        offered = values.pop("languages", LANGUAGES)
        return self.environment.get_template(template).render(
            language_links=language_links(ctx, offered),
            # Called only by pages with a form: a visitor reading the board gets no cookie.
            csrf_token=lambda: csrf_token(ctx),
            signed_in_coordinator=ctx.coordinator_id is not None,
            signed_in_member=ctx.organisation_id is not None,
            base_url=self.base_url,
            **values,
        )


def language_links(ctx: Ctx, offered: Sequence[str]) -> list[tuple[str, str, str]]:
    """The language switcher's links: (code, name in its own language, address). Each is
    this page with ``?lang=`` (other query parameters kept), or the start page after a form
    was posted (its address takes no GET)."""
    request = ctx.request
    if request.method in ("GET", "HEAD"):
        path = request.url.path
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != LANGUAGE_PARAM]
    else:
        path, kept = "/", []
    return [
        (code, LANGUAGE_NAMES[code], f"{path}?{urlencode([*kept, (LANGUAGE_PARAM, code)])}")
        for code in offered
    ]


def when(moment: datetime | None, campaign: Campaign | None = None) -> str:
    """A time for people, in the reader's language: in the campaign's timezone, with the
    zone's abbreviation ("7 december 2026, 15:05 CET")."""
    if moment is None:
        return ""
    return format_moment(moment, campaign.zone if campaign is not None else None)


def error_title(status: int) -> str:
    """The heading of the error page for an HTTP status."""
    return {
        400: _("That did not work"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Not possible now"),
        413: _("Too large"),
        429: _("Too many requests"),
        503: _("Unavailable"),
    }.get(status, _("Error"))
