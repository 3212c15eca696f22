"""The public pages: the list of campaigns and each campaign's departures board as a page,
as JSON and as an Atom feed.

The board is what crowds load when a campaign makes the news: anonymous requests share one
rendering for a couple of seconds (:class:`PublicCache`; the pages say so in their
Cache-Control too). Signed-in visitors always get a fresh page.
"""

from __future__ import annotations

import threading
import time

import orjson
from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import board as boards
from departures.coalition.errors import NotFound
from departures.coalition.i18n import _, ngettext
from departures.coalition.rules import State
from departures.coalition.web import middleware
from departures.coalition.web.middleware import View
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site

__all__ = ["PublicCache", "countdown", "routes"]


class PublicCache:
    """Short-lived copies of public pages for anonymous readers, keyed by path."""

    def __init__(self, seconds: float, max_entries: int = 1000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._pages: dict[str, tuple[float, Response]] = {}
        self._lock = threading.Lock()

    def wrap(self, view: View) -> View:
        """``view``, answered from the cache for anonymous readers."""

        def cached(site: Site, ctx: Ctx) -> Response:
            if not ctx.anonymous or self.seconds <= 0:
                return view(site, ctx)
            key = ctx.request.url.path
            now = time.monotonic()
            with self._lock:
                hit = self._pages.get(key)
            if hit is not None and hit[0] > now:
                return _copy(hit[1])
            response = view(site, ctx)
            if response.status_code != 200:
                return response
            with self._lock:
                if len(self._pages) > self.max_entries:
                    self._pages.clear()
                self._pages[key] = (now + self.seconds, response)
            return _copy(response)

        return cached


def _copy(response: Response) -> Response:
    # A fresh response object per request: the endpoint adds headers (and maybe a cookie).
    return Response(
        response.body,
        status_code=response.status_code,
        headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"},
    )


def index(site: Site, ctx: Ctx) -> Response:
    """The list of campaigns that are open or past."""
    listed = [c for c in site.store.campaigns() if c.opened_at is not None]
    return site.render(ctx, "index.html", campaigns=listed)


def _public_board(site: Site, ctx: Ctx) -> boards.Board:
    board = boards.load_board(site.store, ctx.param("slug"))
    if board.state == State.DRAFT:
        raise NotFound(_("this campaign is not public yet"))
    return board


def board_page(site: Site, ctx: Ctx) -> Response:
    """The departures board of one campaign (a draft only for its coordinator)."""
    board = boards.load_board(site.store, ctx.param("slug"))
    if board.state == State.DRAFT and board.campaign.coordinator_id != ctx.coordinator_id:
        raise NotFound(_("this campaign is not public yet"))
    return site.render(ctx, "board.html", board=board, countdown=countdown(board))


def board_json(site: Site, ctx: Ctx) -> Response:
    """The board as JSON."""
    return Response(
        orjson.dumps(boards.board_json(_public_board(site, ctx))),
        media_type="application/json",
        headers={"Cache-Control": "max-age=5"},
    )


def board_atom(site: Site, ctx: Ctx) -> Response:
    """The board's Atom feed."""
    return Response(
        boards.atom_feed(_public_board(site, ctx), site.base_url),
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "max-age=60"},
    )


def countdown(board: boards.Board) -> str:
    """Time left until the departure, in days and hours (or hours and minutes); "" after."""
    target = board.campaign.departure_at
    if board.now >= target:
        return ""
    left = target - board.now
    days, hours = left.days, left.seconds // 3600
    if days:
        return (
            ngettext("%(n)d day", "%(n)d days", days) % {"n": days}
            + ", "
            + ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        )
    minutes = (left.seconds % 3600) // 60
    return (
        ngettext("%(n)d hour", "%(n)d hours", hours) % {"n": hours}
        + ", "
        + ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    )


def routes(site: Site) -> list[Route]:
    """The public pages' routes."""
    cache = PublicCache(site.settings.public_cache_seconds)
    return [
        Route("/", middleware.page(site, index)),
        Route("/campaigns/{slug}", middleware.page(site, cache.wrap(board_page))),
        Route("/campaigns/{slug}/board.json", middleware.page(site, cache.wrap(board_json))),
        Route("/campaigns/{slug}/feed.atom", middleware.page(site, cache.wrap(board_atom))),
    ]
