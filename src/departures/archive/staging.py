"""Worker databases: where import workers store their rows, and how they join the workspace.

With worker processes, each worker writes the rows of its pieces into a database of its own
(a file in a hidden folder of the workspace, no journal: it is thrown away after the
import). The parent then copies every worker's rows into the workspace inside its single
import transaction, with ``INSERT ... SELECT`` over the attached worker databases: SQLite
copies them in C instead of the parent binding every value of every row in Python.

A worker's ``tweets`` table is created from the workspace's own definition, so that into an
empty workspace SQLite copies its records as they are, without decoding a single column
(its "transfer optimisation": about three times faster than a copy column by column).

Each tweet's piece number is kept beside it (``seqs``): when one tweet appears in two
pieces, the later piece wins, as it does when one process reads the files in order.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from departures.archive.tweets import MEDIA_COLUMNS, TWEET_COLUMNS
from departures.workspace.db import PAGE_SIZE

PREFIX = ".import-"
WORKER_CACHE_KIB = -4096  # a worker's page cache: its memory stays small and flat
OWN_CACHE_KIB = -1024  # the parent's, for the pieces it takes itself

_SIGHTING_COLUMNS = ("user_id", "screen_name", "tweet_id", "field")


def tweets_definition(conn: sqlite3.Connection) -> str:
    """The workspace's ``CREATE TABLE tweets`` statement (migrations included)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tweets'")
    return str(row.fetchone()[0])


def _schema(tweets_ddl: str) -> list[str]:
    media_columns = ", ".join(MEDIA_COLUMNS)
    return [
        tweets_ddl,
        "CREATE TABLE seqs (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL)",
        f"CREATE TABLE media ({media_columns}, seq INTEGER NOT NULL, "
        "PRIMARY KEY (tweet_id, position)) WITHOUT ROWID",
        "CREATE TABLE sightings (user_id, screen_name, tweet_id, field, "
        "PRIMARY KEY (user_id, screen_name, tweet_id, field)) WITHOUT ROWID",
    ]


