"""The public pages: the list of campaigns and each campaign's departures board as a page,
as JSON, as an Atom feed and as a share image.

The board is what crowds load when a campaign makes the news. For anonymous readers each of
its documents is rendered once per change (:class:`BoardCache`): every change the board shows
bumps the campaign's board version in the store, in the same transaction, and a process
renders again only when the version it reads differs from the one it rendered, so several
server processes sharing one database stay right. The answers carry an ``ETag`` and a
``Last-Modified`` and are ``304 Not Modified`` to a reader who already has them. Between two
reads of the version, a process may hold its copy for a couple of seconds
(``public_cache_seconds``; the pages say so in their Cache-Control too). Signed-in visitors
always get a fresh page.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from departures.coalition import board as boards
from departures.coalition.errors import NotFound
from departures.coalition.i18n import _, current_language, ngettext, use_language
from departures.coalition.rules import State
from departures.coalition.share_image import share_png
from departures.coalition.store.board_version import BoardVersion
from departures.coalition.web import middleware
from departures.coalition.web.middleware import View
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.site import Site
from departures.i18n import format_moment

__all__ = ["BoardCache", "board_language", "countdown", "not_modified", "routes"]

#: The headers a 304 repeats from the full answer (RFC 9110, 15.4.5).
_REVALIDATION_HEADERS = ("etag", "last-modified", "cache-control", "vary", "content-language")


@dataclass(frozen=True)
class _Rendered:
    key: tuple[object, ...]
    response: Response
    etag: str
    last_modified: datetime
    checked_until: float
    """``time.monotonic()`` until which the version is not read again."""


def _moment_key(version: BoardVersion, now: datetime, by_minute: bool) -> tuple[object, ...]:
    """What, besides the stored data, the document depends on: the time.

    Crossing the pledge deadline or the departure changes the board with no write; the page's
    countdown changes each minute until the departure.
    """
    key: tuple[object, ...] = (now >= version.deadline, now >= version.departure_at)
    if by_minute and now < version.departure_at:
        key += (int(now.timestamp()) // 60,)
    return key


def _last_change(version: BoardVersion, now: datetime, by_minute: bool) -> datetime:
    """When the document last changed: the later of the last write and the last moment key."""
    moments = [version.changed_at]
    moments += [at for at in (version.deadline, version.departure_at) if at <= now]
    if by_minute and now < version.departure_at:
        moments.append(now.replace(second=0, microsecond=0))
    return max(moments).replace(microsecond=0)


class BoardCache:
    """Rendered board documents for anonymous readers, one per path, reader's language and
    board version.

    ``hold_seconds``: how long a process serves its copy before reading the version again
    (0: on every request).
    """

    def __init__(self, hold_seconds: float, max_entries: int = 1000) -> None:
        self.hold_seconds = max(hold_seconds, 0.0)
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Rendered] = {}
        self._lock = threading.Lock()

    def wrap(self, view: View, by_minute: bool = False) -> View:
        """``view``, rendered once per board version (and per minute when ``by_minute``)."""

        def cached(site: Site, ctx: Ctx) -> Response:
            if not ctx.anonymous:
                return view(site, ctx)
            path = ctx.request.url.path
            # One rendering per path and reader's language: a Dutch board is never served to
            # a French reader (the answers also say Vary: Accept-Language, Cookie).
            slot = (path, current_language())
            with self._lock:
                entry = self._entries.get(slot)
            clock = time.monotonic()
            if entry is None or entry.checked_until <= clock:
                # The version is read before the board: a rendering is never older than the
                # version it is filed under (at worst newer, and rendered once more).
                version = site.store.board_version(ctx.param("slug"))
                if version is None:
                    return view(site, ctx)
                now = site.store.clock()
                language = board_language(version.languages)
                key = (version.version, language, *_moment_key(version, now, by_minute))
                until = clock + self.hold_seconds
                if entry is not None and entry.key == key:
                    entry = replace(entry, checked_until=until)
                else:
                    response = view(site, ctx)
                    if response.status_code != 200:
                        return response
                    entry = _Rendered(
                        key,
                        response,
                        _etag(path, key),
                        _last_change(version, now, by_minute),
                        until,
                    )
                    response.headers["ETag"] = entry.etag
                    response.headers["Last-Modified"] = format_datetime(
                        entry.last_modified, usegmt=True
                    )
                with self._lock:
                    if slot not in self._entries and len(self._entries) >= self.max_entries:
                        self._entries.clear()
                    self._entries[slot] = entry
            if not_modified(ctx.request, entry.etag, entry.last_modified):
                return Response(
                    status_code=304,
                    headers={
                        k: v
                        for k, v in entry.response.headers.items()
                        if k.lower() in _REVALIDATION_HEADERS
                    },
                )
            return _copy(entry.response)

        return cached


def _etag(path: str, key: tuple[object, ...]) -> str:
    # The same in every process for the same version and moment: no body hash needed, and
    # weak because two processes may differ in generated_at (the time they rendered).
    digest = hashlib.sha256(repr((path, key)).encode()).hexdigest()[:20]
    return f'W/"{digest}"'


def not_modified(request: Request, etag: str, last_modified: datetime) -> bool:
    """Whether the request's validators say the reader already has this version.

    ``If-None-Match`` wins over ``If-Modified-Since`` (RFC 9110, 13.2.2); ETags compare
    weakly.
    """
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since = request.headers.get("if-modified-since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return last_modified <= moment


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


def board_language(languages: Sequence[str]) -> str:
    """The language a board is shown in to this reader: the reader's own when the campaign
    publishes in it, else the campaign's first language."""
    current = current_language()
    return current if current in languages or not languages else languages[0]


