"""The library functions the desk added, checked against the ones the CLI already had."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from departures.archive.run import import_into
from departures.migrate.alttext import AltTextError, media_to_describe, set_alt_text
from departures.migrate.convert import MISSING_ALT
from departures.migrate.plan import (
    count_selection,
    load_tweets,
    plan_from_choices,
    published_keys,
)
from departures.migrate.preview import load_posts, load_posts_page, page_starts, plan_warnings
from departures.migrate.select import (
    DEFAULT_CHOICES,
    Selection,
    select_tweets,
    selection_from_choices,
)
from departures.samples.x_archive import generate_archive
from departures.workspace.db import Workspace


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("desk-library")
    archive = generate_archive(folder / "x", tweets=150, as_zip=True, profile="demo", seed=5)
    import_into(archive, folder / "ws", holder="a test")
    workspace = Workspace.open(folder / "ws")
    plan_from_choices(workspace, {"replies": True})
    workspace.close()
    yield folder / "ws"


def test_the_default_choices_are_the_clis_defaults() -> None:
    assert selection_from_choices(DEFAULT_CHOICES) == Selection()
    assert selection_from_choices({}) == Selection()


def test_pages_of_the_plan_are_the_whole_plan_in_order(planned: Path) -> None:
    workspace = Workspace.open(planned)
    try:
        whole = [post.key for post in load_posts(workspace)]
        paged: list[str] = []
        offset = 0
        while True:
            page, total = load_posts_page(workspace, offset=offset, limit=7)
            assert total == len(whole)
            if not page:
                break
            paged.extend(post.key for post in page)
            offset += 7
        assert paged == whole
        starts = page_starts(workspace, 7)
        by_start = [
            post.key
            for start in starts
            for post in load_posts_page(workspace, start_seq=start, limit=7)[0]
        ]
        assert by_start == whole
        warned, count = load_posts_page(workspace, offset=0, limit=1000, warned=True)
        assert count == sum(1 for post in load_posts(workspace) if post.warnings)
        assert all(post.warnings for post in warned)
    finally:
        workspace.close()


def test_live_counts_agree_with_the_selection(planned: Path) -> None:
    workspace = Workspace.open(planned)
    try:
        tweets = load_tweets(workspace)
        choices = {**DEFAULT_CHOICES, "since": "2025-01-01", "quotes": False}
        counted = count_selection(tweets, choices, published=published_keys(workspace.conn))
        selected = select_tweets(tweets, selection_from_choices(choices))
        assert counted.tweets == len(selected.ids) > 0
        assert sum(counted.by_kind.values()) == counted.tweets
        assert "quote" not in counted.by_kind
        assert counted.estimated_seconds >= 0
    finally:
        workspace.close()


def test_one_alt_text_saved_clears_its_warning_in_the_plan(planned: Path) -> None:
    workspace = Workspace.open(planned)
    try:
        before = media_to_describe(workspace, limit=1, missing_only=True)
        assert before.total > before.described
        item = before.items[0]
        missing = plan_warnings(workspace).get(MISSING_ALT, 0)
        assert set_alt_text(workspace, item.tweet_id, item.position, "  A tree  ") is True
        assert set_alt_text(workspace, item.tweet_id, item.position, "A tree") is False
        after = media_to_describe(workspace, limit=0)
        assert after.described == before.described + 1
        assert plan_warnings(workspace).get(MISSING_ALT, 0) == missing - 1
        with pytest.raises(AltTextError, match="over Bluesky's limit"):
            set_alt_text(workspace, item.tweet_id, item.position, "x" * (item.limit + 1))
        assert set_alt_text(workspace, item.tweet_id, item.position, "") is True
        assert plan_warnings(workspace).get(MISSING_ALT, 0) == missing
    finally:
        workspace.close()
