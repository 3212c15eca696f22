"""Plans written straight into ``plan_posts`` (the publisher's contract), for tests that
prove publishing alone: simple posts with the record keys ``migrate plan`` would give."""

from __future__ import annotations

import json
import time
from typing import Any

from departures.bluesky.records import POST
from departures.migrate.rkeys import rkey_for
from departures.workspace.db import Workspace

SNOWFLAKE_EPOCH_MS = 1288834974657


def simple_plan(n: int, start_ms: int = 1_500_000_000_000) -> list[tuple[Any, ...]]:
    """``n`` one-part posts "post 0" … one second apart, as rows of ``plan_posts``."""
    rows = []
    for i in range(n):
        ms = start_ms + i * 1000
        tweet_id = ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (i % 4096)
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"
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


def write_plan(workspace: Workspace, rows: list[tuple[Any, ...]]) -> None:
    """Store ``rows`` as the workspace's plan."""
    with workspace.transaction() as conn:
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, "
            "parent_key, quote_key, record, media, warnings, planned_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
