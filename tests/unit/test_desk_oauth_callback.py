"""The desk's OAuth callback: open without the desk's cookie, authenticated by its state."""

from __future__ import annotations

from pathlib import Path

from departures.desk.app import Desk
from departures.workspace.db import Workspace
from helpers.desk import browser, new_desk, signed_in
from helpers.web import InProcessBrowser


def test_a_callback_the_desk_did_not_start_is_one_line_and_shows_no_secret(
    tmp_path: Path,
) -> None:
    desk = new_desk(tmp_path)
    # No cookie: as the browser comes back from the account's server.
    with browser(desk) as visitor:
        _check_callback(desk, visitor)


def _check_callback(desk: Desk, visitor: InProcessBrowser) -> None:
    answer = visitor.get("/publish/oauth/callback?state=nope&code=x&iss=http://elsewhere")
    assert answer.status_code == 400
    assert "This connection was already used or has expired" in answer.text
    assert desk.keys.csrf not in answer.text and "Traceback" not in answer.text
    # Every other page, and the callback's own path by POST, still want the cookie.
    assert visitor.get("/publish", follow_redirects=False).status_code == 403
    assert visitor.post("/publish/oauth/callback", data={}).status_code == 403


def test_continue_with_bluesky_without_a_handle_says_what_to_give(tmp_path: Path) -> None:
    desk = new_desk(tmp_path)
    Workspace.open(desk.workspace_path).close()
    with signed_in(desk) as visitor:
        answer = visitor.post(
            "/publish/oauth", data={"csrf": desk.keys.csrf, "handle": " @", "service": "x y"}
        )
    assert answer.status_code == 400
    assert "Give the account&#39;s handle" in answer.text
    assert 'id="oauth-service" name="service" value="x y"' in answer.text
