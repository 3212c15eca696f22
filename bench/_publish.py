"""Shared pieces of the publish benchmarks: a sandbox, a logged-in account, a plan of posts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from departures.bluesky.session import SessionStore, login
from departures.migrate.journal import POST
from departures.migrate.rkeys import rkey_for
from departures.sandbox import Account, Sandbox
from departures.sandbox.pytest_plugin import free_base_port
from departures.workspace.db import Workspace

SNOWFLAKE_EPOCH_MS = 1288834974657


@contextmanager
def sandbox(*, appview: bool = False) -> Iterator[Sandbox]:
    """A fresh sandbox (rate limits off) on free ports, stopped afterwards."""
    box = Sandbox(free_base_port(), Path(tempfile.mkdtemp(prefix="bench-publish-")))
    box.up(appview=appview, tie_to_this_process=True)
    try:
        yield box
    finally:
        box.down()


class Org:
    """An account logged in with its own config dir, and a workspace holding a plan."""

    def __init__(self, box: Sandbox, name: str, root: Path) -> None:
        self.box = box
        self.account: Account = box.create_account(name)
        self.config = root / f"{name}-config"
        self.workspace = root / f"{name}-ws"
        os.environ["DEPARTURES_PLC_URL"] = box.plc_url
        login(
            self.account.handle,
            self.account.app_password,
            box.pds_url,
            store=SessionStore(self.config),
        )

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DEPARTURES_CONFIG_DIR": str(self.config),
            "DEPARTURES_PLC_URL": self.box.plc_url,
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "departures.cli", "--workspace", str(self.workspace), *args]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), env=self.env(), capture_output=True, text=True)

    def rkeys(self) -> list[str]:
        """Every post rkey in the account's repository (listRecords)."""
        rkeys: list[str] = []
        cursor = None
        with httpx.Client(base_url=self.box.pds_url, timeout=60) as client:
            while True:
                params: dict[str, Any] = {
                    "repo": self.account.did,
                    "collection": POST,
                    "limit": 100,
                }
                if cursor:
                    params["cursor"] = cursor
                page = client.get("/xrpc/com.atproto.repo.listRecords", params=params).json()
                rkeys.extend(r["uri"].rsplit("/", 1)[-1] for r in page["records"])
                cursor = page.get("cursor")
                if not cursor or not page["records"]:
                    return rkeys


def text_plan(workspace: Path, n: int, *, thread_every: int = 0) -> list[str]:
    """Write a plan of ``n`` text posts (every ``thread_every``-th starts a 5-post thread)."""
    ws = Workspace.open(workspace)
    rows = []
    keys: list[str] = []
    start = 1_450_000_000_000
    root = None
    for i in range(n):
        ms = start + i * 61_000
        tweet = ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (i % 4096)
        when = f"{_iso(ms)}"
        key = f"{tweet}:0"
        parent = keys[-1] if thread_every and i % thread_every else None
        if thread_every and i % thread_every == 0:
            root = key
        record = {
            "$type": POST,
            "text": f"Post {i} from our archive #archive",
            "createdAt": when,
            "langs": ["en"],
        }
        rows.append(
            (
                key,
                tweet,
                0,
                1,
                i,
                rkey_for(tweet, 0, when),
                root if parent else None,
                parent,
                None,
                json.dumps(record),
                "[]",
                "[]",
                when,
            )
        )
        keys.append(key)
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, parent_key,"
            " quote_key, record, media, warnings, planned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    ws.close()
    return [row[5] for row in rows]


def _iso(ms: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
