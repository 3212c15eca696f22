"""Every desk page a person reads, rendered through the in-process desk in Dutch and in French
with a generated archive imported, swept for English left behind (the coalition's detector,
``helpers.sweep``): a catalogue message left in English, a wrong ``<html lang>``, a date
written the English way, and words only a terminal understands (``departures login``,
``--service``). The error pages are swept with errors of the library (an archive the desk
cannot read, a Bluesky server that does not answer) as well as the desk's own refusals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from departures.bluesky.session import SessionStore, StoredSession
from departures.desk import background
from departures.desk.app import Desk
from departures.samples.x_archive import generate_archive
from helpers.desk import browser, new_desk, signed_in
from helpers.sweep import cli_words, english_left
from helpers.web import CLOSED_PORT, InProcessBrowser

LANGUAGES = ("nl", "fr")
COOKIE = "desk_lang"

# GET pages of a desk with an imported archive and a plan.
PAGES = (
    "/archive",
    "/archive/overview",
    "/choose",
    "/images",
    "/rehearse",
    "/publish",
    "/publish/gates",
    "/publish/undo",
    "/audience",
    "/audience/review",
    "/no-such-page",
)


@dataclass
class Swept:
    """The pages one language's sweep saw, by what was asked for."""

    pages: dict[str, httpx.Response] = field(default_factory=dict)


def _wait(visitor: InProcessBrowser, location: str) -> str:
    job = location.split("/jobs/", 1)[1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = visitor.get(f"/jobs/{job}.json").json()
        if state["state"] != "running":
            return str(state["state"])
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def _import(desk: Desk, visitor: InProcessBrowser, path: Path) -> tuple[str, str]:
    answer = visitor.post(
        "/archive/path", data={"path": str(path), "csrf": desk.keys.csrf}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    return _wait(visitor, location), location


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("desk-sweep")
    return generate_archive(folder / "x", tweets=80, as_zip=True, profile="demo", seed=5)


@pytest.fixture(params=LANGUAGES)
def swept(
    request: pytest.FixtureRequest,
    archive: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, Swept]]:
    """Every desk page in one language, the error pages included."""
    language: str = request.param
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "config"))
    desk = new_desk(tmp_path)
    seen = Swept()
    # A visitor without the desk's one-time link: the guard's refusal.
    with browser(desk) as stranger:
        stranger.client.cookies.set(COOKIE, language)
        seen.pages["refused"] = stranger.get("/archive")
    with signed_in(desk) as visitor:
        visitor.client.cookies.set(COOKIE, language)
        # Form refusals of the desk's own, and the library's: a file that is not an archive.
        seen.pages["archive: no path"] = visitor.post(
            "/archive/path", data={"path": "", "csrf": desk.keys.csrf}
        )
        notes = tmp_path / "notes.zip"
        notes.write_text("minutes of the board meeting")
        state, location = _import(desk, visitor, notes)
        assert state == "failed"
        seen.pages["archive: not an archive"] = visitor.get(location)
        state, _location = _import(desk, visitor, archive)
        assert state == "done"
        answer = visitor.post(
            "/choose",
            data={"csrf": desk.keys.csrf, "shown": "1", "originals": "on", "threads": "on"},
            follow_redirects=False,
        )
        assert _wait(visitor, answer.headers["location"]) == "done"
        for path in PAGES:
            seen.pages[path] = visitor.get(path)
        images = seen.pages["/images"].text
        tweet = images.split('name="tweet" value="', 1)[1].split('"', 1)[0]
        position = images.split('name="position" value="', 1)[1].split('"', 1)[0]
        too_long = visitor.post(
            "/images/alt",
            data={"csrf": desk.keys.csrf, "tweet": tweet, "position": position, "alt": "x" * 3000},
            headers={"accept": "application/json"},
        )
        assert too_long.status_code == 400
        # What the page's script shows, as a page would show it.
        seen.pages["images: alt text too long"] = httpx.Response(
            400,
            html=f'<html lang="{language}"><p>{too_long.json()["message"]}</p></html>',
        )
        seen.pages["choose: no post named"] = visitor.post(
            "/choose/leave-out", data={"csrf": desk.keys.csrf}
        )
        seen.pages["choose: bad number"] = visitor.post(
            "/choose",
            data={"csrf": desk.keys.csrf, "shown": "1", "min_likes": "many"},
        )
        # The library's Bluesky errors: a server that does not answer.
        seen.pages["publish: server does not answer"] = visitor.post(
            "/publish/connect",
            data={
                "csrf": desk.keys.csrf,
                "handle": "natuurpunt.test",
                "password": "abcd-efgh-ijkl-mnop",
                "service": CLOSED_PORT,
            },
        )
        seen.pages["publish: start unconnected"] = visitor.post(
            "/publish/start", data={"csrf": desk.keys.csrf}
        )
        # Publishing (a background process) with an account whose server does not answer:
        # the failure comes back on the publish page.
        SessionStore().put(
            StoredSession(
                handle="natuurpunt.test",
                did="did:plc:" + "n" * 24,
                pds=CLOSED_PORT,
                service=CLOSED_PORT,
                access_jwt="access",
                refresh_jwt="refresh",
                logged_in_at="2026-12-01T09:00:00Z",
            )
        )
        started = visitor.post("/publish/start", data={"csrf": desk.keys.csrf})
        assert started.status_code == 200, started.text
        deadline = time.monotonic() + 120
        while background.read(desk.workspace_path, "publish").state == background.RUNNING:
            assert time.monotonic() < deadline, "publishing did not end"
            time.sleep(0.1)
        seen.pages["publish: failed"] = visitor.get("/publish")
        yield language, seen


def test_every_desk_page_is_in_the_reader_language(swept: tuple[str, Swept]) -> None:
    language, seen = swept
    problems: list[str] = []
    for name, response in seen.pages.items():
        assert "text/html" in response.headers["content-type"], name
        assert "Traceback" not in response.text, name
        html_lang, found = english_left(response.text, language)
        if html_lang != language:
            problems.append(f"{name}: <html lang={html_lang!r}>")
        problems += [f"{name}: {problem}" for problem in found]
        problems += [f"{name}: {problem}" for problem in cli_words(response.text, language)]
    assert not problems, "\n".join(problems)


def test_the_sweep_saw_the_pages_and_their_errors(swept: tuple[str, Swept]) -> None:
    """The sweep is only worth something if the pages are what they should be: the refusals
    refused, the pages shown, the errors there to be read."""
    _language, seen = swept
    statuses = {name: response.status_code for name, response in seen.pages.items()}
    assert statuses["refused"] in (401, 403)
    assert statuses["/no-such-page"] == 404
    for name in ("archive: no path", "archive: not an archive", "choose: no post named"):
        assert statuses[name] == 400, name
        assert 'role="alert"' in seen.pages[name].text, name
    assert statuses["publish: server does not answer"] == 400
    # The library's error in the page's words, not the CLI's English.
    unreachable = seen.pages["publish: server does not answer"].text
    assert "Cannot reach the Bluesky server" not in unreachable
    assert "Bluesky" in unreachable and 'role="alert"' in unreachable
    for path in PAGES[:-1]:
        assert statuses[path] == 200, path
    failed = seen.pages["publish: failed"].text
    assert failed.count('role="alert"') == 1, failed
    assert "Cannot reach" not in failed and "The session of" not in failed
