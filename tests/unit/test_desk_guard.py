"""The desk's safety rules, through its real app in-process: Host, token, cookie, CSRF,
headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from departures.desk.app import Desk
from departures.desk.guard import COOKIE, CSP
from helpers.desk import PORT, new_desk
from helpers.desk import browser as client
from helpers.desk import signed_in as sign_in
from helpers.web import InProcessBrowser


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    return new_desk(tmp_path)


@pytest.fixture
def signed_in(desk: Desk) -> Iterator[InProcessBrowser]:
    with sign_in(desk) as visitor:
        yield visitor


def test_the_one_time_token_becomes_a_strict_httponly_cookie_and_leaves_the_url(
    desk: Desk,
) -> None:
    token = desk.keys.token
    with client(desk) as c:
        response = c.get(f"/login?token={token}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/"} <= flags
    assert token not in cookie


def test_the_token_works_once(desk: Desk) -> None:
    token = desk.keys.token
    with client(desk) as first:
        assert (first.get(f"/login?token={token}", follow_redirects=False)).status_code == 303
    with client(desk) as second:
        again = second.get(f"/login?token={token}", follow_redirects=False)
        assert again.status_code == 403
        assert "set-cookie" not in again.headers
        assert (second.get("/archive")).status_code == 403


@pytest.mark.parametrize("query", ["", "?token=", "?token=wrong"])
def test_a_missing_or_wrong_token_opens_nothing(desk: Desk, query: str) -> None:
    with client(desk) as c:
        response = c.get(f"/login{query}")
        assert response.status_code == 403
        assert "set-cookie" not in response.headers
        assert "already been used or is not the desk" in response.text
        page = c.get("/archive")
    assert page.status_code == 403
    assert "has not opened the desk" in page.text
    # The right token still works afterwards: guessing does not spend it.
    assert desk.keys.token is not None


def test_a_forged_cookie_is_no_session(desk: Desk) -> None:
    with client(desk) as c:
        c.client.cookies.set(COOKIE, "forged")
        assert (c.get("/archive")).status_code == 403


@pytest.mark.parametrize(
    "host", ["evil.example:8765", "127.0.0.1:9999", "localhost", "127.0.0.1", "testserver"]
)
def test_a_forged_host_is_refused_before_anything_else(desk: Desk, host: str) -> None:
    # DNS rebinding: a page on evil.example re-pointed to 127.0.0.1 sends its own Host.
    with client(desk) as c:
        response = c.get(
            f"/login?token={desk.keys.token}", headers={"host": host}, follow_redirects=False
        )
    assert response.status_code == 400
    assert "set-cookie" not in response.headers
    assert desk.keys.token is not None  # not spent by the rebound request
    assert response.headers["content-security-policy"] == CSP


def test_localhost_with_the_port_is_the_same_desk(desk: Desk) -> None:
    with client(desk, f"http://localhost:{PORT}") as c:
        assert (c.get(f"/login?token={desk.keys.token}", follow_redirects=False)).status_code == 303
        assert (c.get("/archive")).status_code == 200


def test_a_form_without_the_csrf_token_changes_nothing(
    desk: Desk, signed_in: InProcessBrowser
) -> None:
    missing = signed_in.post("/archive/path", data={"path": "/nonexistent"})
    wrong = signed_in.post("/archive/path", data={"path": "/x", "csrf": "nope"})
    upload = signed_in.post(
        "/archive/upload", files={"archive": ("x.zip", b"PK", "application/zip")}
    )
    for response in (missing, wrong, upload):
        assert response.status_code == 403
        assert "did not come from the desk" in response.text
    assert not (desk.workspace_path / "archives").exists()


def test_a_form_with_the_csrf_token_reaches_the_view(
    desk: Desk, signed_in: InProcessBrowser
) -> None:
    response = signed_in.post(
        "/archive/path", data={"path": "/nonexistent/x.zip", "csrf": desk.keys.csrf}
    )
    assert response.status_code == 400
    assert "There is no file or folder at /nonexistent/x.zip" in response.text


def test_a_cross_origin_post_is_refused_even_with_the_token(
    desk: Desk, signed_in: InProcessBrowser
) -> None:
    response = signed_in.post(
        "/archive/path",
        data={"path": "/x", "csrf": desk.keys.csrf},
        headers={"origin": "http://evil.example"},
    )
    assert response.status_code == 403


def test_every_response_has_the_security_headers(desk: Desk, signed_in: InProcessBrowser) -> None:
    responses = [
        signed_in.get("/archive"),
        signed_in.get("/static/desk.css"),
        signed_in.get("/no-such-page"),
        signed_in.get("/", follow_redirects=False),
    ]
    with client(desk) as anonymous:
        responses.append(anonymous.get("/archive"))
    for response in responses:
        headers = response.headers
        assert headers["content-security-policy"] == CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["cache-control"] == "no-store"
    assert [r.status_code for r in responses] == [200, 200, 404, 303, 403]


def test_the_csp_allows_no_remote_source() -> None:
    for directive in CSP.split(";"):
        sources = directive.split()[1:]
        assert all(s in ("'self'", "'none'", "data:") for s in sources), directive
    assert "'unsafe-inline'" not in CSP


def test_the_language_follows_the_browser_then_the_switcher(
    desk: Desk, signed_in: InProcessBrowser
) -> None:
    page = signed_in.get("/archive", headers={"accept-language": "nl-BE,nl;q=0.9,en;q=0.5"})
    assert '<html lang="nl">' in page.text
    switched = signed_in.get("/language?to=fr&back=/archive", follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/archive"
    page = signed_in.get("/archive", headers={"accept-language": "nl"})
    assert '<html lang="fr">' in page.text
    away = signed_in.get("/language?to=en&back=//evil.example/", follow_redirects=False)
    assert away.headers["location"] == "/"