def open_worker_db(
    folder: str, tweets_ddl: str, cache_kib: int = WORKER_CACHE_KIB
) -> tuple[sqlite3.Connection, str]:
    """A fresh worker database in ``folder`` (named after this process); its path.

    ``tweets_ddl``: the workspace's definition of its tweets table (:func:`tweets_definition`).
    """
    path = os.path.join(folder, f"worker-{os.getpid()}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # as the workspace's: raw copies
    # Nothing to protect: a crash throws the whole folder away.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute(f"PRAGMA cache_size = {int(cache_kib)}")
    for statement in _schema(tweets_ddl):
        conn.execute(statement)
    return conn, path


def store_rows(
    conn: sqlite3.Connection,
    seq: int,
    tweets: Sequence[tuple[Any, ...]],
    media: Sequence[tuple[Any, ...]],
    sightings: Sequence[tuple[Any, ...]],
) -> None:
    """Store one batch of a piece's rows in the worker database (the caller commits)."""
    # The piece's number is part of the statements: media rows need no new tuple to bind it,
    # and tweets only their id (the tweets table is the workspace's, without it).
    if tweets:
        conn.executemany(
            f"INSERT OR REPLACE INTO tweets ({', '.join(TWEET_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in TWEET_COLUMNS)})",
            tweets,
        )
        conn.executemany(
            f"INSERT OR REPLACE INTO seqs (id, seq) VALUES (?, {int(seq)})",
            [row[:1] for row in tweets],
        )
    if media:
        conn.executemany(
            f"INSERT OR REPLACE INTO media (seq, {', '.join(MEDIA_COLUMNS)}) "
            f"VALUES ({int(seq)}, {', '.join('?' for _ in MEDIA_COLUMNS)})",
            media,
        )
    if sightings:
        conn.executemany("INSERT OR IGNORE INTO sightings VALUES (?, ?, ?, ?)", sightings)


def settle_duplicates(paths: Sequence[str]) -> int:
    """Delete every tweet that a later piece holds in another worker database; how many.

    Within one database the later piece already replaced the earlier one (a worker takes its
    pieces in order). Runs on a connection of its own, outside the import's transaction:
    the worker databases are scratch files, and changing them there would turn the
    workspace's commit into a multi-file one.
    """
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        names = []
        for number, path in enumerate(paths):
            conn.execute(f"ATTACH DATABASE ? AS w{number}", (path,))
            conn.execute(f"PRAGMA w{number}.journal_mode = OFF")
            conn.execute(f"PRAGMA w{number}.synchronous = OFF")
            names.append(f"w{number}")
        deleted = 0
        for first, second in itertools.combinations(names, 2):
            both = conn.execute(
                f"SELECT a.id, a.seq < b.seq FROM {first}.seqs a JOIN {second}.seqs b "
                "ON a.id = b.id"
            ).fetchall()
            for tweet_id, first_is_older in both:
                loser = first if first_is_older else second
                # Its media rows go with its seqs row (see Staging.merge).
                conn.execute(f"DELETE FROM {loser}.tweets WHERE id = ?", (tweet_id,))
                conn.execute(f"DELETE FROM {loser}.seqs WHERE id = ?", (tweet_id,))
                deleted += 1
        return deleted
    finally:
        conn.close()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Staging:
    """The parent's side: the folder of worker databases, and copying them in."""

    def __init__(self, workspace_dir: Path, tweets_ddl: str) -> None:
        self._remove_stale(workspace_dir)
        self.folder = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=workspace_dir)
        self.tweets_ddl = tweets_ddl
        self._conn: sqlite3.Connection | None = None
        self._attached: list[str] = []
        self._own: tuple[sqlite3.Connection, str] | None = None

    def own_db(self) -> tuple[sqlite3.Connection, str]:
        """The parent's own worker database, for the pieces it transforms itself."""
        if self._own is None:
            # The parent takes few pieces: a smaller cache keeps its own memory flat.
            self._own = open_worker_db(self.folder, self.tweets_ddl, OWN_CACHE_KIB)
        return self._own

    @staticmethod
    def _remove_stale(workspace_dir: Path) -> None:
        """Folders left by an import that was killed (its process is gone)."""
        for folder in workspace_dir.glob(PREFIX + "*"):
            pid = folder.name[len(PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(folder, ignore_errors=True)

    def merge(self, conn: sqlite3.Connection, paths: Sequence[str], *, fresh: bool) -> int:
        """Copy the workers' rows into the workspace (inside the caller's transaction).

        Tweets already in two databases are settled first (the later piece wins). Into an
        empty tweets table the records are copied whole; ``fresh`` (the table was empty when
        the import began, but the parent stored some rows itself) replaces rows; otherwise
        existing rows are updated in place (as the one-process path does).
        Returns the number of tweet rows copied.
        """
        self._conn = conn
        if self._own is not None:
            self._own[0].close()  # committed; attached below like the workers' databases
        paths = sorted(set(paths))
        settle_duplicates(paths)
        names = []
        for number, path in enumerate(paths):
            name = f"import_worker_{number}"
            conn.execute(f"ATTACH DATABASE ? AS {name}", (path,))
            self._attached.append(name)
            names.append(name)
        if not names:
            return 0
        tweet_cols = ", ".join(TWEET_COLUMNS)
        media_cols = ", ".join(MEDIA_COLUMNS)
        tweets_select = " UNION ALL ".join(f"SELECT {tweet_cols} FROM {n}.tweets" for n in names)
        # A media row counts only if it came with the copy of its tweet that stays (the
        # later piece's: a tweet's earlier copy may have had more media).
        media_select = " UNION ALL ".join(
            f"SELECT {media_cols} FROM {n}.media x "
            f"WHERE x.seq = (SELECT s.seq FROM {n}.seqs s WHERE s.id = x.tweet_id)"
            for n in names
        )
        sightings_select = " UNION ALL ".join(
            f"SELECT {', '.join(_SIGHTING_COLUMNS)} FROM {n}.sightings" for n in names
        )
        copied = 0
        if conn.execute("SELECT 1 FROM tweets LIMIT 1").fetchone() is None:
            # Whole records, one database after the other (no two hold the same tweet now).
            for name in names:
                conn.execute(f"INSERT INTO tweets SELECT * FROM {name}.tweets")
                copied += int(conn.execute("SELECT changes()").fetchone()[0])
        elif fresh:
            conn.execute(f"INSERT OR REPLACE INTO tweets ({tweet_cols}) {tweets_select} ORDER BY 1")
            copied = int(conn.execute("SELECT changes()").fetchone()[0])
        else:
            updates = ", ".join(f"{c} = excluded.{c}" for c in TWEET_COLUMNS if c != "id")
            conn.execute(
                f"INSERT INTO tweets ({tweet_cols}) SELECT * FROM ({tweets_select} ORDER BY 1) "
                f"WHERE 1 ON CONFLICT(id) DO UPDATE SET {updates}, is_long_post = 0, "
                "note_id = NULL"
            )
            copied = int(conn.execute("SELECT changes()").fetchone()[0])
        if fresh:
            conn.execute(
                f"INSERT OR REPLACE INTO media ({media_cols}) {media_select} ORDER BY 1, 2"
            )
        else:
            updates = ", ".join(
                f"{c} = excluded.{c}" for c in MEDIA_COLUMNS if c not in ("tweet_id", "position")
            )
            conn.execute(
                f"INSERT INTO media ({media_cols}) SELECT * FROM ({media_select} ORDER BY 1, 2) "
                f"WHERE 1 ON CONFLICT(tweet_id, position) DO UPDATE SET {updates}"
            )
        conn.execute(
            f"INSERT OR IGNORE INTO screen_name_sightings ({', '.join(_SIGHTING_COLUMNS)}) "
            f"{sightings_select} ORDER BY 1, 2"
        )
        return copied

    def close(self) -> None:
        """Detach the worker databases (after the transaction ended) and delete them."""
        if self._conn is not None:
            for name in self._attached:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute(f"DETACH DATABASE {name}")
        self._attached.clear()
        if self._own is not None:
            self._own[0].close()
        shutil.rmtree(self.folder, ignore_errors=True)
