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
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from departures.bluesky.records import FOLLOW, POST
from departures.bluesky.session import SessionStore, login
from departures.migrate.rkeys import rkey_for
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace

pytestmark = pytest.mark.sandbox

_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}
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


def _handler(holder: Holder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {"host"}}
            response = httpx.request(
                self.command, holder.target + self.path, content=body, headers=headers, timeout=60
            )
            if hold:  # written on the server; its answer is lost with the killed client
                holder.held.set()
                holder.release.wait(120)
                self.close_connection = True
                return
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in _HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        do_GET = _forward
        do_POST = _forward

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The killed command drops its connection mid-request: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Org:
    account: Account
    config: Path
    workspace: Path
    sandbox: TestSandbox

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEPARTURES_CONFIG_DIR": str(self.config),
            "DEPARTURES_PLC_URL": self.sandbox.plc_url,
            "DEPARTURES_DEBUG": "",
        }

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "departures.cli", "--workspace", str(self.workspace), *args]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=300, env=self.env()
        )

    def records(self, collection: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"repo": self.account.did, "collection": collection}
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(
                f"{self.sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
                params={**params, "limit": 100},
                timeout=30,
            ).json()
            out.extend(page["records"])
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return out

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
def org(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    account = sandbox.new_account("onejournal")
    config = tmp_path / "config"
    login(account.handle, account.app_password, sandbox.pds_url, store=SessionStore(config))
    yield Org(account, config, tmp_path / "ws", sandbox)


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
    export.write_text(json.dumps([{"x_id": i, "did": d} for i, d in zip(ids, dids, strict=True)]))
    assert org.cli("audience", "import-directory", str(export)).returncode == 0

    holder = Holder(org.sandbox.pds_url, hold_at=2)
    server = _Server(("127.0.0.1", 0), _handler(holder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sessions = org.config / "sessions.json"
    data = json.loads(sessions.read_text())
    data["accounts"][org.account.did]["pds"] = f"http://127.0.0.1:{server.server_address[1]}"
    sessions.write_text(json.dumps(data))
    follow = ("audience", "follow", "--no-budget", "--per-hour", "0", "--batch", "2")
    try:
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
    finally:
        server.shutdown()
        server.server_close()
    subjects = [r["value"]["subject"] for r in org.records(FOLLOW)]
    assert sorted(subjects) == sorted(dids), "a match followed twice or not at all"
    ws = org.open()
    states = dict(ws.conn.execute("SELECT state, count(*) FROM audience_follows GROUP BY state"))
    assert states == {"done": len(dids)}
