"""The coalition web app: coordinator pages, member pages and the public departures board.

A library object (:class:`CoalitionApp`, an ASGI app) that calls the same store the CLI calls;
pages are server-rendered Jinja templates (autoescaped, with ``_partials``) that work without
JavaScript. Every request goes through :meth:`CoalitionApp._endpoint`, which

* reads the signed session cookie (coordinator or member sign-in, and the CSRF token);
* for a POST, reads at most :data:`~forms.MAX_BODY` bytes, parses the form and checks the CSRF
  token against the session's;
* runs the view in a worker thread (the store is synchronous SQLAlchemy);
* renders any :class:`~departures.errors.DeparturesError` as an HTML page or JSON with its
  status (400/403/404/409/413/503), and anything else as a plain 500 page without details.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from departures.coalition import board as boards
from departures.coalition import directory as directories
from departures.coalition.departure import MAX_WELCOME_GRAPHEMES, DepartureDay
from departures.coalition.directory_web import (
    BlueskySignIn,
    DirectoryPages,
    read_upload,
    upload_endpoint,
)
from departures.coalition.errors import (
    BadInput,
    NotAllowed,
    NotFound,
    TooLarge,
    TooMany,
    status_for,
)
from departures.coalition.forms import MAX_BODY, Form, parse_form
from departures.coalition.handles import HandleResolver, verified_domain
from departures.coalition.i18n import DEFAULT_LANGUAGE, _, ngettext, translations
from departures.coalition.notify import Notifier
from departures.coalition.reconnect import Reconnect
from departures.coalition.rules import State
from departures.coalition.security import RateLimiter, new_token, sign, unsign
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.errors import DeparturesError

__all__ = ["SESSION_COOKIE", "CoalitionApp"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "departures_session"
SESSION_AGE = 30 * 24 * 3600
COMMON_ZONES = (
    "Europe/Brussels",
    "Europe/Amsterdam",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/London",
    "UTC",
)


@dataclass
class Ctx:
    """One request as the views see it."""

    request: Request
    session: dict[str, Any]
    form: Form = field(default_factory=lambda: Form({}))
    dirty: bool = False

    def param(self, name: str) -> str:
        """A path parameter."""
        return str(self.request.path_params[name])

    @property
    def coordinator_id(self) -> int | None:
        """The signed-in coordinator, if any."""
        value = self.session.get("coordinator")
        return value if isinstance(value, int) else None

    @property
    def organisation_id(self) -> int | None:
        """The signed-in member organisation, if any."""
        value = self.session.get("organisation")
        return value if isinstance(value, int) else None

    def set(self, key: str, value: Any) -> None:
        """Change the session (saved in the cookie with the response)."""
        self.session[key] = value
        self.dirty = True


View = Callable[[Ctx], Response]


class CoalitionApp:
    """The coalition service as an ASGI application."""

    def __init__(
        self,
        store: CoalitionStore,
        *,
        secret_key: bytes,
        resolver: HandleResolver,
        base_url: str = "http://127.0.0.1:8000",
        notifier: Notifier | None = None,
        tick_seconds: float | None = None,
        public_cache_seconds: float = 2.0,
        language: str = DEFAULT_LANGUAGE,
        forms_per_minute: int = 60,
        departure: DepartureDay | None = None,
        bluesky_sign_in: BlueskySignIn | None = None,
        directory_limits: directories.ApiLimits | None = None,
    ) -> None:
        self.store = store
        # Departure-day welcome posts: None when the server makes no Bluesky writes.
        self.departure = departure
        # The member page's part of reconnect (stored ids, settings, proposals); the
        # scheduler's Notifier runs the pass itself.
        self.reconnect = Reconnect(store)
        self.secret_key = secret_key
        self.resolver = resolver
        self.base_url = base_url.rstrip("/")
        self.notifier = notifier
        self.tick_seconds = tick_seconds
        self.secure_cookies = self.base_url.startswith("https://")
        self.language = language
        self.form_limiter = RateLimiter(forms_per_minute, 60.0)
        # The public board is what crowds load when a campaign makes the news: anonymous
        # requests share one rendering for a couple of seconds (the pages say so in their
        # Cache-Control too). Signed-in visitors always get a fresh page.
        self.public_cache_seconds = public_cache_seconds
        self._public_cache: dict[str, tuple[float, Response]] = {}
        self._cache_lock = threading.Lock()
        self.templates = self._environment()
        routes = [
            Route("/", self._endpoint(self.index)),
            Route("/login", self._endpoint(self.login_page)),
            Route("/login", self._endpoint(self.login), methods=["POST"]),
            Route("/logout", self._endpoint(self.logout), methods=["POST"]),
            Route("/coordinator", self._endpoint(self.coordinator_home)),
            Route("/coordinator/campaigns", self._endpoint(self.create_campaign), methods=["POST"]),
            Route("/coordinator/campaigns/{slug}", self._endpoint(self.manage)),
            Route(
                "/coordinator/campaigns/{slug}/edit",
                self._endpoint(self.edit_campaign),
                methods=["POST"],
            ),
            Route(
                "/coordinator/campaigns/{slug}/open",
                self._endpoint(self.open_campaign),
                methods=["POST"],
            ),
            Route(
                "/coordinator/campaigns/{slug}/close",
                self._endpoint(self.close_campaign),
                methods=["POST"],
            ),
            Route(
                "/coordinator/campaigns/{slug}/invites",
                self._endpoint(self.create_invite),
                methods=["POST"],
            ),
            Route("/invite/{token}", self._endpoint(self.invite_page)),
            Route("/invite/{token}", self._endpoint(self.accept_invite), methods=["POST"]),
            Route("/member", self._endpoint(self.member_page)),
            Route("/member/sign-in", self._endpoint(self.member_sign_in_page)),
            Route("/member/sign-in", self._endpoint(self.member_sign_in), methods=["POST"]),
            Route("/member/details", self._endpoint(self.member_details), methods=["POST"]),
            Route("/member/pledge", self._endpoint(self.member_pledge), methods=["POST"]),
            Route("/member/withdraw", self._endpoint(self.member_withdraw), methods=["POST"]),
            Route("/member/landed", self._endpoint(self.member_landed), methods=["POST"]),
            Route("/member/welcome", self._endpoint(self.member_welcome), methods=["POST"]),
            Route("/member/moderation", self._endpoint(self.member_moderation), methods=["POST"]),
            Route(
                "/member/reconnect",
                upload_endpoint(self, self.member_reconnect_upload),
                methods=["POST"],
            ),
            Route(
                "/member/reconnect/delete",
                self._endpoint(self.member_reconnect_delete),
                methods=["POST"],
            ),
            Route(
                "/member/reconnect/auto-follow",
                self._endpoint(self.member_reconnect_auto_follow),
                methods=["POST"],
            ),
            Route("/campaigns/{slug}", self._endpoint(self.board_page)),
            Route("/campaigns/{slug}/board.json", self._endpoint(self.board_json)),
            Route("/campaigns/{slug}/feed.atom", self._endpoint(self.board_atom)),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        # The directory's own pages (sign-in with Bluesky, register, withdraw, reconnect) and
        # its public API (lookup, export), rate-limited per client address.
        routes[-1:-1] = DirectoryPages(self, bluesky_sign_in, directory_limits).routes()
        self.app = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={404: self._not_found, 405: self._not_allowed},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    # --- plumbing ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        task = None
        if self.notifier is not None and self.tick_seconds:
            task = asyncio.create_task(self._scheduler(self.notifier, self.tick_seconds))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _scheduler(self, notifier: Notifier, every: float) -> None:
        while True:
            try:
                report = await run_in_threadpool(notifier.tick)
                if report.queued or report.sent or report.failed:
                    log.info(
                        "scheduler: %d queued, %d sent, %d failed",
                        report.queued,
                        report.sent,
                        report.failed,
                    )
            except Exception:
                # The loop must survive a bad pass (database restarting, SMTP down).
                log.exception("scheduler pass failed")
            await asyncio.sleep(every)

    def _environment(self) -> Environment:
        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"], default=True),
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # The pages' texts in the service's language (English when it has no catalogue).
        env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(self.language), newstyle=True
        )
        env.globals["lang"] = self.language
        env.filters["when"] = _when
        env.globals["State"] = State
        return env

    def _endpoint(self, view: View) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            ctx = Ctx(request, self._load_session(request))
            try:
                if request.method == "POST":
                    client = request.client.host if request.client else "unknown"
                    if not self.form_limiter.allow(client):
                        raise TooMany(
                            _("too many forms sent from your address in the last minute"),
                            _("Wait a minute and send it again"),
                        )
                    ctx.form = await self._read_form(request)
                    self._check_csrf(ctx)
                response = await run_in_threadpool(view, ctx)
            except DeparturesError as error:
                response = self._error_response(ctx, error)
            except Exception:
                log.exception("error handling %s %s", request.method, request.url.path)
                response = self._server_error(ctx)
            return self._finish(ctx, response)

        return endpoint

    def _server_error(self, ctx: Ctx) -> Response:
        """The 500 page: no details for the visitor, the traceback is in the log."""
        return self._render(
            ctx,
            "error.html",
            code=500,
            title=_("Server error"),
            message=_("Something went wrong on our side."),
            hint=_("Try again later; the coordinator has the log."),
        )

    def _finish(self, ctx: Ctx, response: Response) -> Response:
        """Save the session and add the security headers every page carries."""
        self._save_session(ctx, response)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'none'; object-src 'none'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        return response

    async def _read_form(self, request: Request) -> Form:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            raise TooLarge(_("the form is too large"), _("Shorten the longest field"))
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY:
                raise TooLarge(_("the form is too large"), _("Shorten the longest field"))
        return parse_form(bytes(body), request.headers.get("content-type", ""))

    def _load_session(self, request: Request) -> dict[str, Any]:
        raw = request.cookies.get(SESSION_COOKIE, "")
        return unsign(self.secret_key, raw, SESSION_AGE) if raw else {}

    def _save_session(self, ctx: Ctx, response: Response) -> None:
        if not ctx.dirty:
            return
        response.set_cookie(
            SESSION_COOKIE,
            sign(self.secret_key, ctx.session),
            max_age=SESSION_AGE,
            httponly=True,
            samesite="lax",
            secure=self.secure_cookies,
        )

    def _csrf_token(self, ctx: Ctx) -> str:
        token = ctx.session.get("csrf")
        if not isinstance(token, str) or not token:
            token = new_token()
            ctx.set("csrf", token)
        return token

    def _check_csrf(self, ctx: Ctx) -> None:
        expected = ctx.session.get("csrf")
        sent = ctx.form.fields.get("csrf", "")
        if (
            not isinstance(expected, str)
            or not expected
            or not hmac.compare_digest(expected.encode(), sent.encode())
        ):
            raise NotAllowed(
                _("this form has expired or did not come from this site"),
                _("Reload the page and send the form again (cookies must be enabled)"),
            )

    def _render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        page = self.templates.get_template(template).render(
            # Called only by pages with a form: a visitor reading the board gets no cookie.
            csrf_token=lambda: self._csrf_token(ctx),
            signed_in_coordinator=ctx.coordinator_id is not None,
            signed_in_member=ctx.organisation_id is not None,
            base_url=self.base_url,
            **values,
        )
        return HTMLResponse(page, status_code=code)

    def _wants_json(self, request: Request) -> bool:
        return request.url.path.endswith(".json") or (
            "application/json" in request.headers.get("accept", "")
            and "text/html" not in request.headers.get("accept", "")
        )

    def _error_response(self, ctx: Ctx, error: DeparturesError) -> Response:
        status = status_for(error)
        if self._wants_json(ctx.request):
            return Response(
                orjson.dumps(
                    {"ok": False, "status": status, "error": error.message, "hint": error.hint}
                ),
                status_code=status,
                media_type="application/json",
            )
        return self._render(
            ctx,
            "error.html",
            code=status,
            title=_error_title(status),
            message=error.message,
            hint=error.hint,
        )

    async def _not_found(self, request: Request, _exc: Exception) -> Response:
        ctx = Ctx(request, self._load_session(request))
        return self._error_response(ctx, NotFound(_("there is no page at this address")))

    async def _not_allowed(self, request: Request, _exc: Exception) -> Response:
        ctx = Ctx(request, self._load_session(request))
        error = BadInput(
            _("this address does not take %(method)s requests") % {"method": request.method[:10]}
        )
        response = self._error_response(ctx, error)
        response.status_code = 405
        return response

    def _redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    # --- public pages --------------------------------------------------------------------------

    def index(self, ctx: Ctx) -> Response:
        """The list of campaigns that are open or past."""
        listed = [c for c in self.store.campaigns() if c.opened_at is not None]
        return self._render(ctx, "index.html", campaigns=listed)

    def _cached(self, ctx: Ctx, make: View) -> Response:
        anonymous = ctx.coordinator_id is None and ctx.organisation_id is None
        if not anonymous or self.public_cache_seconds <= 0:
            return make(ctx)
        key = ctx.request.url.path
        now = time.monotonic()
        with self._cache_lock:
            hit = self._public_cache.get(key)
        if hit is not None and hit[0] > now:
            return _copy(hit[1])
        response = make(ctx)
        if response.status_code == 200:
            with self._cache_lock:
                if len(self._public_cache) > 1000:
                    self._public_cache.clear()
                self._public_cache[key] = (now + self.public_cache_seconds, response)
            return _copy(response)
        return response

    def board_page(self, ctx: Ctx) -> Response:
        """The departures board of one campaign."""
        return self._cached(ctx, self._board_page)

    def _board_page(self, ctx: Ctx) -> Response:
        board = boards.load_board(self.store, ctx.param("slug"))
        if board.state == State.DRAFT and board.campaign.coordinator_id != ctx.coordinator_id:
            raise NotFound(_("this campaign is not public yet"))
        return self._render(ctx, "board.html", board=board, countdown=_countdown(board))

    def board_json(self, ctx: Ctx) -> Response:
        """The board as JSON."""
        return self._cached(ctx, self._board_json)

    def _board_json(self, ctx: Ctx) -> Response:
        board = boards.load_board(self.store, ctx.param("slug"))
        if board.state == State.DRAFT:
            raise NotFound(_("this campaign is not public yet"))
        return Response(
            orjson.dumps(boards.board_json(board)),
            media_type="application/json",
            headers={"Cache-Control": "max-age=5"},
        )

    def board_atom(self, ctx: Ctx) -> Response:
        """The board's Atom feed."""
        return self._cached(ctx, self._board_atom)

    def _board_atom(self, ctx: Ctx) -> Response:
        board = boards.load_board(self.store, ctx.param("slug"))
        if board.state == State.DRAFT:
            raise NotFound(_("this campaign is not public yet"))
        return Response(
            boards.atom_feed(board, self.base_url),
            media_type="application/atom+xml; charset=utf-8",
            headers={"Cache-Control": "max-age=60"},
        )

    # --- coordinators --------------------------------------------------------------------------

    def login_page(self, ctx: Ctx) -> Response:
        """The coordinator sign-in form."""
        return self._render(ctx, "login.html")

    def login(self, ctx: Ctx) -> Response:
        """Sign a coordinator in with the token from ``departures coalition coordinator``."""
        token = ctx.form.text("token", _("Coordinator token"), max_length=200, required=True)
        coordinator_id = self.store.coordinator_by_token(token)
        if coordinator_id is None:
            raise NotAllowed(
                _("this coordinator token is not valid"),
                _("Copy it again from the output of `departures coalition coordinator create`"),
            )
        ctx.set("coordinator", coordinator_id)
        ctx.set("csrf", new_token())
        return self._redirect("/coordinator")

    def logout(self, ctx: Ctx) -> Response:
        """Sign out (coordinator and member)."""
        ctx.session.clear()
        ctx.set("csrf", new_token())
        return self._redirect("/")

    def _coordinator(self, ctx: Ctx) -> int:
        if ctx.coordinator_id is None:
            raise NotAllowed(_("this page is for coordinators"), _("Sign in at /login first"))
        return ctx.coordinator_id

    def coordinator_home(self, ctx: Ctx) -> Response:
        """The coordinator's campaigns and the form to create one."""
        coordinator_id = self._coordinator(ctx)
        return self._render(
            ctx,
            "coordinator.html",
            name=self.store.coordinator_name(coordinator_id),
            campaigns=self.store.campaigns(coordinator_id),
            zones=COMMON_ZONES,
        )

    def _campaign_fields(self, ctx: Ctx) -> dict[str, Any]:
        form = ctx.form
        zone_name = form.text("timezone", _("Timezone"), max_length=64, required=True)
        if zone_name not in available_timezones():
            raise BadInput(
                _("%(zone)s is not a timezone") % {"zone": zone_name},
                _("Give an IANA name such as Europe/Brussels"),
            )
        zone = ZoneInfo(zone_name)
        return {
            "title": form.text("title", _("Title"), max_length=200, required=True),
            "description": form.text(
                "description", _("Description"), max_length=5000, multiline=True
            ),
            "threshold": form.integer("threshold", _("Threshold"), minimum=1, maximum=100_000),
            "deadline": form.moment("deadline", _("Pledge deadline"), zone),
            "departure_at": form.moment("departure_at", _("Departure"), zone),
            "timezone": zone_name,
            "coordinator_handle": form.bluesky_handle(
                "coordinator_handle", _("Coordinator's Bluesky handle")
            ),
        }

    def create_campaign(self, ctx: Ctx) -> Response:
        """Create a draft campaign."""
        coordinator_id = self._coordinator(ctx)
        campaign = self.store.create_campaign(coordinator_id, **self._campaign_fields(ctx))
        return self._redirect(f"/coordinator/campaigns/{campaign.slug}")

    def _own(self, ctx: Ctx) -> Campaign:
        coordinator_id = self._coordinator(ctx)
        campaign = self.store.campaign(ctx.param("slug"))
        if campaign.coordinator_id != coordinator_id:
            raise NotAllowed(_("only the campaign's coordinator can manage it"))
        return campaign

    def manage(self, ctx: Ctx, *, new_invite: str | None = None) -> Response:
        """The coordinator's page of one campaign."""
        campaign = self._own(ctx)
        return self._render(
            ctx,
            "manage.html",
            campaign=campaign,
            status=self.store.status(campaign),
            organisations=self.store.organisations(campaign.id),
            invites=self.store.invites(campaign.id),
            outbox=self.store.outbox(campaign.id),
            zones=COMMON_ZONES,
            now=self.store.clock(),
            new_invite=new_invite,
        )

    def edit_campaign(self, ctx: Ctx) -> Response:
        """Change a campaign: every term while a draft, the description and links after."""
        campaign = self._own(ctx)
        starter_pack = ctx.form.url("starter_pack_url", _("Starter pack link"))
        if starter_pack and not starter_pack.startswith("https://"):
            raise BadInput(_("the starter pack link must start with https://"))
        if campaign.opened_at is None:
            fields = self._campaign_fields(ctx)
        else:
            fields = {
                "description": ctx.form.text(
                    "description", _("Description"), max_length=5000, multiline=True
                )
            }
        self.store.update_campaign(
            campaign.slug, campaign.coordinator_id, starter_pack_url=starter_pack, **fields
        )
        return self._redirect(f"/coordinator/campaigns/{campaign.slug}")

    def open_campaign(self, ctx: Ctx) -> Response:
        """Open the campaign for pledges (its terms lock)."""
        campaign = self._own(ctx)
        self.store.open_campaign(campaign.slug, campaign.coordinator_id)
        return self._redirect(f"/coordinator/campaigns/{campaign.slug}")

    def close_campaign(self, ctx: Ctx) -> Response:
        """Archive the campaign after its departure or once it is off."""
        campaign = self._own(ctx)
        self.store.close_campaign(campaign.slug, campaign.coordinator_id)
        return self._redirect(f"/coordinator/campaigns/{campaign.slug}")

    def create_invite(self, ctx: Ctx) -> Response:
        """Create a single-use invitation link, shown once on the page."""
        campaign = self._own(ctx)
        note = ctx.form.text("note", _("Who it is for"), max_length=200)
        days = ctx.form.integer("days", _("Valid for (days)"), minimum=1, maximum=90)
        token = self.store.create_invite(
            campaign.slug, campaign.coordinator_id, note, timedelta(days=days)
        )
        return self.manage(ctx, new_invite=f"{self.base_url}/invite/{token}")

    # --- members -------------------------------------------------------------------------------

    def invite_page(self, ctx: Ctx) -> Response:
        """The form an invited organisation fills in to join."""
        _invite, campaign = self.store.check_invite(ctx.param("token"))
        return self._render(
            ctx, "accept.html", campaign=campaign, token=ctx.param("token"), values={}
        )

    def _organisation_fields(self, ctx: Ctx) -> dict[str, Any]:
        form = ctx.form
        website = form.url("website", _("Website"))
        handle = form.bluesky_handle("bluesky_handle", _("Bluesky handle"))
        did = self.resolver.resolve(handle) if handle else ""
        return {
            "name": form.text("name", _("Organisation name"), max_length=200, required=True),
            "email": form.email("email", _("Contact e-mail")),
            "website": website,
            "x_handle": form.x_handle("x_handle", _("X handle")),
            "bluesky_handle": handle,
            "bluesky_did": did,
            "verified_domain": bool(handle) and verified_domain(handle, website),
            "public_name": form.flag("public_name"),
        }

    def accept_invite(self, ctx: Ctx) -> Response:
        """Join the campaign: creates the organisation and signs it in."""
        organisation, key = self.store.accept_invite(
            ctx.param("token"), **self._organisation_fields(ctx)
        )
        ctx.set("organisation", organisation.id)
        ctx.set("csrf", new_token())
        return self._member(ctx, organisation, new_key=key)

    def member_sign_in_page(self, ctx: Ctx) -> Response:
        """The member sign-in form (with the key shown when the organisation joined)."""
        return self._render(ctx, "member_sign_in.html")

    def member_sign_in(self, ctx: Ctx) -> Response:
        """Sign a member organisation in with its key."""
        key = ctx.form.text("key", _("Member key"), max_length=200, required=True)
        organisation = self.store.organisation_by_key(key)
        if organisation is None:
            raise NotAllowed(
                _("this member key is not valid"),
                _("Copy it again from the page you saw when you joined"),
            )
        ctx.set("organisation", organisation.id)
        ctx.set("csrf", new_token())
        return self._redirect("/member")

    def _signed_in_organisation(self, ctx: Ctx) -> Organisation:
        if ctx.organisation_id is None:
            raise NotAllowed(
                _("this page is for member organisations"),
                _("Sign in at /member/sign-in with your member key"),
            )
        return self.store.organisation(ctx.organisation_id)

    def member_page(self, ctx: Ctx) -> Response:
        """The member's own page: details, pledge, withdrawal, landing, farewell text."""
        return self._member(ctx, self._signed_in_organisation(ctx))

    def _member(
        self,
        ctx: Ctx,
        organisation: Organisation,
        new_key: str | None = None,
        status_code: int = 200,
        **extra: Any,
    ) -> Response:
        campaign = self.store.campaign_by_id(organisation.campaign_id)
        status = self.store.status(campaign)
        welcome = self.departure.welcome(organisation) if self.departure else None
        return self._render(
            ctx,
            "member.html",
            code=status_code,
            organisation=organisation,
            campaign=campaign,
            status=status,
            pledge=self.store.pledge_in_force(organisation),
            new_key=new_key,
            now=self.store.clock(),
            going=organisation.key in status.resolution.members,
            welcome=welcome,
            modlist=self.departure.modlist_uri(campaign.id) if self.departure else "",
            subscribed=self.departure.subscribed(organisation) if self.departure else False,
            max_welcome=MAX_WELCOME_GRAPHEMES,
            reconnect=self.reconnect.settings(organisation),
            proposals=self.reconnect.proposals(organisation),
            can_follow_for_us=welcome is not None and bool(welcome.account_handle),
            **extra,
        )

    def member_details(self, ctx: Ctx) -> Response:
        """Update the organisation's own details."""
        organisation = self._signed_in_organisation(ctx)
        self.store.update_organisation(organisation.id, **self._organisation_fields(ctx))
        return self._redirect("/member")

    def member_pledge(self, ctx: Ctx) -> Response:
        """Pledge, unconditionally or on condition that N others go."""
        organisation = self._signed_in_organisation(ctx)
        kind = ctx.form.choice("kind", _("Kind of pledge"), ("unconditional", "conditional"))
        min_others = 0
        if kind == "conditional":
            min_others = ctx.form.integer(
                "min_others", _("Number of other organisations"), minimum=1, maximum=100_000
            )
        self.store.pledge(organisation.id, min_others)
        return self._redirect("/member")

    def member_withdraw(self, ctx: Ctx) -> Response:
        """Withdraw the pledge (until the deadline)."""
        organisation = self._signed_in_organisation(ctx)
        self.store.withdraw(organisation.id)
        return self._redirect("/member")

    def member_landed(self, ctx: Ctx) -> Response:
        """Mark the organisation as landed on Bluesky."""
        organisation = self._signed_in_organisation(ctx)
        self.store.mark_landed(organisation.id)
        return self._redirect("/member")

    def member_welcome(self, ctx: Ctx) -> Response:
        """Prepare the welcome post, opt in or out, connect the Bluesky account."""
        organisation = self._signed_in_organisation(ctx)
        if self.departure is None:
            raise NotAllowed(
                _("this coalition does not publish welcome posts"),
                _("Post your welcome on Bluesky yourself on the departure day"),
            )
        # Length is checked in graphemes by the departure day; this only bounds the form.
        text = ctx.form.text("welcome_text", _("Welcome post"), max_length=3000, multiline=True)
        password = ctx.form.text("app_password", _("App password"), max_length=100)
        self.departure.prepare(
            organisation, text, opted_in=ctx.form.flag("opted_in"), app_password=password
        )
        return self._redirect("/member")

    def member_moderation(self, ctx: Ctx) -> Response:
        """Subscribe the member's account to the coalition's moderation list, or stop."""
        organisation = self._signed_in_organisation(ctx)
        if self.departure is None:
            raise NotAllowed(_("this coalition makes no Bluesky writes"))
        self.departure.subscribe(organisation, on=ctx.form.flag("subscribe"))
        return self._redirect("/member")

    # --- reconnect ---------------------------------------------------------------------------

    def member_reconnect_upload(self, ctx: Ctx, files: dict[str, tuple[str, bytes]]) -> Response:
        """Store the X ids the member followed (from its archive's zip or following.js).

        A file that cannot be read is explained on the page (HTTP 400); nothing is stored.
        """
        organisation = self._signed_in_organisation(ctx)
        try:
            following = _following_upload(organisation, files.get("archive"))
        except DeparturesError as error:
            return self._member(ctx, organisation, status_code=400, reconnect_error=error)
        count = self.reconnect.save_followings(organisation, following)
        return self._member(ctx, organisation, reconnect_saved=count)

    def member_reconnect_delete(self, ctx: Ctx) -> Response:
        """Delete the member's stored X following ids."""
        organisation = self._signed_in_organisation(ctx)
        self.reconnect.delete_followings(organisation)
        return self._redirect("/member#reconnect")

    def member_reconnect_auto_follow(self, ctx: Ctx) -> Response:
        """Turn "follow them for us" on (needs the connected Bluesky account) or off."""
        organisation = self._signed_in_organisation(ctx)
        on = ctx.form.flag("auto_follow")
        if on:
            if self.departure is None:
                raise NotAllowed(
                    _("this coalition makes no Bluesky writes"),
                    _("Follow the accounts yourself with the links on your member page"),
                )
            if not self.departure.welcome(organisation).account_handle:
                raise BadInput(
                    _("connect your Bluesky account first"),
                    _("Give an app password under “Welcome post on Bluesky”"),
                )
        self.reconnect.set_auto_follow(organisation, on)
        return self._redirect("/member#reconnect")


