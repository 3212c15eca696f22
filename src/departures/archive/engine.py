"""The parallel engine: tweets files parsed and transformed by worker processes, piece by piece.

Parsing and the per-tweet transform are CPU-bound Python. With a spare core, a fork pool of
``WORKERS`` processes takes pieces of a few MB of the tweets files: a file on disk is cut
through a memory map, a zip member as it is inflated (the parent appends each piece to a
file in the staging folder); either way each worker reads its own byte range. Each worker
parses its pieces in small arrays, turns the items into rows (``readers.transform_items``)
and stores them in a database of its own (``staging.py``). The parent keeps at most
``IN_FLIGHT`` pieces out, reads the other files (likes, long posts...) meanwhile and takes
pieces itself when idle; at the end it merges the workers' databases into the workspace
inside the import's one transaction. The result is exactly what the one-process path stores
(a later piece's copy of a tweet wins).
"""

from __future__ import annotations

import contextlib
import gc
import mmap
import multiprocessing
import os
import sqlite3
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from departures.archive.plan import DataFile
from departures.archive.readers import Batch, transform_items
from departures.archive.source import MediaIndex
from departures.archive.staging import Staging, open_worker_db, store_rows, tweets_definition
from departures.archive.tweets import TweetContext
from departures.archive.ytd import array_pieces, parse_ytd, stream_pieces, ytd_pieces
from departures.errors import ArchiveError, DeparturesError

if TYPE_CHECKING:
    from departures.archive.importer import ImportRun

# Below this many bytes of tweets, starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 16 << 20
WORKERS = 2
# Pieces handed to the workers and not yet stored: enough to keep both busy.
IN_FLIGHT = 4 * WORKERS + 2
PARSE_BYTES = 1 << 20  # a piece is parsed in arrays of about this size (see _transform_into)
WORKERS_ENV = "DEPARTURES_IMPORT_WORKERS"


def _use_workers() -> bool:
    """Whether spare cores make worker processes pay off (``DEPARTURES_IMPORT_WORKERS=0``: never).

    On a machine already busy with other work, a worker pool only adds contention (the rows
    travel between processes): the single-process path is then faster.
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting in ("0", "1"):
        return False
    cores = os.cpu_count() or 1
    if setting.isdigit():
        return True
    if cores < 2:
        return False
    idle = _idle_cores()
    if idle is None:
        try:
            idle = cores - os.getloadavg()[0]
        except OSError:
            idle = float(cores)
    # This process is asleep while it samples: "idle" counts its own core too.
    return idle >= 1.5


def _idle_cores(window: float = 0.15) -> float | None:
    """How many cores sat idle over the last ``window`` seconds (Linux), else None.

    The load average lags by a minute (it still counts work that just ended); a short
    sample of /proc/stat says what is free now.
    """

    def sample() -> tuple[int, int]:
        with open("/proc/stat", "rb") as stat_file:
            fields = [int(v) for v in stat_file.readline().split()[1:]]
        return sum(fields[:8]), fields[3] + fields[4]  # total, idle + iowait

    try:
        total_before, idle_before = sample()
        time.sleep(window)
        total_after, idle_after = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total_after - total_before
    if elapsed <= 0:
        return None
    return (os.cpu_count() or 1) * (idle_after - idle_before) / elapsed


def pays_off(tweet_bytes: int) -> bool:
    """Whether tweets files of this size are worth worker processes on this machine now."""
    return tweet_bytes >= PARALLEL_MIN_BYTES and _use_workers()


@dataclass
class PieceJob:
    """A piece of a tweets file for a worker process, and the file's context.

    The piece is bytes ``start:end`` of the file ``path`` (a run of whole items, see
    :func:`ytd.ytd_pieces`), which the worker reads itself: no piece travels through the
    parent's memory or a pipe. ``path`` is the archive's own file, or for a zip member the
    file the parent spills the inflated member to (see :func:`_spilled_pieces`). With
    ``whole``, the entire file: too small or too odd to cut.
    """

    member: str
    ctx: TweetContext
    path: str
    start: int = 0
    end: int = 0
    whole: bool = False
    seq: int = 0  # the piece's place among all pieces: a later piece's copy of a tweet wins

    def load(self) -> bytes | bytearray:
        """The piece's bytes: a JSON array (or the whole file, with ``whole``)."""
        with open(self.path, "rb") as file:
            if self.whole:
                return file.read()
            # One byte either side (a separator, or the file's own brackets) becomes the
            # array's brackets.
            file.seek(self.start - 1)
            # Read straight into the buffer: no second copy of a few MB.
            buffer = bytearray(self.end - self.start + 2)
            size = file.readinto(buffer)
        if size != len(buffer):
            return b""  # the file changed under us: not JSON, the parent decides
        buffer[0] = 0x5B  # [
        buffer[-1] = 0x5D  # ]
        return buffer


