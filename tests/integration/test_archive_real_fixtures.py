"""Importing the real archives of ../shared/fixtures (skipped with a reason where absent).

The expected figures were computed independently of the importer, with jq/python one-liners
over the fixture files (e.g. kinds by the format doc's rules, media files by name).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
import pytest

from departures.archive.importer import import_archive
from departures.archive.media import read_media
from departures.archive.stats import archive_stats
from departures.workspace import Workspace
from helpers.cli import run_cli
from shared_fixtures import shared_archive

pytestmark = pytest.mark.fixtures

MILAHU_STATS = {
    "tweets": 2045,
    "originals": 25,
    "self_replies": 42,
    "replies_to_others": 1738,
    "retweets": 239,
    "quotes": 1,
    "long_posts_restored": 0,
    "media_items": 23,
    "media_files_missing": 2,
    "followers": 61,
    "following": 167,
    "likes": 6708,
    "blocks": 606,
    "mutes": 2,
    "deleted_tweets": 47,
    "community_tweets": 3,
    "known_screen_names": 1088,
    "account": {
        "id": "1964312974236991488",
        "username": "milahu104",
        "display_name": "Milan Hauth",
    },
    "date_range": {"first": "2025-09-06T13:13:48Z", "last": "2026-03-06T13:02:05Z"},
}


@pytest.fixture
def milahu_archive() -> Path:
    """The real 2026 archive of milahu104 (unzipped)."""
    return shared_archive("milahu104")


@pytest.fixture
def legacy_archive() -> Path:
    """The real pre-2020 archive fragment from twitter-to-sqlite."""
    return shared_archive("legacy-2019")


def test_milahu104_imports_with_its_real_counts(milahu_archive: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(milahu_archive, ws)
    assert archive_stats(ws) == MILAHU_STATS
    # Exactly the three absent videos (two of tweets, one of a deleted tweet) are warned about.
    missing = sorted(w.file for w in report.warnings if "missing from the archive" in w.message)
    assert len(missing) == 3 and all(m.endswith(".mp4") for m in missing)
    assert not any("unknown file" in w.message for w in report.warnings)


def test_milahu104_withheld_tweet_and_escaped_text(milahu_archive: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    import_archive(milahu_archive, ws)
    withheld = ws.conn.execute(
        "SELECT withheld, withheld_in_countries FROM tweets WHERE id = 2009695498186473648"
    ).fetchone()
    assert withheld == (1, '["IN"]')
    escaped = ws.conn.execute("SELECT COUNT(*) FROM tweets WHERE raw_text LIKE '%&amp;%'")
    assert escaped.fetchone()[0] == 9
    left = ws.conn.execute("SELECT COUNT(*) FROM tweets WHERE text LIKE '%&amp;%'").fetchone()
    assert left[0] == 0
    for text, entities in ws.conn.execute("SELECT text, entities FROM tweets"):
        for url in orjson.loads(entities)["urls"]:
            assert text[url["start"] : url["end"]] == url["url"]


def test_milahu104_never_reads_private_files(milahu_archive: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    import_archive(milahu_archive, ws)
    dump = "\n".join(ws.conn.iterdump())
    assert "redacted@example.org" not in dump


def test_milahu104_as_a_zip_with_a_wrapper_folder(milahu_archive: Path, tmp_path: Path) -> None:
    target = tmp_path / "twitter-milahu104.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for path in sorted(milahu_archive.rglob("*")):
            if path.is_file():
                zf.write(path, "twitter-2026-03-06/" + path.relative_to(milahu_archive).as_posix())
    ws = Workspace.open(tmp_path / "ws")
    import_archive(target, ws)
    assert archive_stats(ws) == MILAHU_STATS
    member = ws.conn.execute(
        "SELECT file_path FROM media WHERE missing = 0 ORDER BY tweet_id LIMIT 1"
    ).fetchone()[0]
    assert member.startswith("twitter-2026-03-06/data/tweets_media/")
    assert read_media(ws, member) == (milahu_archive / member.split("/", 1)[1]).read_bytes()


def test_legacy_2019_bare_followers_and_no_tweets(legacy_archive: Path, tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(legacy_archive, ws)
    stats = archive_stats(ws)
    assert (stats["tweets"], stats["followers"], stats["following"]) == (0, 2, 2)
    assert stats["account"] == {
        "id": "12497",
        "username": "simonw",
        "display_name": "Simon Willison",
    }
    assert report.warnings == []
    links = ws.conn.execute("SELECT account_id, user_link FROM followers ORDER BY 1").fetchall()
    assert links == [(73747798, None), (386025404, None)]
    dump = "\n".join(ws.conn.iterdump())
    assert "+15555555555" not in dump and "swillison@example.com" not in dump


def test_cli_import_and_stats_json_on_milahu104(milahu_archive: Path, tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    run = ["--workspace", ws, "archive"]
    imported = run_cli(*run, "import", str(milahu_archive))
    assert imported.returncode == 0, imported.stderr
    assert "2045" in imported.stdout and "Warning: data/tweets_media/" in imported.stdout
    stats = run_cli(*run, "stats", "--json")
    assert stats.returncode == 0
    assert orjson.loads(stats.stdout) == MILAHU_STATS
