"""Scale of the directory: looking up an organisation's followings in a large directory.

Fills a coalition store's ``directory_entries`` with ``--entries`` consented pairs
(default 1,000,000), then looks up ``--followings`` X ids (default 50,000; half of them in
the directory) exactly as ``GET /directory/lookup`` does, 1,000 ids a query. Prints the
fill time, the lookup time (total and per 1,000 ids) and the peak memory of the lookup.

SQLite by default (a temporary file); ``--db postgresql+psycopg://…`` for PostgreSQL (an
empty database: the bench migrates it and drops the rows afterwards).

    .venv/bin/python bench/bench_audience_directory.py [--entries N] [--followings N] [--postgres]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, delete, insert, text

from departures.coalition.db import connect, migrate
from departures.coalition.directory import MAX_LOOKUP, Directory
from departures.coalition.store.schema import directory_entries
from departures.sandbox.postgres import Cluster

CHUNK = 20_000


def fill(directory: Directory, n: int, rng: random.Random) -> list[str]:
    """Insert ``n`` pairs; their X ids."""
    ids = [str(i) for i in rng.sample(range(10**9, 10**12), n)]
    now = datetime.now(UTC)
    with directory.engine.begin() as conn:
        for start in range(0, n, CHUNK):
            conn.execute(
                insert(directory_entries),
                [
                    {
                        "x_id": x_id,
                        "x_username": f"u{x_id[-9:]}",
                        "did": "did:plc:" + f"{int(x_id):024d}"[-24:].translate(_DIGITS),
                        "handle": f"u{x_id[-9:]}.bsky.social",
                        "source": "self",
                        "consented_at": now,
                    }
                    for x_id in ids[start : start + CHUNK]
                ],
            )
    return ids


_DIGITS = str.maketrans("0123456789", "abcdefghij")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--followings", type=int, default=50_000)
    parser.add_argument("--db", default=None, help="a PostgreSQL URL (default: SQLite)")
    parser.add_argument(
        "--postgres", action="store_true", help="start a throwaway PostgreSQL cluster for the run"
    )
    args = parser.parse_args(argv)
    if args.postgres:
        with throwaway_postgres() as url:
            return run(args, url)
    return run(args, args.db)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster of the sandbox's binaries with an empty database; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # PostgreSQL refuses to run as root: the cluster belongs to the postgres user, in a
    # directory it can reach.
    root = Path(f"/var/tmp/departures-bench-pg-{os.getpid()}")
    cluster = Cluster(data_dir=root / "pg", port=port)
    cluster.start()
    try:
        base = f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "bench"'))
        admin.dispose()
        yield f"{base}/bench"
    finally:
        cluster.remove()
        shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, db: str | None) -> int:
    """Fill, look up, print; 0 when every directory id was found."""
    rng = random.Random(0)
    with tempfile.TemporaryDirectory() as tmp:
        url = db or f"sqlite:///{Path(tmp) / 'coalition.db'}"
        engine = connect(url)
        migrate(engine)
        directory = Directory(engine)
        try:
            started = time.perf_counter()
            ids = fill(directory, args.entries, rng)
            filled = time.perf_counter() - started
            half = args.followings // 2
            wanted = rng.sample(ids, half) + [str(i) for i in range(1, args.followings - half + 1)]
            rng.shuffle(wanted)
            tracemalloc.start()
            started = time.perf_counter()
            found = 0
            for start in range(0, len(wanted), MAX_LOOKUP):
                found += len(directory.lookup(wanted[start : start + MAX_LOOKUP]))
            looked = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            with engine.begin() as conn:
                conn.execute(delete(directory_entries))
            engine.dispose()
    print(
        f"store: {engine.dialect.name}; directory of {args.entries:,} pairs filled in {filled:.1f}s"
    )
    print(
        f"lookup of {len(wanted):,} followings: {looked:.2f}s "
        f"({looked / (len(wanted) / MAX_LOOKUP) * 1000:.1f} ms per {MAX_LOOKUP:,} ids), "
        f"{found:,} found, peak Python memory {peak / 2**20:.1f} MiB"
    )
    return 0 if found == half else 1


if __name__ == "__main__":
    sys.exit(main())