@dataclass
class PieceResult:
    """What a worker did with one piece: its counts, the missing media files it found (the
    rows are in the worker's database, ``db``), or what went wrong."""

    read: int
    skipped: int
    missing: list[tuple[str, int]] = field(default_factory=list)
    db: str = ""
    error: tuple[str, str | None] | None = None
    # The piece is not valid JSON: the parent reads the whole file to name the fault.
    broken: bool = False


_worker_media = MediaIndex()
_worker_db: sqlite3.Connection | None = None
_worker_db_path = ""


def _init_worker(media_files: MediaIndex, staging_folder: str, tweets_ddl: str) -> None:
    global _worker_media, _worker_db, _worker_db_path
    _worker_media = media_files
    _worker_db, _worker_db_path = open_worker_db(staging_folder, tweets_ddl)
    gc.disable()  # see import_archive: no cycles, millions of objects


def _transform_piece(job: PieceJob) -> PieceResult:
    """Parse one piece of a tweets file into rows in this worker's database (a worker)."""
    assert _worker_db is not None
    return _transform_into(job, _worker_db, _worker_db_path, _worker_media)


def _transform_into(
    job: PieceJob, conn: sqlite3.Connection, db_path: str, media: MediaIndex
) -> PieceResult:
    """Parse one piece into rows in the database ``conn`` (a worker's, or the parent's)."""
    job.ctx.media_files = media
    missing: list[tuple[str, int]] = []

    def sink(batch: Batch) -> None:
        store_rows(conn, job.seq, batch[0], batch[1], batch[2])
        missing.extend(batch[3])

    read = skipped = 0
    conn.execute("BEGIN")
    try:
        data = job.load()
        if job.whole:
            arrays: Iterator[Any] = iter([parse_ytd(data, job.member)])
        else:
            # A few MB of JSON are tens of MB of objects: parsed a fraction at a time, the
            # memory of a process that transforms stays small (and flat: a longer import
            # only has more chances to meet its largest moment).
            arrays = (orjson.loads(array) for array in array_pieces(data, PARSE_BYTES))
        for items in arrays:
            if not isinstance(items, list):
                conn.execute("ROLLBACK")
                return PieceResult(0, 0, broken=True)
            counts = transform_items(items, job.ctx, sink)
            del items
            read += counts[0]
            skipped += counts[1]
        del data, arrays
    except (orjson.JSONDecodeError, OSError):
        conn.execute("ROLLBACK")
        return PieceResult(0, 0, broken=True)
    except DeparturesError as exc:
        conn.execute("ROLLBACK")
        # Sent back as data: the error's hint would not survive pickling.
        return PieceResult(0, 0, error=(exc.message, exc.hint))
    conn.execute("COMMIT")
    return PieceResult(read, skipped, missing, db_path)


def run_parallel(run: ImportRun, tweet_files: list[DataFile], others: list[DataFile]) -> None:
    """Parse and transform tweets in worker processes, piece by piece; store them here.

    Parsing and the per-tweet transform are CPU-bound Python: two workers use both
    cores while this process cuts the files into pieces of a few thousand tweets and
    inserts the rows, in the files' order. Pieces rather than whole parts: the work is
    shared evenly, little waits at the end, and at most ``IN_FLIGHT`` pieces (a few MB
    each) are out at a time, so memory stays bounded whatever the archive's size.
    """
    # fork, not spawn: spawn re-imports the caller's main script, which a benchmark or a
    # notebook does not guard. The children only parse and transform: they never touch
    # the parent's database connection or its threads.
    run.staging = staging = Staging(run.workspace.path, tweets_definition(run.conn))
    pool = ProcessPoolExecutor(
        max_workers=WORKERS,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_init_worker,
        initargs=(run.media_files, staging.folder, staging.tweets_ddl),
    )
    # Start the workers now, before any part is read: forked later, each would carry a
    # copy-on-write view of the parent's part buffer (counted in its resident memory).
    pool.submit(int).result()
    spills: dict[str, str] = {}  # zip member -> the file its pieces are spilled to
    jobs = _pieces(run, tweet_files, staging.folder, spills)
    # (file, its piece's result) in order; a None future marks the end of a file.
    pending: deque[tuple[DataFile, Future[PieceResult] | None]] = deque()
    counts: dict[str, list[int]] = {f.member: [0, 0] for f in tweet_files}
    fallen_back: set[str] = set()
    databases: set[str] = set()

    def submit_next() -> None:
        while sum(1 for _, f in pending if f is not None and not f.done()) < IN_FLIGHT:
            job = next(jobs, None)
            if job is None:
                return
            data_file, piece = job
            future = pool.submit(_transform_piece, piece) if piece is not None else None
            pending.append((data_file, future))

    def work_here() -> bool:
        """Take the next piece in this process, when it has nothing else to do."""
        job = next(jobs, None)
        if job is None:
            return False
        data_file, piece = job
        done: Future[PieceResult] | None = None
        if piece is not None:
            conn, path = staging.own_db()
            done = Future()
            done.set_result(_transform_into(piece, conn, path, run.media_files))
        pending.append((data_file, done))
        submit_next()
        return True

    # The other files (likes, long posts, followers...) are read here a chunk at a time
    # whenever the next piece is not back yet: the workers never wait for them.
    other_steps = run.other_steps(others)
    try:
        submit_next()
        while pending:
            data_file, future = pending.popleft()
            while future is not None and not future.done():
                # Idle otherwise: read the other files, else transform a piece here too
                # (the workers rarely keep both cores full on their own).
                if next(other_steps, StopIteration) is StopIteration and not work_here():
                    break
            if future is None:
                # Every piece of the file is back: its spilled copy has served.
                with contextlib.suppress(KeyError, OSError):
                    os.remove(spills.pop(data_file.member))
                read, skipped = counts[data_file.member]
                run.after_tweet_file(data_file, read, skipped)
                submit_next()
                continue
            result = future.result()
            submit_next()
            if data_file.member in fallen_back:
                continue
            if result.error is not None:
                raise ArchiveError(*result.error)
            if result.broken:
                fallen_back.add(data_file.member)
                run.read_rest_here(data_file, counts[data_file.member])
                continue
            databases.add(result.db)
            for path, tweet_id in result.missing:
                run.missing_media(path, tweet_id)
            counts[data_file.member][0] += result.read
            counts[data_file.member][1] += result.skipped
            if data_file.kind == "tweets":
                run.tweets_progress += result.read
                run.tick("tweets", run.tweets_progress, run.tweets_total)
        for _ in other_steps:
            pass
    finally:
        # The workers exit here: their databases are complete and closed.
        pool.shutdown(wait=True, cancel_futures=True)
    run.tick("storing", 0, 1)
    run.staging.merge(run.conn, sorted(databases), fresh=run.fresh)
    run.tick("storing", 1, 1)


