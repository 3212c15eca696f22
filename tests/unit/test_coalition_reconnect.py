"""Reconnect's pure part (which directory entries are new for which member, how many follows
a pass may make) and the member page's upload of the X following list (in-process app over
SQLite): good archives are stored as ids only, bad ones are explained and store nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from departures.coalition.reconnect import Entry, follows_allowed, new_for_members
from departures.coalition.store import CoalitionStore, Organisation
from helpers import uploads
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.uploads import archive_zip
from helpers.web import InProcessBrowser, coalition_app

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def entry(x_id: str, name: str = "") -> Entry:
    return Entry(x_id, f"did:plc:{(name or 'p' + x_id):a<24}"[:32], f"{name or 'p' + x_id}.test")


# --- which entries are new for which member ---------------------------------------------------


def test_an_entry_the_member_followed_and_was_never_proposed_is_new() -> None:
    found = new_for_members({7: {"1", "2", "3"}}, [entry("2"), entry("9")], {})
    assert found == {7: [entry("2")]}


def test_an_entry_already_proposed_is_never_new_again() -> None:
    found = new_for_members({7: {"1", "2", "3"}}, [entry("2"), entry("3")], {7: {"2"}})
    assert found == {7: [entry("3")]}


def test_a_member_with_nothing_new_is_absent() -> None:
    assert new_for_members({7: {"1"}, 8: {"2"}}, [entry("2")], {8: {"2"}}) == {}


def test_a_member_is_never_proposed_its_own_account() -> None:
    own = entry("5", "ourselves")
    found = new_for_members({7: {"5", "6"}}, [own, entry("6")], {}, {7: own.did})
    assert found == {7: [entry("6")]}


def test_each_member_gets_the_entries_it_followed_in_numeric_order() -> None:
    entries = [entry("100"), entry("20"), entry("3")]
    found = new_for_members({1: {"3", "100"}, 2: {"20", "100", "3"}}, entries, {2: {"3"}})
    assert found == {1: [entry("3"), entry("100")], 2: [entry("20"), entry("100")]}


def test_a_duplicated_entry_is_proposed_once() -> None:
    found = new_for_members({1: ["4", "4"]}, [entry("4"), entry("4")], {})
    assert found == {1: [entry("4")]}


@given(
    followed=st.sets(st.integers(1, 60).map(str)),
    listed=st.sets(st.integers(1, 60).map(str)),
    proposed=st.sets(st.integers(1, 60).map(str)),
)
def test_new_entries_are_exactly_followed_and_listed_and_not_proposed(
    followed: set[str], listed: set[str], proposed: set[str]
) -> None:
    found = new_for_members({1: followed}, [entry(x) for x in listed], {1: proposed})
    expected = (followed & listed) - proposed
    assert {e.x_id for e in found.get(1, [])} == expected
    assert (1 in found) == bool(expected)


@pytest.mark.parametrize(
    ("cap", "done", "pending", "allowed"),
    [(100, 0, 5, 5), (100, 98, 5, 2), (100, 100, 5, 0), (100, 130, 5, 0), (0, 0, 5, 0)],
)
def test_follows_stay_under_the_daily_cap(cap: int, done: int, pending: int, allowed: int) -> None:
    assert follows_allowed(cap, done, pending) == allowed


# --- the member page: uploading the following list ---------------------------------------------


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


class Browser(InProcessBrowser):
    """A member's browser: every form sent with the sign-in page's CSRF token."""

    def send(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.submit(path, data, "/member/sign-in", **kwargs)

    def upload(self, name: str, content: bytes) -> httpx.Response:
        return self.send("/member/reconnect", {}, files={"archive": (name, content)})


@pytest.fixture
def member(store: CoalitionStore) -> tuple[Organisation, str]:
    coordinator, campaign = open_campaign(store, start=START, threshold=2)
    return join(store, campaign.slug, coordinator, "Oxfam", x_handle="oxfam_be")


@pytest.fixture
def browser(store: CoalitionStore, member: tuple[Organisation, str]) -> Iterator[Browser]:
    app = coalition_app(store)
    browser = Browser(app)
    response = browser.send("/member/sign-in", {"key": member[1]})
    assert response.status_code == 200
    yield browser
    browser.close()


def following_js(*ids: str) -> bytes:
    return uploads.following_js(*ids, links=True)


def account_js(username: str) -> bytes:
    return uploads.account_js("42", username)


def stored_ids(store: CoalitionStore) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT x_id FROM reconnect_followings ORDER BY x_id"))
        return [str(row[0]) for row in rows]


def test_a_following_js_is_stored_as_ids_only_and_counted(
    browser: Browser, store: CoalitionStore
) -> None:
    response = browser.upload("following.js", following_js("11", "22", "33"))
    assert response.status_code == 200
    assert "Stored: 3 followed accounts." in response.text
    assert "3 followed accounts stored" in browser.get("/member").text
    assert stored_ids(store) == ["11", "22", "33"]
    with store.engine.connect() as conn:
        dump = repr(conn.execute(text("SELECT * FROM reconnect_followings")).all())
    assert "x.com" not in dump


def test_the_archive_zip_of_the_organisation_is_read_and_replaces_the_list(
    browser: Browser, store: CoalitionStore
) -> None:
    browser.upload("following.js", following_js("1", "2"))
    zipped = archive_zip(
        {
            "twitter-2025/data/account.js": account_js("Oxfam_BE"),
            "twitter-2025/data/following.js": following_js("5", "6", "7"),
            "twitter-2025/data/tweets.js": b"window.YTD.tweets.part0 = []",
        }
    )
    response = browser.upload("twitter-2025.zip", zipped)
    assert response.status_code == 200, response.text
    assert stored_ids(store) == ["5", "6", "7"]


def test_a_zip_without_account_js_is_accepted_for_its_following_list(
    browser: Browser, store: CoalitionStore
) -> None:
    response = browser.upload("a.zip", archive_zip({"data/following.js": following_js("9")}))
    assert response.status_code == 200
    assert stored_ids(store) == ["9"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.zip", b"PK\x03\x04 this is not really a zip", "cannot be read"),
        ("following.js", following_js("1", "2")[:-9], "not the following.js"),
        ("account.js", account_js("oxfam_be"), "not the following.js"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "not the following.js"),
        ("tweets.zip", archive_zip({"data/tweets.js": b"[]"}), "no data/following.js"),
        (
            "other.zip",
            archive_zip(
                {"data/account.js": account_js("someone"), "data/following.js": following_js("3")}
            ),
            "archive is of @someone",
        ),
        ("huge.js", b"[" + b" " * (33 * 1024 * 1024) + b"]", "too large"),
    ],
    ids=[
        "not-a-zip",
        "truncated-json",
        "account-js",
        "binary",
        "no-following",
        "wrong-account",
        "too-big",
    ],
)
def test_a_bad_upload_is_explained_on_the_page_and_stores_nothing(
    browser: Browser, store: CoalitionStore, name: str, content: bytes, message: str
) -> None:
    browser.upload("following.js", following_js("1", "2"))
    response = browser.upload(name, content)
    assert response.status_code == 400
    assert message in response.text
    assert 'id="reconnect-error"' in response.text
    assert "Nothing was stored." in response.text
    assert stored_ids(store) == ["1", "2"]


def test_a_body_over_the_upload_limit_is_refused_without_a_server_error(
    browser: Browser, store: CoalitionStore
) -> None:
    response = browser.upload("big.zip", b"PK" + b"\0" * (52 * 1024 * 1024))
    assert response.status_code == 413
    assert "larger than" in response.text
    assert stored_ids(store) == []


def test_the_stored_list_can_be_deleted(browser: Browser, store: CoalitionStore) -> None:
    browser.upload("following.js", following_js("1", "2"))
    response = browser.send("/member/reconnect/delete", {})
    assert response.status_code == 200
    assert "No following list stored." in response.text
    assert stored_ids(store) == []


def test_uploading_needs_a_signed_in_member(store: CoalitionStore) -> None:
    app = coalition_app(store)
    stranger = Browser(app)
    try:
        response = stranger.upload("following.js", following_js("1"))
        assert response.status_code == 403
        assert stored_ids(store) == []
    finally:
        stranger.close()


def test_follow_them_for_us_is_refused_without_bluesky_writes(browser: Browser) -> None:
    response = browser.send("/member/reconnect/auto-follow", {"auto_follow": "1"})
    assert response.status_code == 403
    assert "no Bluesky writes" in response.text


def test_the_accounts_found_appear_on_the_member_page_with_a_follow_link(
    browser: Browser, store: CoalitionStore, member: tuple[Organisation, str]
) -> None:
    from departures.coalition.directory import Directory
    from departures.coalition.notify import Notifier

    browser.upload("following.js", following_js("400", "500"))
    Directory(store.engine).register("400", "late_comer", "did:plc:" + "l" * 24, "late.test")
    Notifier(store, base_url="http://testserver").tick()

    page = browser.get("/member").text
    assert "People you followed on X who are now on Bluesky" in page
    assert '<a href="https://bsky.app/profile/late.test">@late.test</a>' in page
    assert '<a href="https://bsky.app/profile/late.test">Follow</a>' in page
    assert page.count('href="https://bsky.app/profile/') == 2  # only the one in the directory


def test_coalition_tick_runs_the_reconnect_pass_and_checks_its_daily_cap(
    tmp_path: Path, member: tuple[Organisation, str], store: CoalitionStore
) -> None:
    from click.testing import CliRunner

    from departures.cli import cli
    from departures.coalition.directory import Directory
    from departures.coalition.reconnect import Reconnect

    Reconnect(store).save_followings(member[0], ["400"])
    Directory(store.engine).register("400", "late_comer", "did:plc:" + "l" * 24, "late.test")
    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    args = ["coalition", "tick", "--db", db, "--handle-service", "http://127.0.0.1:9"]

    done = CliRunner().invoke(cli, [*args, "--reconnect-daily-cap", "5"])
    assert done.exit_code == 0, done.output
    assert "reconnect: 1 accounts proposed, 0 followed;" in done.output
    refused = CliRunner().invoke(cli, [*args, "--reconnect-daily-cap", "-1"])
    assert refused.exit_code == 2
    assert "--reconnect-daily-cap" in refused.output
