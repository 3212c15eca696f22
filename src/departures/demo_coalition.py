"""The coalition part of ``make demo``: a small campaign in the sandbox, start to finish.

A coordinator and three organisations: two pledge unconditionally, one on condition that two
others go, so the campaign tips. The coordinator's steps are the ``departures coalition``
commands; what members do in their browser (accept the invitation, pledge, prepare the welcome
post, mark themselves landed) goes through the coalition's real web pages, in-process. The
departure day is fast-forwarded by giving the campaign a pledge deadline and a departure a few
tens of seconds ahead instead of weeks, and waiting for them with the real clock.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from rich.console import Console

from departures.bluesky.session import PASSWORD_ENV
from departures.coalition.db import connect, migrate
from departures.coalition.departure import DepartureDay
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.listsync import CoalitionLists
from departures.coalition.security import load_secret_key
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import vault
from departures.coalition.web import CoalitionApp
from departures.commands.coalition import TOKEN_ENV
from departures.errors import DeparturesError, SandboxError
from departures.sandbox import Account, Sandbox

#: Seconds from creating the campaign to its pledge deadline, and from there to departure:
#: enough for three organisations to join and pledge, short enough to wait for.
DEADLINE_AFTER = 30
DEPARTURE_AFTER = 10


@dataclass(frozen=True)
class Member:
    """One fictional member organisation of the demo coalition."""

    handle: str
    name: str
    x_handle: str
    min_others: int
    welcome: str


MEMBERS = (
    Member(
        "green-roots",
        "Green Roots",
        "GreenRootsOrg",
        0,
        "Green Roots has landed on Bluesky 🌱 Same people, same work, a better place to talk.",
    ),
    Member(
        "youth-voice",
        "Youth Voice",
        "YouthVoiceNet",
        0,
        "Hello Bluesky! Youth Voice left X today, together with our coalition partners.",
    ),
    Member(
        "fair-food",
        "Fair Food Alliance",
        "FairFoodAll",
        2,
        "Fair Food Alliance is here now. We said we would go if two others went: they did.",
    ),
)

Run = Callable[..., str]


def fresh_account(box: Sandbox, handle: str) -> Account:
    """A sandbox account for ``handle``, numbered if an earlier demo run took the handle."""
    for attempt in range(1, 50):
        wanted = handle if attempt == 1 else f"{handle}-{attempt}"
        try:
            return box.create_account(wanted)
        except SandboxError as exc:
            if "andle" not in exc.message:
                raise
    raise SandboxError(
        f"could not find a free handle like {handle}", "Run: departures sandbox down"
    )


def free_port(preferred: int) -> int:
    """``preferred`` if nothing listens there, else a free port the system picks."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise DeparturesError("found no free port for the board", "Pass another --board-port")


class Browser:
    """A member's browser on the coalition's web pages (cookies kept, CSRF tokens read)."""

    def __init__(self, app: CoalitionApp, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            follow_redirects=True,
        )
        self._csrf = ""

    def get(self, path: str) -> str:
        """Load a page (and remember its form's CSRF token)."""
        return self._page(self._loop.run_until_complete(self._client.get(path)))

    def post(self, path: str, form: dict[str, str]) -> str:
        """Send a form from the last page loaded."""
        data = {"csrf": self._csrf, **form}
        return self._page(self._loop.run_until_complete(self._client.post(path, data=data)))

    def _page(self, response: httpx.Response) -> str:
        if response.status_code != 200:
            found = re.search(r"<p[^>]*>(.*?)</p>", response.text, re.S)
            said = re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else ""
            raise DeparturesError(
                f"the coalition page {response.url.path} answered {response.status_code}"
                + (f": {said}" if said else ""),
                "See the coalition's log above",
            )
        token = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if token:
            self._csrf = token.group(1)
        return response.text

    def close(self) -> None:
        """Close the connection pool."""
        self._loop.run_until_complete(self._client.aclose())


@dataclass
class CoalitionDemo:
    """What the coalition step made, for the summary and for serving the board."""

    slug: str
    db_url: str
    board_url: str
    port: int
    welcome_urls: list[str]
    list_url: str
    pack_url: str


def _wait_until(moment: datetime, console: Console, what: str) -> None:
    left = (moment - datetime.now(UTC)).total_seconds()
    if left <= 0:
        return
    console.print(f"[dim](waiting {left:.0f} s for {what})")
    time.sleep(left + 1)


