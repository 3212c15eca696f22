"""Step 5's "Continue with Bluesky" in a real headless Chromium against the sandbox, in Dutch.

``departures desk`` runs as its own process on 127.0.0.1, an AT Protocol OAuth loopback
client of the sandbox's PDS. The browser is told plainly that an unknown handle does not
exist, then signs in on the PDS's own pages and allows the desk; the granted (DPoP-bound)
session lands in the 0600 session store, and publishing — the desk's background job,
unchanged — writes every planned post with it. Disconnecting forgets the session here and
revokes it at the PDS.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from test_desk_publish_browser import SHOTS, Desk, _check_accessible, _records

from departures.archive.importer import import_archive
from departures.bluesky.oauth import OAuthSession
from departures.bluesky.pds import Pds, open_account
from departures.bluesky.records import FOLLOW, POST
from departures.bluesky.session import SessionStore, StoredSession, oauth_client_of
from departures.desk import background
from departures.errors import BlueskyError
from departures.migrate import publish as publishing
from departures.migrate.plan import build_plan
from departures.migrate.select import Selection
from departures.samples.x_archive import generate_archive
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import DB_NAME, Workspace
from helpers.oauth import follow_write, sign_in_at_the_pds

LANGUAGE = "nl"


@pytest.fixture
def planned(sandbox: TestSandbox, tmp_path: Path) -> Iterator[tuple[Path, Account, dict[str, str]]]:
    """A workspace with a small imported archive and its plan; the organisation's account."""
    workspace_dir = tmp_path / "ws"
    archive = generate_archive(tmp_path / "x", tweets=12, as_zip=True, profile="demo", seed=5)
    workspace = Workspace.open(workspace_dir)
    import_archive(archive, workspace)
    build_plan(workspace, Selection())
    workspace.close()
    env = {
        **os.environ,
        "DEPARTURES_CONFIG_DIR": str(tmp_path / "config"),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
        "DEPARTURES_DEBUG": "",
    }
    yield workspace_dir, sandbox.new_account("deskoa"), env


