"""One journal for the workspace's writes: a batch one command left open is settled right by
another.

``departures audience follow`` is killed (SIGKILL) while a batch of follows is on the wire:
the PDS wrote it, the answer never came back, the journal holds it as sent and the follows
as pending. ``departures migrate run`` then starts by settling every open batch of the
workspace with the server: the follows must be recorded as done in ``audience_follows``
(not only in the journal), the posts published once, and nothing counted as a post that is
not one. A last ``audience follow`` finishes the rest: every match followed exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from departures.bluesky.records import FOLLOW, POST
from departures.migrate.rkeys import rkey_for
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser, logged_in_user
from helpers.proxy import ProxyHandler, proxy_for

pytestmark = pytest.mark.sandbox

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_SNOWFLAKE_EPOCH_MS = 1288834974657


@dataclass
class Holder:
    """A proxy to the PDS that lets the ``hold_at``-th follow batch through to the server
    and then never answers it (until the test is over)."""

    target: str
    hold_at: int
    follow_batches: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_hold(self, path: str, body: bytes) -> bool:
        if not path.startswith("/xrpc/com.atproto.repo.applyWrites"):
            return False
        if FOLLOW.encode() not in body:
            return False
        with self.lock:
            self.follow_batches += 1
            return self.follow_batches == self.hold_at


def _handler(holder: Holder) -> type[ProxyHandler]:
    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            response = self.forward(holder.target, body)
            if hold:  # written on the server; its answer is lost with the killed client
                holder.held.set()
                holder.release.wait(120)
                self.close_connection = True
                return
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler


class Org(CliUser):
    """The logged-in organisation whose posts and follows the commands write."""

    def open(self) -> Workspace:
        return Workspace.open(self.workspace)


def fake_did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32) for _ in range(24))


def plan_posts(n: int) -> list[tuple[Any, ...]]:
    """``n`` simple posts, planned as ``migrate plan`` would (keys and record keys)."""
    rows = []
    for i in range(n):
        ms = 1_500_000_000_000 + i * 1000
        tweet_id = ((ms - _SNOWFLAKE_EPOCH_MS) << 22) | i
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".000Z"
        record = {"$type": POST, "text": f"post {i}", "createdAt": when, "langs": ["en"]}
        rows.append(
            (
                f"{tweet_id}:0",
                tweet_id,
                0,
                1,
                i,
                rkey_for(tweet_id, 0, when),
                None,
                None,
                None,
                json.dumps(record),
                "[]",
                "[]",
                when,
            )
        )
    return rows


@pytest.fixture
def org(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Org:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    return logged_in_user(sandbox, tmp_path, "onejournal", Org)


def test_follows_left_open_by_a_killed_audience_follow_are_settled_by_migrate_run(
    org: Org,
) -> None:
    rng = random.Random(10)
    dids = [fake_did(rng) for _ in range(6)]
    ids = list(range(7000, 7000 + len(dids)))
    ws = org.open()
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany("INSERT INTO following (account_id) VALUES (?)", [(i,) for i in ids])
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, "
            "parent_key, quote_key, record, media, warnings, planned_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            plan_posts(3),
        )
    export = org.workspace.parent / "directory.json"
    export.write_text(
        json.dumps(
            [{"x_id": i, "did": d, "level": "vouched"} for i, d in zip(ids, dids, strict=True)]
        )
    )
    assert org.cli("audience", "import-directory", str(export)).returncode == 0

    holder = Holder(org.sandbox.pds_url, hold_at=2)
    follow = ("audience", "follow", "--no-budget", "--per-hour", "0", "--batch", "2")
    with proxy_for(org, _handler(holder)):
        child = subprocess.Popen(
            org.argv(*follow), env=org.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert holder.held.wait(120), "the follow batch to hold never came"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            holder.release.set()

        # The kill left one batch of follows open: on the server, pending in the workspace.
        ws = org.open()
        open_batches = ws.conn.execute(
            "SELECT id FROM write_batches WHERE state = 'sent'"
        ).fetchall()
        assert len(open_batches) == 1
        in_doubt = dict(
            ws.conn.execute(
                "SELECT key, rkey FROM batch_writes WHERE batch_id = ?", (open_batches[0][0],)
            ).fetchall()
        )
        assert in_doubt and all(key.startswith("follow:") for key in in_doubt)
        states = dict(ws.conn.execute("SELECT key, state FROM audience_follows").fetchall())
        assert {states[key] for key in in_doubt} == {"pending"}
        on_server = {r["uri"].rsplit("/", 1)[-1] for r in org.records(FOLLOW)}
        assert set(in_doubt.values()) <= on_server

        run = org.cli("migrate", "run", "--no-budget")
        assert run.returncode == 0, run.stderr
        assert "Published 3 posts now;" in run.stdout  # the follows are not counted as posts
        assert "found already" not in run.stdout

        ws = org.open()
        still_open = "SELECT count(*) FROM write_batches WHERE state = 'sent'"
        assert ws.conn.execute(still_open).fetchone()[0] == 0
        settled = {
            key: (state, uri)
            for key, state, uri in ws.conn.execute("SELECT key, state, uri FROM audience_follows")
        }
        for key, rkey in in_doubt.items():
            state, uri = settled[key]
            assert state == "done"
            assert uri == f"at://{org.account.did}/{FOLLOW}/{rkey}"
        published = ws.conn.execute("SELECT count(*) FROM published").fetchone()[0]
        assert published == 3
        posts = [r["uri"] for r in org.records(POST)]
        assert len(posts) == len(set(posts)) == 3

        final = org.cli(*follow)
        assert final.returncode == 0, final.stderr
    subjects = [r["value"]["subject"] for r in org.records(FOLLOW)]
    assert sorted(subjects) == sorted(dids), "a match followed twice or not at all"
    ws = org.open()
    states = dict(ws.conn.execute("SELECT state, count(*) FROM audience_follows GROUP BY state"))
    assert states == {"done": len(dids)}