def board_page(site: Site, ctx: Ctx) -> Response:
    """The departures board of one campaign (a draft only for its coordinator)."""
    board = boards.load_board(site.store, ctx.param("slug"))
    if board.state == State.DRAFT and board.campaign.coordinator_id != ctx.coordinator_id:
        raise NotFound(_("this campaign is not public yet"))
    languages = board.campaign.languages
    with use_language(board_language(languages)) as language:
        response = site.render(
            ctx,
            "board.html",
            board=board,
            countdown=countdown(board),
            share_description=share_description(board),
            languages=languages,
        )
    response.headers["Content-Language"] = language
    if ctx.anonymous:
        response.headers["Cache-Control"] = "max-age=5"
    return response


def share_description(board: boards.Board) -> str:
    """The one line a shared link to the board shows under its title."""
    gone = board.gone_count
    campaign = board.campaign
    return _("%(count)s · Departure: %(when)s") % {
        "count": ngettext("%(n)d organisation gone", "%(n)d organisations gone", gone)
        % {"n": gone},
        "when": format_moment(campaign.departure_at, campaign.zone),
    }


def _in_board_language(board: boards.Board, make: Callable[[], Response]) -> Response:
    with use_language(board_language(board.campaign.languages)) as language:
        response = make()
    response.headers["Content-Language"] = language
    return response


def share_image(site: Site, ctx: Ctx) -> Response:
    """The board's Open Graph image (PNG, 1200×630), its texts in the board's language."""
    board = _public_board(site, ctx)
    return _in_board_language(
        board,
        lambda: Response(
            share_png(board), media_type="image/png", headers={"Cache-Control": "max-age=60"}
        ),
    )


def board_json(site: Site, ctx: Ctx) -> Response:
    """The board as JSON (its status labels in the board's language)."""
    board = _public_board(site, ctx)
    return _in_board_language(
        board,
        lambda: Response(
            orjson.dumps(boards.board_json(board)),
            media_type="application/json",
            headers={"Cache-Control": "max-age=5"},
        ),
    )


def board_atom(site: Site, ctx: Ctx) -> Response:
    """The board's Atom feed (its entries' titles in the board's language)."""
    board = _public_board(site, ctx)
    return _in_board_language(
        board,
        lambda: Response(
            boards.atom_feed(board, site.base_url),
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": "max-age=60"},
        ),
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
    cache = BoardCache(site.settings.public_cache_seconds)
    cached = cache.wrap
    return [
        Route("/", middleware.page(site, index)),
        Route("/campaigns/{slug}", middleware.page(site, cache.wrap(board_page, by_minute=True))),
        Route("/campaigns/{slug}/board.json", middleware.page(site, cached(board_json))),
        Route("/campaigns/{slug}/feed.atom", middleware.page(site, cached(board_atom))),
        Route("/campaigns/{slug}/share.png", middleware.page(site, cached(share_image))),
    ]