@pytest.mark.sandbox
def test_continue_with_bluesky_then_publish_with_that_session(
    browser: Any, sandbox: TestSandbox, planned: tuple[Path, Account, dict[str, str]]
) -> None:
    workspace_dir, org, env = planned
    desk = Desk(workspace_dir, env)
    desk.start()
    sessions = Path(env["DEPARTURES_CONFIG_DIR"]) / "sessions.json"
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="nl-BE",
        extra_http_headers={"Accept-Language": "nl-BE,nl;q=0.9"},
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(desk.url)
        page.goto(desk.base + "/publish")
        assert page.locator("html").get_attribute("lang") == LANGUAGE
        _check_accessible(page)
        oauth_form = page.locator("form#oauth-connect")

        # An unknown handle: one clear line on the page, what was typed stays, nothing stored.
        page.fill("#oauth-handle", "nobody-here.test")
        page.fill("#oauth-service", sandbox.pds_url)
        oauth_form.locator("button").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "Deze Bluesky-handle bestaat niet" in alert.inner_text()
        assert "Traceback" not in page.content()
        assert page.locator("#oauth-handle").input_value() == "nobody-here.test"
        assert not sessions.exists()
        _shot(page, "5-oauth-unknown-handle")

        # The real sign-in, on the PDS's own pages, back to the desk.
        page.fill("#oauth-handle", org.handle)
        page.fill("#oauth-service", sandbox.pds_url)
        oauth_form.locator("button").click()
        page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
        page.locator("input[name=password]").wait_for()
        _shot(page, "5-oauth-at-the-pds")
        sign_in_at_the_pds(page, org.password)
        page.locator("form[action='/publish/disconnect']").wait_for()
        assert org.handle in page.locator("#connect-title + p").inner_text()
        _shot(page, "5-oauth-connected")

        # Kept in the 0600 session store; nothing of it in the workspace.
        assert stat.S_IMODE(sessions.stat().st_mode) == 0o600
        stored = StoredSession(**_current(sessions))
        assert stored.oauth is not None and stored.did == org.did
        granted = OAuthSession.from_json(stored.oauth["session"])
        assert granted.access_token and granted.pds == sandbox.pds_url
        database = (workspace_dir / DB_NAME).read_bytes()
        assert granted.access_token.encode() not in database
        assert str(granted.refresh_token).encode() not in database

        # Publishing, the desk's background job unchanged, writes with that session.
        page.check("#no_budget")
        page.locator("form[action='/publish/start'] button").click()
        status = background.wait(workspace_dir, "publish", timeout=240)
        assert status.state == "done", status
        workspace = Workspace.open(workspace_dir)
        planned_count = publishing.status(workspace).planned
        workspace.close()
        posts = _records(sandbox, org.did, POST)
        assert planned_count > 0 and len(posts) == planned_count
        # Images too: the session's scope covers blob uploads.
        embeds = [post["value"].get("embed", {}).get("$type") for post in posts]
        assert "app.bsky.embed.images" in embeds, embeds

        # Following (what the desk's follow job opens: open_account) with the same session,
        # its access token made stale first: another process renews it as the same public
        # client (the client_id kept with it) and stores the rotated tokens.
        store = SessionStore(sessions.parent)
        aged = store.get()
        assert aged is not None and aged.oauth is not None
        stale = OAuthSession.from_json(aged.oauth["session"])
        stale.expires_at = 0
        aged.oauth["session"] = stale.to_json()
        store.put(aged)
        friend = sandbox.new_account("deskoafr")
        with closing(open_account(store=store)) as pds:
            pds.apply_writes([follow_write(friend.did, "3kaaaaaaaaaa3")])
        renewed = store.get()
        assert renewed is not None and renewed.oauth is not None
        fresh = OAuthSession.from_json(renewed.oauth["session"])
        assert fresh.expires_at > 0 and fresh.refresh_token != stale.refresh_token
        stored = renewed
        follows = _records(sandbox, org.did, FOLLOW)
        assert [f["value"]["subject"] for f in follows] == [friend.did]

        # Disconnect: forgotten here, revoked at the PDS.
        page.goto(desk.base + "/publish")
        page.locator("form[action='/publish/disconnect'] button").click()
        page.locator("form#oauth-connect").wait_for()
        assert _current(sessions) is None
        oauth, kept = oauth_client_of(stored)
        pds = Pds(oauth.sdk_client(kept, lambda changed: None), kept.did, kept.handle)
        with pytest.raises(BlueskyError, match="expired or was revoked"):
            pds.apply_writes([follow_write(org.did, "3kaaaaaaaaaa2")])
        pds.close()
    finally:
        context.close()
        desk.kill()


def _shot(page: Any, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{LANGUAGE}-{step}.png"), full_page=True)


def _current(sessions: Path) -> dict[str, Any] | None:
    import json

    data = json.loads(sessions.read_text())
    current = data.get("current")
    return data["accounts"][current] if current else None


@pytest.mark.sandbox
def test_denying_at_the_pds_is_one_line_in_the_desk_and_stores_nothing(
    browser: Any, sandbox: TestSandbox, planned: tuple[Path, Account, dict[str, str]]
) -> None:
    workspace_dir, org, env = planned
    desk = Desk(workspace_dir, env)
    desk.start()
    context = browser.new_context(extra_http_headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(desk.url)
        page.goto(desk.base + "/publish")
        page.fill("#oauth-handle", org.handle)
        page.fill("#oauth-service", sandbox.pds_url)
        page.locator("form#oauth-connect button").click()
        page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
        sign_in_at_the_pds(page, org.password, accept=False)
        page.wait_for_url(f"{desk.base}/publish/oauth/callback**")
        alert = page.get_by_role("alert")
        assert "De koppeling werd geannuleerd op uw Bluesky-server" in alert.inner_text()
        assert "Traceback" not in page.content()
        assert not (Path(env["DEPARTURES_CONFIG_DIR"]) / "sessions.json").exists()
        # Back to the desk: the cookie comes along again (a same-site navigation).
        page.get_by_role("link", name="Terug naar koppelen en publiceren").click()
        page.locator("form#oauth-connect").wait_for()
    finally:
        context.close()
        desk.kill()