def _following_upload(organisation: Organisation, item: tuple[str, bytes] | None) -> frozenset[str]:
    """The X ids of an uploaded archive zip or following.js (the directory's reader)."""
    if item is None:
        raise BadInput(
            _("no file was chosen"),
            _("Choose your X archive's zip, or data/following.js from it"),
        )
    data = item[1]
    if data.startswith(b"PK"):
        upload = read_upload(data, None, require_account=False)
    else:
        upload = read_upload(None, data)
    if upload.following is None:
        raise BadInput(
            _("this zip has no data/following.js"),
            _("Upload the zip of your X archive, or its data/following.js"),
        )
    if upload.account is not None and organisation.x_handle:
        username = upload.account[1]
        if username.lower() != organisation.x_handle.lower().removeprefix("@"):
            raise BadInput(
                _("this archive is of @%(other)s, not of your organisation's @%(ours)s")
                % {"other": username, "ours": organisation.x_handle.removeprefix("@")},
                _("Upload your own archive, or correct the X handle in your details"),
            )
    return upload.following


def _copy(response: Response) -> Response:
    # A fresh response object per request: the endpoint adds headers (and maybe a cookie).
    return Response(
        response.body,
        status_code=response.status_code,
        headers={k: v for k, v in response.headers.items() if k.lower() != "content-length"},
    )


def _error_title(status: int) -> str:
    return {
        400: _("That did not work"),
        403: _("Not allowed"),
        404: _("Not found"),
        409: _("Not possible now"),
        413: _("Too large"),
        429: _("Too many requests"),
        503: _("Unavailable"),
    }.get(status, _("Error"))


def _when(moment: datetime | None, campaign: Campaign | None = None) -> str:
    """A time for people: in the campaign's timezone, with the zone's abbreviation."""
    if moment is None:
        return ""
    local = campaign.local(moment) if campaign is not None else moment
    return local.strftime("%Y-%m-%d %H:%M %Z").strip()


def _countdown(board: boards.Board) -> str:
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
