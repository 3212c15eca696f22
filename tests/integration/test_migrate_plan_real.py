"""Planning the real milahu104 archive: its counts, and every record valid for the SDK."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from departures.archive.importer import import_archive
from departures.bluesky.records import decode_tid
from departures.migrate.convert import MISSING_ALT
from departures.migrate.plan import build_plan
from departures.migrate.preview import write_preview
from departures.migrate.richtext import grapheme_count
from departures.migrate.select import Selection
from departures.workspace import Workspace
from shared_fixtures import shared_archive

pytestmark = pytest.mark.fixtures


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    ws = Workspace.open(tmp_path_factory.mktemp("milahu") / "ws")
    import_archive(shared_archive("milahu104"), ws)
    return ws


def test_default_plan_of_milahu104(workspace: Workspace) -> None:
    summary = build_plan(workspace, Selection())
    assert dict(summary.tweets_by_kind) == {"original": 25, "quote": 1, "thread": 1}
    assert summary.posts == 27 and summary.pending == 27
    assert (summary.images, summary.videos) == (0, 1)
    assert summary.warnings_by_kind == {MISSING_ALT: 1}
    assert summary.estimated_seconds == 0.0


def test_everything_plan_of_milahu104_is_valid_for_the_sdk(workspace: Workspace) -> None:
    from atproto import models
    from atproto_client.models.utils import get_or_create

    summary = build_plan(workspace, Selection(replies=True, retweets=True), footer="via X")
    assert sum(summary.tweets_by_kind.values()) == 2044  # 2,045 minus the withheld one
    assert summary.skipped == {
        "withheld (--skip-withheld)": 1,
        "deleted on X": 47,
        "community tweet": 3,
    }
    assert summary.posts > 2044 and summary.split_tweets > 0
    assert summary.estimated_seconds == 3600.0  # over 1,633 creates: into the second hour

    rows: list[dict[str, Any]] = []
    cursor = workspace.conn.execute("SELECT * FROM plan_posts ORDER BY seq")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor]
    seq = {r["key"]: r["seq"] for r in rows}
    assert len({r["rkey"] for r in rows}) == len(rows)
    for row in rows:
        decode_tid(row["rkey"])
        record = orjson.loads(row["record"])
        get_or_create(record, models.AppBskyFeedPost.Record, strict=True, strict_string_format=True)
        assert grapheme_count(record["text"]) <= 300
        for ref in ("parent_key", "root_key", "quote_key"):
            if row[ref] is not None:
                assert seq[row[ref]] < row["seq"], (row["key"], ref)


def test_preview_of_milahu104(workspace: Workspace, tmp_path: Path) -> None:
    build_plan(workspace, Selection())
    result = write_preview(workspace, tmp_path / "preview.html")
    page = result.path.read_text(encoding="utf-8")
    assert result.posts == 27
    assert page.count("<article") == 27