def _pieces(
    run: ImportRun, tweet_files: list[DataFile], spill_folder: str, spills: dict[str, str]
) -> Iterator[tuple[DataFile, PieceJob | None]]:
    """Every tweets file cut into pieces for the workers, then an end-of-file marker."""
    seq = 0
    for data_file, piece in _unnumbered_pieces(run, tweet_files, spill_folder, spills):
        if piece is not None:
            seq += 1
            piece.seq = seq
        yield data_file, piece


def _unnumbered_pieces(
    run: ImportRun, tweet_files: list[DataFile], spill_folder: str, spills: dict[str, str]
) -> Iterator[tuple[DataFile, PieceJob | None]]:
    for index, data_file in enumerate(tweet_files):
        # The media index reaches each worker once, through its initializer.
        ctx = replace(run.tweet_context(data_file), media_files=MediaIndex())
        local = run.source.local_file(data_file.member)
        if local is not None:
            yield from _local_pieces(data_file, ctx, local)
        else:
            spill = os.path.join(spill_folder, f"member-{index}.js")
            spills[data_file.member] = spill
            blocks = run.source.open_stream(data_file.member)
            yield from _spilled_pieces(data_file, ctx, blocks, spill)
        yield data_file, None


def _spilled_pieces(
    data_file: DataFile, ctx: TweetContext, blocks: Iterator[bytes], spill: str
) -> Iterator[tuple[DataFile, PieceJob]]:
    """Cut a zip member as it is inflated; each piece is appended to ``spill`` and handed
    out as a range of that file.

    The workers start on the first piece while the rest of the member is still compressed,
    and read their pieces as they read an unzipped archive's: the parent holds one piece at
    a time, never the member, nor copies of the pieces in flight (the page cache does).
    """
    with open(spill, "wb") as out:
        at = 0
        for whole, piece in stream_pieces(blocks):
            out.write(piece)  # all of it (a buffered write loops until it is written)
            out.flush()  # before a worker opens it
            size = len(piece)
            if whole:  # the only thing in the file
                yield data_file, PieceJob(data_file.member, ctx, spill, whole=True)
            else:  # "[" + items + "]": the items are bytes at + 1 ... at + size - 1
                yield data_file, PieceJob(data_file.member, ctx, spill, at + 1, at + size - 1)
            at += size
            del piece


def _local_pieces(
    data_file: DataFile, ctx: TweetContext, local: Path
) -> Iterator[tuple[DataFile, PieceJob]]:
    """Cut a file on disk through a memory map: only the bytes near each cut are read
    here, the workers read their pieces themselves."""
    whole = PieceJob(data_file.member, ctx, str(local), whole=True)
    try:
        file = open(local, "rb")  # noqa: SIM115 (closed below, after the generator's use)
    except OSError:
        yield data_file, whole  # the worker meets the error and names it
        return
    try:
        try:
            mapped = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # empty file
            yield data_file, whole
            return
        with mapped:
            cuts = ytd_pieces(mapped)
            if cuts is None:
                yield data_file, whole
                return
            for start, end in cuts:
                yield data_file, PieceJob(data_file.member, ctx, str(local), start, end)
    finally:
        file.close()
