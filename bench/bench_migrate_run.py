"""Throughput of ``departures migrate run`` against bare ``applyWrites`` batches of 200.

On a fresh sandbox with rate limits off (PLC + PDS; ``--appview`` adds the AppView, which
competes for the CPU), in the same run: account A gets N text posts through bare
``applyWrites`` calls of 200 (the physical limit: nothing but the requests), account B the
same N posts through the whole ``departures migrate run`` process (start-up, session,
reconcile, journal before and after every batch, local CIDs, budget, progress). Prints both
rates and the ratio (target: at least 50%).

    .venv/bin/python bench/bench_migrate_run.py [--posts 5000] [--appview]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from departures.bluesky.records import POST
from departures.bluesky.session import SessionStore, login
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
        when = iso(ms)
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


def iso(ms: int) -> str:
    """Epoch milliseconds as the ISO 8601 time a record carries."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def bare(org: Org) -> float:
    """Seconds to write the plan's records with bare applyWrites calls of 200."""
    ws = Workspace.open(org.workspace)
    rows = ws.conn.execute("SELECT rkey, record FROM plan_posts ORDER BY seq").fetchall()
    ws.close()
    writes = [
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": POST,
            "rkey": rkey,
            "value": json.loads(record),
        }
        for rkey, record in rows
    ]
    headers = {"Authorization": f"Bearer {org.account.access_jwt}"}
    began = time.perf_counter()
    with httpx.Client(base_url=org.box.pds_url, timeout=120, headers=headers) as client:
        for start in range(0, len(writes), 200):
            response = client.post(
                "/xrpc/com.atproto.repo.applyWrites",
                json={"repo": org.account.did, "writes": writes[start : start + 200]},
            )
            if response.status_code != 200:
                sys.exit(f"bare applyWrites failed: {response.status_code} {response.text[:200]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--appview", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-migrate-run-"))
    with sandbox(appview=args.appview) as box:
        a = Org(box, "benchbare", root)
        b = Org(box, "benchrun", root)
        text_plan(a.workspace, args.posts)
        planned = text_plan(b.workspace, args.posts)
        bare_s = bare(a)
        began = time.perf_counter()
        result = b.run("migrate", "run", "--no-budget")
        run_s = time.perf_counter() - began
        if result.returncode != 0:
            sys.exit(f"migrate run failed: {result.stderr}")
        on_server = b.rkeys()
    bare_rate = args.posts / bare_s
    run_rate = args.posts / run_s
    print(f"posts: {args.posts} (AppView {'on' if args.appview else 'off'}, rate limits off)")
    print(f"bare applyWrites x200:     {bare_s:7.2f} s  {bare_rate:7.0f} posts/s")
    print(f"departures migrate run:    {run_s:7.2f} s  {run_rate:7.0f} posts/s (whole process)")
    print(f"ratio: {run_rate / bare_rate:.0%} of bare (target >= 50%)")
    missing = len(set(planned) - set(on_server))
    duplicates = len(on_server) - len(set(on_server))
    print(f"check: {len(on_server)} records, missing {missing}, duplicates {duplicates}")


if __name__ == "__main__":
    main()
