"""Worker databases joining the workspace: the later piece's copy of a tweet wins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from departures.archive.staging import (
    Staging,
    open_worker_db,
    settle_duplicates,
    store_rows,
    tweets_definition,
)
from departures.archive.tweets import TweetContext, tweet_rows
from departures.workspace import Workspace


def _rows(tweet_id: int, text: str, media: int) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    tw: dict[str, Any] = {
        "id_str": str(tweet_id),
        "full_text": text,
        "created_at": "Fri Mar 06 13:02:05 +0000 2026",
        "entities": {},
    }
    if media:
        tw["extended_entities"] = {
            "media": [
                {"type": "photo", "media_url_https": f"https://pbs.twimg.com/media/m{n}.jpg"}
                for n in range(media)
            ]
        }
    ctx = TweetContext(1, "data/tweets.js", ("data/tweets_media/",), set())
    rows = tweet_rows(tw, ctx)
    assert rows is not None
    return rows.tweet, rows.media


def _worker(tmp_path: Path, name: str, ddl: str, pieces: list[tuple[int, list[Any]]]) -> str:
    """A worker database (in a folder of its own: the file is named after the process)."""
    folder = tmp_path / name
    folder.mkdir()
    conn, path = open_worker_db(str(folder), ddl)
    for seq, tweets in pieces:
        conn.execute("BEGIN")
        for tweet_id, text, media in tweets:
            row, media_rows = _rows(tweet_id, text, media)
            store_rows(conn, seq, [row], media_rows, [])
        conn.execute("COMMIT")
    conn.close()
    return path


@pytest.mark.parametrize("fresh", [True, False])
def test_the_later_piece_wins_across_and_within_worker_databases(
    tmp_path: Path, fresh: bool
) -> None:
    ws = Workspace.open(tmp_path / "ws")
    if not fresh:  # an earlier import: the copy goes through the upsert path
        ws.conn.execute(
            "INSERT INTO tweets (id, text, raw_text, entities, kind, is_long_post, note_id) "
            "VALUES (5, 'before', 'before', '{}', 'original', 1, 77)"
        )
    ddl = tweets_definition(ws.conn)
    a = _worker(tmp_path, "a", ddl, [
        (1, [(10, "ten, piece 1", 2), (20, "twenty, piece 1", 3), (5, "five again", 0)]),
        (3, [(20, "twenty, piece 3", 1)]),  # the same worker took the later piece
    ])  # fmt: skip
    b = _worker(tmp_path, "b", ddl, [(2, [(10, "ten, piece 2", 1), (30, "thirty", 0)])])
    c = _worker(tmp_path, "c", ddl, [(4, [(30, "thirty, piece 4", 2)])])
    staging = Staging(tmp_path / "ws", ddl)
    with ws.transaction():
        copied = staging.merge(ws.conn, [a, b, c], fresh=fresh)
    staging.close()
    assert copied == 4
    texts = dict(ws.conn.execute("SELECT id, text FROM tweets").fetchall())
    assert texts == {5: "five again", 10: "ten, piece 2", 20: "twenty, piece 3",
                     30: "thirty, piece 4"}  # fmt: skip
    media = ws.conn.execute(
        "SELECT tweet_id, COUNT(*) FROM media GROUP BY tweet_id ORDER BY 1"
    ).fetchall()
    assert media == [(10, 1), (20, 1), (30, 2)]
    # Re-imported: what the linking passes set is cleared, to be set again.
    assert ws.conn.execute("SELECT is_long_post, note_id FROM tweets WHERE id = 5").fetchone() == (
        0,
        None,
    )


def test_settling_deletes_only_the_earlier_copies(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    ddl = tweets_definition(ws.conn)
    a = _worker(tmp_path, "a", ddl, [(1, [(1, "a", 0), (2, "a", 0)]), (5, [(3, "a", 0)])])
    b = _worker(tmp_path, "b", ddl, [(2, [(1, "b", 0)]), (4, [(3, "b", 0), (4, "b", 0)])])
    assert settle_duplicates([a, b]) == 2
    ws.conn.execute("ATTACH ? AS a", (a,))
    ws.conn.execute("ATTACH ? AS b", (b,))
    assert ws.conn.execute("SELECT id FROM a.tweets ORDER BY 1").fetchall() == [(2,), (3,)]
    assert ws.conn.execute("SELECT id FROM b.tweets ORDER BY 1").fetchall() == [(1,), (4,)]
    assert ws.conn.execute("SELECT id FROM a.seqs ORDER BY 1").fetchall() == [(2,), (3,)]
