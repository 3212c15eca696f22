"""Steps 4-6 of the desk in-process: what the pages show from the workspace, the review's
decisions, the undo confirmation, and bad input as one clear message with nothing lost.

What needs Bluesky (connecting, publishing, following, the rehearsal) is proved against the
sandbox in ``tests/integration/test_desk_publish_kill.py`` and in the browser test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from departures.audience import store
from departures.audience.scoring import Evidence, Match, XSide
from departures.desk.app import Desk
from departures.workspace.db import Workspace
from helpers.desk import new_desk
from helpers.desk import signed_in as sign_in
from helpers.plans import simple_plan, write_plan
from helpers.web import InProcessBrowser


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desk:
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "config"))
    the_desk = new_desk(tmp_path)
    workspace = Workspace.open(the_desk.workspace_path)
    with workspace.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany(
            "INSERT INTO following (account_id) VALUES (?)", [(i,) for i in range(1, 121)]
        )
        conn.execute("INSERT INTO followers (account_id) VALUES (7)")
        conn.execute(
            "INSERT INTO audience_names (x_id, handle, name, imported_at) "
            "VALUES (7, 'oxfamsol', 'Oxfam Solidarité', '2026-01-01')"
        )
    write_plan(workspace, simple_plan(12))
    for i in range(1, 121):
        x = XSide(i, handle=f"org{i}")
        match = Match(0.5 + (i % 40) / 100, (Evidence(f"the handle matches org{i}", 0.5),))
        store.save_match(
            workspace, x, f"did:plc:{i:024d}", f"org{i}.bsky.social", f"Org {i}", match
        )
    workspace.close()
    return the_desk


@pytest.fixture
def browser(desk: Desk) -> Iterator[InProcessBrowser]:
    with sign_in(desk) as visitor:
        yield visitor


def test_the_publish_page_shows_the_plan_and_asks_to_connect_first(
    browser: InProcessBrowser,
) -> None:
    page = browser.get("/publish")
    assert page.status_code == 200
    assert "12</strong> planned" in page.text
    assert 'name="password"' in page.text and 'type="password"' in page.text
    assert "Publish 12 posts" in page.text
    started = submit(browser, "/publish", "/publish/start", {"pace": "full"})
    assert started.status_code == 400
    assert "Connect the account first" in started.text


def test_connecting_without_a_password_is_one_message_and_keeps_what_was_typed(
    browser: InProcessBrowser, desk: Desk, tmp_path: Path
) -> None:
    page = submit(
        browser,
        "/publish",
        "/publish/connect",
        {"handle": "@ngo.example", "password": "", "service": "x"},
    )
    assert page.status_code == 400
    assert "Give the account&#39;s handle and an app password" in page.text
    assert 'value="ngo.example"' in page.text
    assert not (tmp_path / "config" / "sessions.json").exists()
    bad_server = submit(
        browser,
        "/publish",
        "/publish/connect",
        {"handle": "ngo.example", "password": "abcd-efgh", "service": "not a server"},
    )
    assert bad_server.status_code == 400
    assert "is not a server address" in bad_server.text
    assert "abcd-efgh" not in bad_server.text  # a password is never sent back to a page


def test_the_review_is_paged_side_by_side_and_a_decision_sticks(
    browser: InProcessBrowser, desk: Desk
) -> None:
    first = browser.get("/audience/review")
    assert first.status_code == 200
    assert first.text.count('class="candidate ') == 50
    assert "Page 1 of 3" in first.text
    proposed = store.candidates_page(Workspace.open(desk.workspace_path), limit=1)[0]
    assert f"@{proposed.x_handle}" in first.text and f"@{proposed.handle}" in first.text
    assert proposed.evidence[0] in first.text
    proposed_count = store_counts(desk)["proposed"]
    third = browser.get("/audience/review?page=3")
    assert third.text.count('class="candidate ') == proposed_count - 100
    decided = submit(
        browser,
        "/audience/review",
        "/audience/decide",
        {"id": str(proposed.id), "decision": "accept", "status": "proposed", "page": "1"},
    )
    assert decided.status_code == 200
    workspace = Workspace.open(desk.workspace_path)
    after = {c.id: c for c in store.candidates(workspace)}
    assert after[proposed.id].status == "accepted" and after[proposed.id].decided_by == "user"
    accepted = browser.get("/audience/review?status=accepted")
    assert f"@{proposed.handle}" in accepted.text


def submit(browser: InProcessBrowser, page: str, path: str, data: dict[str, str]) -> httpx.Response:
    """The form of ``page`` sent to ``path`` with ``data`` (and the page's CSRF token)."""
    return browser.submit(path, data, page)


def store_counts(desk: Desk) -> dict[str, int]:
    return store.counts(Workspace.open(desk.workspace_path))


def test_a_bad_decision_or_unknown_candidate_changes_nothing(
    browser: InProcessBrowser, desk: Desk
) -> None:
    before = store_counts(desk)
    for data in ({"id": "99999", "decision": "accept"}, {"id": "1", "decision": "maybe"}):
        answer = submit(browser, "/audience/review", "/audience/decide", data)
        assert answer.status_code == 400
        assert 'class="message error"' in answer.text
    assert store_counts(desk) == before


def test_a_directory_export_is_imported_and_a_bad_one_is_one_message(
    browser: InProcessBrowser, desk: Desk
) -> None:
    csrf = browser.csrf("/audience")
    good = json.dumps([{"x_id": 7, "did": "did:plc:" + "b" * 24, "handle": "oxfam.be"}])
    answer = browser.post(
        f"/audience/directory?csrf={csrf}",
        files={"directory": ("dir.json", good, "application/json")},
    )
    assert answer.status_code == 200
    assert "holds 1 entries; 1 are accounts of your audience (1 new matches" in answer.text
    before = store_counts(desk)
    bad = browser.post(
        f"/audience/directory?csrf={csrf}",
        files={"directory": ("dir.json", "this is not json", "application/json")},
    )
    assert bad.status_code == 400
    assert 'class="message error"' in bad.text
    assert store_counts(desk) == before


def test_joining_a_coalition_keeps_its_address_and_refuses_nonsense(
    browser: InProcessBrowser, desk: Desk
) -> None:
    bad = submit(browser, "/audience", "/audience/coalition", {"coalition": "not an address"})
    assert bad.status_code == 400 and "is not an address" in bad.text
    ok = submit(browser, "/audience", "/audience/coalition", {"coalition": "coalition.example.org"})
    assert "Joined: https://coalition.example.org" in ok.text


def test_the_undo_confirmation_says_exactly_what_goes_and_needs_the_box_ticked(
    browser: InProcessBrowser, desk: Desk
) -> None:
    workspace = Workspace.open(desk.workspace_path)
    keys = [r[0] for r in workspace.conn.execute("SELECT key FROM plan_posts ORDER BY seq")]
    with workspace.transaction() as conn:
        conn.executemany(
            "INSERT INTO published (key, uri, cid, published_at) VALUES (?, ?, 'c', 'now')",
            [(k, f"at://did:plc:x/app.bsky.feed.post/{i}") for i, k in enumerate(keys[:3])],
        )
    page = browser.get("/publish/undo")
    assert "This deletes 3 posts from Bluesky" in page.text
    assert "post 2" in page.text and "post 0" in page.text and "post 5" not in page.text
    refused = submit(browser, "/publish/undo", "/publish/undo", {"count": "3"})
    assert refused.status_code == 400 and "Nothing was deleted" in refused.text
    stale = submit(browser, "/publish/undo", "/publish/undo", {"count": "2", "confirm": "on"})
    assert stale.status_code == 400
    unconnected = submit(browser, "/publish/undo", "/publish/undo", {"count": "3", "confirm": "on"})
    assert unconnected.status_code == 400 and "Connect the account first" in unconnected.text


def test_the_rehearsal_page_and_the_job_json_in_dutch(browser: InProcessBrowser) -> None:
    page = browser.get("/rehearse")
    assert page.status_code == 200
    status = browser.get("/publish/jobs/publish.json", headers={"Accept-Language": "nl"})
    assert status.json()["state"] == "idle" and "params" not in status.json()
    assert browser.get("/publish/jobs/nonsense.json").status_code == 404
