"""The pages' HTML: one Jinja environment over ``coalition/templates`` (autoescaped, with
``_partials``, translated through :mod:`departures.i18n` in the language current when a page
renders) and the filters the templates use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from departures.coalition.i18n import _
from departures.coalition.rules import State
from departures.coalition.store import Campaign
from departures.coalition.web.sessions import Ctx, csrf_token
from departures.i18n import install_jinja, use_language

__all__ = ["TEMPLATES", "Renderer", "error_title", "when"]

TEMPLATES = Path(__file__).parent.parent / "templates"


class Renderer:
    """Renders a template for one request, with what every page shows (sign-in, CSRF)."""

    def __init__(self, language: str, base_url: str) -> None:
        self.base_url = base_url
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.language = language
        # gettext, ngettext and the date/number formatters read the current language at
        # render time, so one environment serves every language.
        install_jinja(self.environment)
        self.environment.globals["State"] = State
        self.environment.filters["when"] = when

    def render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        """The page ``template`` as a response with status ``code``."""
        with use_language(self.language):
            page = self._render(ctx, template, **values)
        return HTMLResponse(page, status_code=code)

    def _render(self, ctx: Ctx, template: str, **values: Any) -> str:
        return self.environment.get_template(template).render(
            # Called only by pages with a form: a visitor reading the board gets no cookie.
            csrf_token=lambda: csrf_token(ctx),
            signed_in_coordinator=ctx.coordinator_id is not None,
            signed_in_member=ctx.organisation_id is not None,
            base_url=self.base_url,
            **values,
        )


def when(moment: datetime | None, campaign: Campaign | None = None) -> str:
    """A time for people: in the campaign's timezone, with the zone's abbreviation."""
    if moment is None:
        return ""
    local = campaign.local(moment) if campaign is not None else moment
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


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
