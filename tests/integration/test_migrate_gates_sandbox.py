"""``departures migrate gates`` against the sandbox: an organisation's migrated posts get the
reply and quote controls it chose — a thread gate on each thread's root only, a post gate on
every post — exactly once; the same choice again writes nothing, another choice changes
only what differs, and the AppView reads the gates back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from departures.bluesky.records import POST
from departures.migrate.rkeys import rkey_for
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser, logged_in_user
from helpers.waiting import poll, thread_post

pytestmark = pytest.mark.sandbox

THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"


@pytest.fixture
def user(
    sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliUser]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    yield logged_in_user(sandbox, tmp_path, "gates", CliUser)


def _row(seq: int, tweet_id: int, text: str, *, root: str | None = None) -> tuple[Any, ...]:
    when = f"2019-0{seq + 1}-01T12:00:00.000Z"
    record = {"$type": POST, "text": text, "createdAt": when, "langs": ["en"]}
    return (
        f"{tweet_id}:0",
        tweet_id,
        0,
        1,
        seq,
        rkey_for(tweet_id, 0, when),
        root,
        root,
        None,
        json.dumps(record),
        "[]",
        "[]",
        when,
    )


def _records(user: CliUser, collection: str) -> dict[str, dict[str, Any]]:
    page = httpx.get(
        f"{user.sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": user.account.did, "collection": collection, "limit": 100},
        timeout=30,
    ).json()
    return {r["uri"].rsplit("/", 1)[-1]: r for r in page["records"]}


def _rev(user: CliUser) -> str:
    return str(
        httpx.get(
            f"{user.sandbox.pds_url}/xrpc/com.atproto.sync.getLatestCommit",
            params={"did": user.account.did},
            timeout=10,
        ).json()["rev"]
    )


def test_migrated_posts_get_the_chosen_gates_once_and_change_later(user: CliUser) -> None:
    ws = Workspace.open(user.workspace)
    rows = [
        _row(0, 1000, "first"),
        _row(1, 2000, "second"),
        _row(2, 3000, "a reply", root="1000:0"),
    ]
    # The third post is a self-reply in the first one's thread.
    record = json.loads(rows[2][9])
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, "
            "parent_key, quote_key, record, media, warnings, planned_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    assert "reply" not in record  # the publisher adds it from root_key/parent_key
    ran = user.cli("migrate", "run")
    assert ran.returncode == 0, ran.stderr
    published = dict(ws.conn.execute("SELECT key, uri FROM published").fetchall())
    rkeys = {key: uri.rsplit("/", 1)[-1] for key, uri in published.items()}

    gated = user.cli("migrate", "gates", "--replies", "some", "--allow", "followers", "--no-quotes")
    assert gated.returncode == 0, gated.stderr
    assert "3 posts: 5 gate records written" in gated.stdout, gated.stdout
    threadgates, postgates = _records(user, THREADGATE), _records(user, POSTGATE)
    # Thread gates on the roots only; post gates on every post; keys = the posts' keys.
    assert set(threadgates) == {rkeys["1000:0"], rkeys["2000:0"]}
    assert set(postgates) == set(rkeys.values())
    gate = threadgates[rkeys["1000:0"]]["value"]
    assert gate["allow"] == [{"$type": f"{THREADGATE}#followerRule"}]
    assert gate["post"] == published["1000:0"]
    assert postgates[rkeys["3000:0"]]["value"]["embeddingRules"] == [
        {"$type": f"{POSTGATE}#disableRule"}
    ]
    # The journal recorded them in the workspace.
    assert ws.conn.execute("SELECT COUNT(*) FROM post_gates WHERE deleted = 0").fetchone()[0] == 5
    # Read back through the AppView.
    root_uri = published["1000:0"]
    shown = poll(
        lambda: (thread_post(user.sandbox.appview_url, root_uri) or {}).get("threadgate"),
        seconds=60,
    )
    assert shown["record"]["allow"] == [{"$type": f"{THREADGATE}#followerRule"}]

    # The same choice again: nothing is written.
    rev = _rev(user)
    again = user.cli("migrate", "gates", "--replies", "some", "--allow", "followers", "--no-quotes")
    assert again.returncode == 0, again.stderr
    assert "0 gate records written, 3 already as chosen" in again.stdout, again.stdout
    assert _rev(user) == rev

    # Quotes allowed again, replies limited to mentioned people: post gates deleted, thread
    # gates updated.
    changed = user.cli("migrate", "gates", "--replies", "some", "--allow", "mentioned")
    assert changed.returncode == 0, changed.stderr
    assert _records(user, POSTGATE) == {}
    updated = _records(user, THREADGATE)
    assert updated[rkeys["2000:0"]]["value"]["allow"] == [{"$type": f"{THREADGATE}#mentionRule"}]
    assert updated[rkeys["2000:0"]]["cid"] != threadgates[rkeys["2000:0"]]["cid"]
    assert ws.conn.execute("SELECT COUNT(*) FROM post_gates WHERE deleted = 1").fetchone()[0] == 3

    # A post published later gets the last choice from `migrate run` itself.
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, "
            "parent_key, quote_key, record, media, warnings, planned_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _row(3, 4000, "a later one"),
        )
    later = user.cli("migrate", "run")
    assert later.returncode == 0, later.stderr
    assert "1 gate records written for the new posts" in later.stdout, later.stdout
    new_uri = ws.conn.execute("SELECT uri FROM published WHERE key = '4000:0'").fetchone()[0]
    new_gate = _records(user, THREADGATE)[new_uri.rsplit("/", 1)[-1]]["value"]
    assert new_gate["allow"] == [{"$type": f"{THREADGATE}#mentionRule"}]


def test_bad_choices_are_one_line_errors(user: CliUser) -> None:
    result = user.cli("migrate", "gates", "--replies", "some")
    assert result.returncode != 0
    assert "no reply rule was chosen" in result.stderr
    assert "Traceback" not in result.stderr
    listed = user.cli("migrate", "gates", "--list", "https://example.org/not-a-list")
    assert listed.returncode != 0
    assert "is not the address of a Bluesky list" in listed.stderr
