"""``departures migrate run/status/verify/undo`` against the real sandbox.

Plans are written straight into ``plan_posts`` with the contract's columns, so these tests
prove the publisher alone: what the server and the AppView show afterwards.
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from departures.bluesky.pds import Pds
from departures.bluesky.records import POST
from departures.bluesky.session import SessionStore, login, open_client
from departures.migrate.publish import Publisher, status
from departures.migrate.rkeys import rkey_for
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser, logged_in_user
from helpers.waiting import poll

pytestmark = pytest.mark.sandbox

SNOWFLAKE_EPOCH_MS = 1288834974657


class Setup(CliUser):
    """A logged-in sandbox account with its own config directory and workspace."""

    def open(self) -> Workspace:
        return Workspace.open(self.workspace)

    def pds(self) -> Pds:
        client = open_client(store=SessionStore(self.config))
        return Pds(client, self.account.did, self.account.handle)


@pytest.fixture
def setup(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    yield logged_in_user(sandbox, tmp_path, "pub", Setup)


def tweet_id_at(ms: int, salt: int) -> int:
    """A snowflake id for a tweet at ``ms`` (epoch milliseconds)."""
    return ((ms - SNOWFLAKE_EPOCH_MS) << 22) | salt


def created_at(tweet_id: int) -> str:
    ms = (tweet_id >> 22) + SNOWFLAKE_EPOCH_MS
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def plan_row(
    seq: int,
    tweet_id: int,
    text: str,
    *,
    part: int = 0,
    parts: int = 1,
    root: str | None = None,
    parent: str | None = None,
    quote: str | None = None,
    facets: list[dict[str, Any]] | None = None,
    media: list[dict[str, Any]] | None = None,
) -> tuple[Any, ...]:
    when = created_at(tweet_id)
    record: dict[str, Any] = {
        "$type": POST,
        "text": text,
        "createdAt": when,
        "langs": ["en"],
    }
    if facets:
        record["facets"] = facets
    return (
        f"{tweet_id}:{part}",
        tweet_id,
        part,
        parts,
        seq,
        rkey_for(tweet_id, part, when),
        root,
        parent,
        quote,
        json.dumps(record),
        json.dumps(media or []),
        "[]",
        when,
    )


def write_plan(workspace: Workspace, rows: list[tuple[Any, ...]]) -> None:
    with workspace.transaction() as conn:
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, "
            "parent_key, quote_key, record, media, warnings, planned_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def simple_plan(n: int, start_ms: int = 1_500_000_000_000) -> list[tuple[Any, ...]]:
    return [plan_row(i, tweet_id_at(start_ms + i * 1000, i % 4096), f"post {i}") for i in range(n)]


def list_rkeys(setup: Setup) -> list[str]:
    rkeys: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"repo": setup.account.did, "collection": POST, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(
            f"{setup.sandbox.pds_url}/xrpc/com.atproto.repo.listRecords", params=params, timeout=30
        ).json()
        rkeys.extend(r["uri"].rsplit("/", 1)[-1] for r in page["records"])
        cursor = page.get("cursor")
        if not cursor or not page["records"]:
            return rkeys


def appview_posts(sandbox: TestSandbox, uris: list[str], timeout: float = 60) -> dict[str, Any]:
    """The AppView's views of ``uris``, waiting for it to index them all."""
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while True:
        for start in range(0, len(uris), 25):
            response = httpx.get(
                f"{sandbox.appview_url}/xrpc/app.bsky.feed.getPosts",
                params={"uris": uris[start : start + 25]},
                timeout=30,
            )
            for post in response.json().get("posts", []):
                found[post["uri"]] = post
        if len(found) == len(uris) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def published(workspace: Workspace) -> dict[str, tuple[str, str]]:
    return {
        k: (u, c)
        for k, u, c in workspace.conn.execute(
            "SELECT key, uri, cid FROM published WHERE deleted_at IS NULL"
        )
    }


def utf8_span(text: str, part: str) -> dict[str, int]:
    start = text.index(part)
    return {
        "byteStart": len(text[:start].encode()),
        "byteEnd": len(text[: start + len(part)].encode()),
    }