def run_coalition(
    box: Sandbox,
    demo_dir: Path,
    run: Run,
    step: Callable[[str], None],
    console: Console,
    board_port: int,
) -> CoalitionDemo:
    """Run the campaign from creation to departure; return where to look at it."""
    db_path = demo_dir / "coalition.db"
    for old in demo_dir.glob("coalition.db*"):
        old.unlink()
    db_url = f"sqlite:///{db_path}"
    db = ["--db", db_url]
    service = ["--bluesky-service", box.pds_url]
    ticking = ["coalition", "tick", *db, "--handle-service", box.pds_url, *service]
    port = free_port(board_port)
    base_url = f"http://127.0.0.1:{port}"

    step("9. A coalition: three organisations leave X together (the coalition service)")
    office = fresh_account(box, "coalition-office")
    accounts = [fresh_account(box, member.handle) for member in MEMBERS]
    console.print(
        f"Sandbox accounts: the coordinator [bold]{office.handle}[/] and the members "
        + ", ".join(f"[bold]{a.handle}[/]" for a in accounts)
        + "."
    )
    console.print(
        "[dim](fast-forward: the pledge deadline is set "
        f"{DEADLINE_AFTER} s ahead and the departure {DEPARTURE_AFTER} s after it, not weeks)"
    )
    now = datetime.now(UTC).replace(microsecond=0)
    deadline = now + timedelta(seconds=DEADLINE_AFTER)
    departure = deadline + timedelta(seconds=DEPARTURE_AFTER)
    created = run(
        "coalition", "campaign", "create", *db,
        "--title", "Leave X together",
        "--description", "Three organisations leave X on the same day (a departures demo).",
        "--threshold", "3",
        "--deadline", deadline.strftime("%Y-%m-%dT%H:%M:%S"),
        "--departure", departure.strftime("%Y-%m-%dT%H:%M:%S"),
        "--timezone", "UTC",
        "--coordinator-name", "Demo coalition office",
        "--coordinator-handle", office.handle,
        capture=True,
    )  # fmt: skip
    slug_found = re.search(r"Campaign '([^']+)' created", created)
    if slug_found is None:
        raise DeparturesError("the campaign was not created", "See the output above")
    slug = slug_found.group(1)
    token = created.strip().splitlines()[-1].strip()
    # The coordinator's token is a secret: it goes through the environment, not the command line.
    coordinator = {TOKEN_ENV: token}
    run("coalition", "campaign", "open", *db, slug, env=coordinator)
    run(
        "coalition", "campaign", "connect-bluesky", *db, slug, "--handle", office.handle,
        *service, env={**coordinator, PASSWORD_ENV: office.app_password},
    )  # fmt: skip
    links = [
        run(
            "coalition", "invite", *db, "--base-url", base_url, slug, "--note", member.name,
            env=coordinator, capture=True,
        ).strip().splitlines()[-1]
        for member in MEMBERS
    ]  # fmt: skip

    console.print(
        "\n(the three organisations accept their invitations and pledge in the browser; "
        "the demo does it for them)"
    )
    engine = connect(db_url)
    migrate(engine)
    store = CoalitionStore(engine)
    day = DepartureDay(store, vault(demo_dir), box.pds_url)
    app = CoalitionApp(
        store,
        secret_key=load_secret_key(demo_dir),
        resolver=XrpcHandleResolver(box.pds_url),
        base_url=base_url,
        departure=day,
    )
    loop = asyncio.new_event_loop()
    browsers: list[Browser] = []
    try:
        for member, account, link in zip(MEMBERS, accounts, links, strict=True):
            browser = Browser(app, loop)
            browsers.append(browser)
            path = link.removeprefix(base_url)
            browser.get(path)
            browser.post(
                path,
                {
                    "name": member.name,
                    "x_handle": member.x_handle,
                    "bluesky_handle": account.handle,
                    "public_name": "1",
                },
            )
            if member.min_others:
                browser.post("/member/pledge", {"kind": "conditional", "min_others": "2"})
                pledge = f"pledges on condition that {member.min_others} others go"
            else:
                browser.post("/member/pledge", {"kind": "unconditional"})
                pledge = "pledges unconditionally"
            browser.post(
                "/member/welcome",
                {
                    "welcome_text": member.welcome,
                    "opted_in": "1",
                    "app_password": account.app_password,
                },
            )
            console.print(
                f"  {member.name} joins, {pledge}, and opts in to a welcome post "
                f"(connecting @{account.handle} with an app password, which is not stored)."
            )

        console.print("\nThe coordinator's scheduler pass (cron, or `coalition serve` itself):")
        run(*ticking)
        status = store.status(store.campaign(slug))
        console.print(
            f"The campaign is [bold]{status.state.value}[/]: {status.tipping.going} of 3 "
            "organisations are going, so the conditional pledge holds too."
        )

        _wait_until(departure, console, "the departure")
        console.print("Departure time. The scheduler pass publishes the welcome posts:")
        run(*ticking)
        console.print(
            "\n(the members see their post published and mark themselves landed in the browser)"
        )
        for browser in browsers:
            browser.get("/member")
            browser.post("/member/landed", {})
        run(*ticking)
    finally:
        for browser in browsers:
            browser.close()
        loop.close()

    campaign = store.campaign(slug)
    welcome_urls = []
    for organisation in store.organisations(campaign.id):
        uri = day.welcome(organisation).post_uri
        if uri:
            welcome_urls.append(
                f"{box.appview_url}/xrpc/app.bsky.feed.getPosts?uris={quote(uri, safe='')}"
            )
    list_uri, pack_uri = CoalitionLists(store, vault(demo_dir), box.pds_url).graph(campaign)
    engine.dispose()
    return CoalitionDemo(
        slug=slug,
        db_url=db_url,
        board_url=f"{base_url}/campaigns/{slug}",
        port=port,
        welcome_urls=welcome_urls,
        list_url=f"{box.appview_url}/xrpc/app.bsky.graph.getList?list={quote(list_uri, safe='')}",
        pack_url=(
            f"{box.appview_url}/xrpc/app.bsky.graph.getStarterPack?"
            f"starterPack={quote(pack_uri, safe='')}"
        ),
    )
