"""The linking passes: SQL over the whole workspace once every file has been read.

Long posts are joined to their tweets (``notes.link_notes``), edit chains collapse to their
last version, replies to the archive's own tweets become self-replies, and self-reply chains
get their parent and root. Each pass is one or a few statements over the tables, never a
Python dict of every tweet, so the import's memory does not grow with the archive.

Into empty tables the import drops the secondary indexes first
(:func:`drop_secondary_indexes`) and :func:`link_all` builds them once, after the long
posts are linked and before the passes that need them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from departures.archive.notes import UnlinkedNote, link_notes

# The page cache while the indexes are built (PRAGMA cache_size; negative: KiB).
INDEX_BUILD_CACHE_KIB = -4096
PASSES = 4  # progress: "linking", done, PASSES


def link_all(
    conn: Any,
    *,
    account_id: int | None,
    indexes: list[str],
    fresh: bool,
    tick: Callable[[str, int, int | None], None],
) -> tuple[int, list[UnlinkedNote]]:
    """Every linking pass, in order; the long posts restored and those unlinked (with why).

    ``indexes``: the statements that rebuild what :func:`drop_secondary_indexes` dropped.
    ``fresh``: every tweet was inserted by this import (see :func:`link_threads`).
    """
    tick("linking", 0, PASSES)
    linked, unlinked = link_notes(conn)
    # SQLite's sorter takes as much memory as the page cache allows: a smaller cache
    # while the indexes are built keeps a million-tweet sort out of memory (it spills
    # to temporary files), so the import's peak does not grow with the archive.
    cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute(f"PRAGMA cache_size = {INDEX_BUILD_CACHE_KIB}")
    for sql in indexes:
        conn.execute(sql)
    conn.execute(f"PRAGMA cache_size = {int(cache_size)}")
    tick("linking", 1, PASSES)
    collapse_edits(conn)
    tick("linking", 2, PASSES)
    mark_self_replies(conn, account_id)
    tick("linking", 3, PASSES)
    link_threads(conn, reset=not fresh)
    tick("linking", 4, PASSES)
    return linked, unlinked


def drop_secondary_indexes(
    conn: Any, tables: tuple[str, ...], keep: tuple[str, ...] = ()
) -> list[str]:
    """Drop the explicit indexes of ``tables`` (but ``keep``); the statements that make them."""
    marks = ", ".join("?" for _ in tables)
    rows = conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks}) ORDER BY name",
        tables,
    ).fetchall()
    rows = [(name, sql) for name, sql in rows if name not in keep]
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _, sql in rows]


def collapse_edits(conn: Any) -> None:
    """Keep only the last version of every edited tweet and point references at it."""
    conn.execute(
        "INSERT OR REPLACE INTO tweet_versions (version_id, kept_id) "
        "SELECT t.id, g.kept FROM tweets t JOIN ("
        "  SELECT edit_initial_id AS gid, MAX(id) AS kept FROM tweets "
        "  WHERE edit_initial_id IS NOT NULL GROUP BY edit_initial_id HAVING COUNT(*) > 1"
        ") g ON t.edit_initial_id = g.gid WHERE t.id <> g.kept"
    )
    conn.execute("DELETE FROM media WHERE tweet_id IN (SELECT version_id FROM tweet_versions)")
    conn.execute("DELETE FROM tweets WHERE id IN (SELECT version_id FROM tweet_versions)")
    for column in ("reply_to_id", "quote_of"):
        conn.execute(
            f"UPDATE tweets SET {column} = (SELECT kept_id FROM tweet_versions "
            f"WHERE version_id = tweets.{column}) "
            f"WHERE {column} IN (SELECT version_id FROM tweet_versions)"
        )


def mark_self_replies(conn: Any, account_id: int | None) -> None:
    """A reply to a tweet of this archive, or to the account itself, is a self-reply."""
    conn.execute(
        "UPDATE tweets SET kind = 'reply_to_self' WHERE kind = 'reply_to_other' AND "
        "(reply_to_user_id = ? OR reply_to_id IN (SELECT id FROM tweets))",
        (account_id,),
    )


def link_threads(conn: Any, *, reset: bool = True) -> None:
    """Set parent and root of every self-reply chain whose parent is in the archive.

    ``reset=False`` skips clearing the previous links: only right when every row was
    inserted by this import (the columns start NULL), which spares a full table scan.
    """
    if reset:
        conn.execute(
            "UPDATE tweets SET thread_parent_id = NULL, thread_root_id = NULL "
            "WHERE thread_parent_id IS NOT NULL OR thread_root_id IS NOT NULL"
        )
    conn.execute(
        "UPDATE tweets SET thread_parent_id = reply_to_id WHERE kind = 'reply_to_self' "
        "AND reply_to_id IN (SELECT id FROM tweets) AND reply_to_id < id"
    )
    conn.execute("DROP TABLE IF EXISTS temp.thread_chain")
    # Keyed from the start: an index built afterwards sorts in memory (8 MB at a million
    # tweets), and the import's memory would grow with the archive.
    conn.execute("CREATE TEMP TABLE thread_chain (id INTEGER PRIMARY KEY, root INTEGER)")
    conn.execute(
        "INSERT OR IGNORE INTO thread_chain (id, root) WITH RECURSIVE chain(id, root) AS ("
        "  SELECT id, id FROM tweets WHERE thread_parent_id IS NULL AND id IN "
        "    (SELECT thread_parent_id FROM tweets WHERE thread_parent_id IS NOT NULL)"
        "  UNION ALL"
        "  SELECT t.id, chain.root FROM tweets t JOIN chain ON t.thread_parent_id = chain.id"
        ") SELECT id, root FROM chain"
    )
    conn.execute(
        "UPDATE tweets SET thread_root_id = "
        "(SELECT root FROM thread_chain WHERE thread_chain.id = tweets.id) "
        "WHERE id IN (SELECT id FROM thread_chain)"
    )
    conn.execute("DROP TABLE temp.thread_chain")