def test_rich_text_is_read_back_through_the_appview_with_facets_and_dates(setup: Setup) -> None:
    text = "Wij vertrekken 🇧🇪✊🏽 naar Bluesky: lees meer op example.org/why met @partner #LeaveX"
    facets = [
        {
            "index": utf8_span(text, "example.org/why"),
            "features": [
                {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org/why"}
            ],
        },
        {
            "index": utf8_span(text, "@partner"),
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://x.com/partner"}],
        },
        {
            "index": utf8_span(text, "#LeaveX"),
            "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "LeaveX"}],
        },
    ]
    tweet = tweet_id_at(1_420_000_000_123, 7)
    ws = setup.open()
    write_plan(ws, [plan_row(0, tweet, text, facets=facets)])
    result = setup.cli("migrate", "run")
    assert result.returncode == 0, result.stderr
    uri, _cid = published(ws)[f"{tweet}:0"]
    post = appview_posts(setup.sandbox, [uri])[uri]
    assert post["record"]["text"] == text
    assert post["record"]["facets"] == facets
    assert post["record"]["createdAt"] == created_at(tweet)  # the tweet's time, not now
    shown = json.loads(setup.cli("migrate", "status", "--json").stdout)
    assert (shown["planned"], shown["published"], shown["pending"], shown["failed"]) == (1, 1, 0, 0)


def test_split_posts_threads_and_quotes_keep_their_structure(setup: Setup) -> None:
    base = 1_600_000_000_000
    long_id, reply_id, quote_id = (tweet_id_at(base + i * 60_000, i) for i in range(3))
    k0, k1, k2 = (f"{long_id}:{p}" for p in range(3))
    rows = [
        # A long post split in three: part k > 0 replies to part k - 1, root = part 0.
        plan_row(0, long_id, "first part (1/3)", parts=3),
        plan_row(1, long_id, "second part (2/3)", part=1, parts=3, root=k0, parent=k0),
        plan_row(2, long_id, "third part (3/3)", part=2, parts=3, root=k0, parent=k1),
        # A self-reply to the end of that thread.
        plan_row(3, reply_id, "and a self-reply", root=k0, parent=k2),
        # A quote of the first post.
        plan_row(4, quote_id, "quoting myself", quote=k0),
    ]
    ws = setup.open()
    write_plan(ws, rows)
    result = setup.cli("migrate", "run")
    assert result.returncode == 0, result.stderr
    refs = published(ws)
    assert len(refs) == 5
    views = appview_posts(setup.sandbox, [uri for uri, _ in refs.values()])
    by_key = {key: views[uri]["record"] for key, (uri, _) in refs.items()}

    def strong(key: str) -> dict[str, str]:
        uri, cid = refs[key]
        return {"uri": uri, "cid": cid}

    assert "reply" not in by_key[k0]
    assert by_key[k1]["reply"] == {"root": strong(k0), "parent": strong(k0)}
    assert by_key[k2]["reply"] == {"root": strong(k0), "parent": strong(k1)}
    assert by_key[f"{reply_id}:0"]["reply"] == {"root": strong(k0), "parent": strong(k2)}
    quote = by_key[f"{quote_id}:0"]["embed"]
    assert quote["$type"] == "app.bsky.embed.record" and quote["record"] == strong(k0)
    # The AppView threads them: the root's thread shows the chain in order.
    thread = httpx.get(
        f"{setup.sandbox.appview_url}/xrpc/app.bsky.feed.getPostThread",
        params={"uri": refs[k0][0]},
        timeout=30,
    ).json()["thread"]
    chain = []
    node = thread
    while node.get("replies"):
        node = node["replies"][0]
        chain.append(node["post"]["uri"])
    assert chain == [refs[k][0] for k in (k1, k2, f"{reply_id}:0")]


def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((width, height), 80).convert("RGB").save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_images_carry_alt_text_and_fit_the_limit_and_bad_posts_fail_alone(setup: Setup) -> None:
    archive = setup.workspace.parent / "archive"
    (archive / "data" / "tweets_media").mkdir(parents=True)
    big = _jpeg(3000, 2000)
    (archive / "data" / "tweets_media" / "photo.jpg").write_bytes(big)
    ws = setup.open()
    with ws.transaction():
        ws.set_meta("archive_path", str(archive))
        ws.set_meta("archive_kind", "dir")
    base = 1_650_000_000_000
    ids = [tweet_id_at(base + i * 60_000, i) for i in range(5)]
    photo = {
        "kind": "image",
        "member": "data/tweets_media/photo.jpg",
        "media_key": f"{ids[0]}:0",
        "alt": "Volunteers planting trees",
        "aspect": [3000, 2000],
        "mime": "image/jpeg",
    }
    gone = {**photo, "member": "data/tweets_media/deleted.jpg", "media_key": f"{ids[2]}:0"}
    rows = [
        plan_row(0, ids[0], "with a photo", media=[photo]),
        plan_row(1, ids[1], "x" * 3001),  # the server refuses it: over 3000 bytes
        plan_row(2, ids[2], "its photo was deleted", media=[gone]),
        plan_row(3, ids[3], "reply to the refused one", root=f"{ids[1]}:0", parent=f"{ids[1]}:0"),
        plan_row(4, ids[4], "a fine post"),
    ]
    write_plan(ws, rows)
    result = setup.cli("migrate", "run")
    assert result.returncode == 0, result.stderr
    refs = published(ws)
    assert set(refs) == {f"{ids[0]}:0", f"{ids[4]}:0"}
    state = status(ws)
    reasons = {f["key"]: (f["status"], f["reason"]) for f in state.failures}
    assert reasons[f"{ids[1]}:0"][0] == "failed" and "3000" in reasons[f"{ids[1]}:0"][1]
    assert reasons[f"{ids[2]}:0"][0] == "failed" and "deleted.jpg" in reasons[f"{ids[2]}:0"][1]
    assert reasons[f"{ids[3]}:0"][0] == "blocked"
    shown = json.loads(setup.cli("migrate", "status", "--json").stdout)
    assert (shown["planned"], shown["published"], shown["pending"], shown["failed"]) == (5, 2, 0, 3)
    uri = refs[f"{ids[0]}:0"][0]
    view = appview_posts(setup.sandbox, [uri])[uri]
    image = view["record"]["embed"]["images"][0]
    assert image["alt"] == "Volunteers planting trees"
    assert image["image"]["size"] <= 2_000_000
    ratio = image["aspectRatio"]["width"] / image["aspectRatio"]["height"]
    assert abs(ratio - 1.5) < 0.01  # the resized image's own shape
    assert view["embed"]["images"][0]["alt"] == "Volunteers planting trees"
    # Run again: nothing is uploaded or written twice.
    blobs = ws.conn.execute("SELECT count(*) FROM blobs").fetchone()[0]
    again = setup.cli("migrate", "run")
    assert again.returncode == 0, again.stderr
    assert ws.conn.execute("SELECT count(*) FROM blobs").fetchone()[0] == blobs == 1
    assert sorted(list_rkeys(setup)) == sorted(r[5] for r in (rows[0], rows[4]))


def test_kill_minus_nine_at_random_moments_then_resume_publishes_each_post_once(
    setup: Setup,
) -> None:
    rows = simple_plan(1000)
    ws = setup.open()
    write_plan(ws, rows)
    rng = random.Random(4)
    kills = 0
    for _ in range(5):
        # Killed a random moment after the run journals its next batch (sent, its answer
        # perhaps not yet recorded): inside the run whatever the machine's speed.
        batches = ws.conn.execute("SELECT count(*) FROM write_batches").fetchone()[0]
        child = subprocess.Popen(
            setup.argv("migrate", "run"),
            env=setup.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if ws.conn.execute("SELECT count(*) FROM write_batches").fetchone()[0] > batches:
                break
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    assert kills >= 3
    result = setup.cli("migrate", "run")
    assert result.returncode == 0, result.stderr
    rkeys = list_rkeys(setup)
    planned = [r[5] for r in rows]
    assert len(rkeys) == len(set(rkeys)), "duplicates on the server"
    assert sorted(rkeys) == sorted(planned), "missing or extra records"
    shown = json.loads(setup.cli("migrate", "status", "--json").stdout)
    assert (shown["published"], shown["pending"], shown["failed"]) == (1000, 0, 0)


def test_verify_sees_the_posts_and_undo_deletes_them_exactly_once(setup: Setup) -> None:
    rows = simple_plan(30, start_ms=1_700_000_000_000)
    ws = setup.open()
    write_plan(ws, rows)
    assert setup.cli("migrate", "run").returncode == 0
    appview_posts(setup.sandbox, [u for u, _ in published(ws).values()])
    checked = setup.cli("migrate", "verify", "--appview", setup.sandbox.appview_url)
    assert checked.returncode == 0, checked.stderr
    assert "30 of 30 published posts are visible" in checked.stdout
    # A record deleted behind our back is found by --repair and created again, same rkey.
    victim = rows[3][5]
    pds = setup.pds()
    try:
        pds.apply_writes(
            [{"$type": "com.atproto.repo.applyWrites#delete", "collection": POST, "rkey": victim}]
        )
    finally:
        pds.close()
    # The AppView drops the post a moment later (the start-up of a child process used to
    # cover that moment); verify asks the AppView first.
    (gone,) = [uri for uri, _ in published(ws).values() if uri.endswith(f"/{victim}")]
    poll(lambda: not appview_posts(setup.sandbox, [gone], timeout=0), 60)
    repaired = setup.cli("migrate", "verify", "--repair", "--appview", setup.sandbox.appview_url)
    assert repaired.returncode == 0, repaired.stderr
    assert "1 were gone from your PDS" in repaired.stdout
    assert sorted(list_rkeys(setup)) == sorted(r[5] for r in rows)
    refused = setup.cli("migrate", "undo")  # no --yes, no terminal: it asks and aborts
    assert refused.returncode != 0 and len(list_rkeys(setup)) == 30
    undone = setup.cli("migrate", "undo", "--yes")
    assert undone.returncode == 0, undone.stderr
    assert "Deleted 30 posts" in undone.stdout
    assert list_rkeys(setup) == []
    shown = json.loads(setup.cli("migrate", "status", "--json").stdout)
    assert (shown["published"], shown["undone"]) == (0, 30)
    assert "Deleted 0 posts" in setup.cli("migrate", "undo", "--yes").stdout


class _Stop(Exception):
    pass


def test_a_429_waits_for_the_servers_reset_instead_of_failing(
    sandbox_rate_limited: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox_rate_limited
    monkeypatch.setenv("DEPARTURES_PLC_URL", box.plc_url)
    account = box.new_account("limited")
    config = tmp_path / "config"
    login(account.handle, account.app_password, box.pds_url, store=SessionStore(config))
    # Spend the account's hourly budget behind the publisher's back (another app did).
    headers = {"Authorization": f"Bearer {account.access_jwt}"}
    status_code, n = 200, 0
    while status_code == 200 and n < 20:
        writes = [
            {
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": POST,
                "value": {"$type": POST, "text": "x", "createdAt": "2020-01-01T00:00:00.000Z"},
            }
            for _ in range(200)
        ]
        status_code = httpx.post(
            f"{box.pds_url}/xrpc/com.atproto.repo.applyWrites",
            json={"repo": account.did, "writes": writes},
            headers=headers,
            timeout=60,
        ).status_code
        n += 1
    assert status_code == 429
    ws = Workspace.open(tmp_path / "ws")
    write_plan(ws, simple_plan(10))
    waits: list[float] = []
    notes: list[str] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        raise _Stop

    client = open_client(store=SessionStore(config))
    pds = Pds(client, account.did, account.handle)
    try:
        with pytest.raises(_Stop):
            Publisher(ws, pds, notify=notes.append, sleep=sleep).run()
    finally:
        pds.close()
    assert any("rate limited" in note for note in notes), notes
    assert 60 < waits[-1] <= 3700  # until the hourly window's reset, not a failure
    assert status(ws).failures == [] and published(ws) == {}
    refused = ws.conn.execute("SELECT state FROM write_batches").fetchall()
    assert refused == [("refused",)]
