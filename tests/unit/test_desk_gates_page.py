"""The desk's reply and quote controls page in-process: the stored choice shown and changed,
bad input as one clear message with nothing changed, and no job without an account.

Writing the gates on Bluesky through the page is proved against the sandbox and in Chromium
(``tests/e2e/test_desk_gates_browser.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from departures.desk import background
from departures.desk.app import Desk
from departures.migrate.gates import GateChoice, stored_choice
from departures.workspace.db import Workspace
from helpers.desk import new_desk
from helpers.desk import signed_in as sign_in
from helpers.plans import simple_plan, write_plan
from helpers.web import InProcessBrowser

LIST = "at://did:plc:abcdefghijklmnopqrstuvwx/app.bsky.graph.list/3kabc"


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "config"))
    the_desk = new_desk(tmp_path)
    workspace = Workspace.open(the_desk.workspace_path)
    write_plan(workspace, simple_plan(3))
    workspace.close()
    return the_desk


@pytest.fixture
def browser(desk: Desk) -> Iterator[InProcessBrowser]:
    with sign_in(desk) as visitor:
        yield visitor


def _save(browser: InProcessBrowser, data: dict[str, Any]) -> httpx.Response:
    csrf = browser.csrf("/publish/gates")
    return browser.post("/publish/gates", data={"csrf": csrf, **data})


def _stored(desk: Desk) -> GateChoice | None:
    workspace = Workspace.open(desk.workspace_path)
    try:
        return stored_choice(workspace)
    finally:
        workspace.close()


def test_the_publish_page_links_to_the_controls_and_the_default_is_everybody(
    browser: InProcessBrowser,
) -> None:
    assert 'href="/publish/gates"' in browser.get("/publish").text
    page = browser.get("/publish/gates")
    assert page.status_code == 200
    assert "Everybody may reply." in page.text and "Quoting is allowed." in page.text
    assert 'id="replies-everybody" name="replies" value="everybody" checked' in page.text


def test_a_choice_is_stored_and_shown_without_a_job_when_nothing_is_published(
    browser: InProcessBrowser, desk: Desk
) -> None:
    answer = _save(
        browser,
        {
            "replies": "some",
            "rule": ["followers", "mentioned"],
            "list_uri": LIST,
            "quotes": "refused",
        },
    )
    assert answer.status_code == 200, answer.text
    assert "Your choice is saved." in answer.text
    assert _stored(desk) == GateChoice("some", ("followers", "mentioned"), LIST, quotes=False)
    assert "Only these people may reply:" in answer.text
    assert ". Quoting is not allowed." in answer.text  # two sentences, not run together
    assert 'value="followers" checked' in answer.text
    assert "No post is published yet" in answer.text
    # Nothing is published: no job was started.
    assert background.read(desk.workspace_path, "gates").state == background.IDLE


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"replies": "some", "rule": ["followers"], "list_uri": "https://bsky.app/x"},
            "this is not the address of a Bluesky list",
        ),
        ({"replies": "friends", "quotes": "allowed"}, "Choose who may reply"),
        (
            {"replies": "some", "rule": ["enemies"], "quotes": "allowed"},
            "does not know one of the kinds of people",
        ),
        ({"replies": "nobody", "quotes": "sometimes"}, "Choose whether people may quote"),
        ({"replies": "some", "quotes": "allowed"}, "no reply rule was chosen"),
    ],
)
def test_bad_input_is_one_message_and_changes_nothing(
    browser: InProcessBrowser, desk: Desk, data: dict[str, Any], message: str
) -> None:
    assert _save(browser, {"replies": "nobody", "quotes": "allowed"}).status_code == 200
    before = _stored(desk)
    answer = _save(browser, {"quotes": "allowed", **data})
    assert answer.status_code == 400
    assert answer.text.count('class="message error"') == 1
    assert message in answer.text
    assert "Traceback" not in answer.text
    assert _stored(desk) == before == GateChoice("nobody", quotes=True)
    if "list_uri" in data:  # the form comes back as it was filled in
        assert 'value="https://bsky.app/x"' in answer.text
        assert 'value="some" checked' in answer.text
        assert 'value="followers" checked' in answer.text


def test_the_page_speaks_dutch(browser: InProcessBrowser) -> None:
    page = browser.get("/publish/gates", headers={"Accept-Language": "nl-BE,nl;q=0.9"})
    assert '<html lang="nl"' in page.text
    assert "Wie mag reageren en citeren" in page.text
