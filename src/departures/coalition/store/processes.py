"""Several server processes on one store: who runs the scheduler pass, and stored rate counts.

``coalition serve`` may run as several processes behind a load balancer, sharing one
PostgreSQL. Two things must then be decided by the database, not by each process:

* **the scheduler pass** runs in one process at a time (:func:`scheduler_turn`). On
  PostgreSQL it is a session-level advisory lock (``pg_try_advisory_lock`` on a fixed key),
  taken on a connection of its own and held for the pass: a process that dies loses its
  connection and with it the lock, so nothing is left to clean up. On SQLite, where one file
  means one machine, a lease row does the same (:data:`~.schema.scheduler_leases`): it is
  taken by one atomic upsert (SQLite's write lock serialises it); a holder killed mid-pass
  leaves it behind, and the next process takes it over as soon as it sees that process gone
  (one file is one machine, so the holder's pid can be checked), or after ``lease`` at most.
* **rate limits** that must hold across processes (directory lookups and exports, failed
  sign-ins) are counted in :data:`~.schema.rate_counts` (:func:`hit`, :func:`count`): one row
  per limit, key and fixed window, incremented by one atomic upsert that returns the new
  count. Keys are stored as SHA-256 digests: the table names no address and no account.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from departures.coalition.store.schema import rate_counts, scheduler_leases

__all__ = ["SCHEDULER_LOCK_KEY", "count", "hit", "purge_counts", "scheduler_turn"]

# The advisory lock's key: fixed, so every process of every version asks for the same one
# ("departures" in ASCII, as a 64-bit integer, unlikely to collide with another application).
SCHEDULER_LOCK_KEY = int.from_bytes(b"departur", "big") & 0x7FFF_FFFF_FFFF_FFFF
SCHEDULER_LEASE = "scheduler"


@contextlib.contextmanager
def scheduler_turn(engine: Engine, now: datetime, lease: timedelta) -> Iterator[bool]:
    """Whether this process may run the scheduler pass now; held until the block ends.

    Yields False at once (never waits) when another process is running a pass.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            got = bool(
                conn.execute(select(func.pg_try_advisory_lock(SCHEDULER_LOCK_KEY))).scalar_one()
            )
            # Outside a transaction: the lock is the session's, not a transaction's, and an
            # idle-in-transaction connection would hold back vacuum for the whole pass.
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(select(func.pg_advisory_unlock(SCHEDULER_LOCK_KEY)))
                    conn.commit()
        return
    # Each turn is its own holder: two passes in one process exclude each other too.
    holder = f"{os.getpid()}-{uuid.uuid4().hex[:16]}"
    got = _take_lease(engine, holder, now, lease)
    try:
        yield got
    finally:
        if got:
            with engine.begin() as conn:
                conn.execute(
                    delete(scheduler_leases).where(
                        scheduler_leases.c.name == SCHEDULER_LEASE,
                        scheduler_leases.c.holder == holder,
                    )
                )


def _take_lease(engine: Engine, holder: str, now: datetime, lease: timedelta) -> bool:
    # One statement: the row is inserted, or taken over when its lease lapsed, or nothing
    # happens (RETURNING then yields no row). SQLite runs it under its write lock.
    insert = sqlite.insert(scheduler_leases).values(
        name=SCHEDULER_LEASE, holder=holder, expires_at=now + lease
    )
    statement = insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
        where=scheduler_leases.c.expires_at < now,
    ).returning(scheduler_leases.c.holder)
    with engine.begin() as conn:
        if conn.execute(statement).first() is not None:
            return True
        current = conn.execute(
            select(scheduler_leases.c.holder).where(scheduler_leases.c.name == SCHEDULER_LEASE)
        ).scalar()
        if current is None or _holder_alive(current):
            return False
        # One file is one machine: a holder whose process is gone (killed mid-pass) cannot
        # finish, so its lease is taken over now rather than when it lapses.
        taken = conn.execute(
            update(scheduler_leases)
            .where(scheduler_leases.c.name == SCHEDULER_LEASE, scheduler_leases.c.holder == current)
            .values(holder=holder, expires_at=now + lease)
        )
        return taken.rowcount == 1


def _holder_alive(holder: str) -> bool:
    """Whether the process named in a lease holder ("<pid>-<random>") still runs here."""
    try:
        pid = int(holder.split("-", 1)[0])
    except ValueError:
        return True  # not ours to judge: wait for the lease to lapse
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    # A killed process not yet reaped by its parent still answers signal 0.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _window_start(now: datetime, window: timedelta) -> datetime:
    seconds = window.total_seconds()
    epoch = now.timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=now.tzinfo)


def hit(engine: Engine, bucket: str, key: str, now: datetime, window: timedelta) -> int:
    """Count one event for ``key`` under the limit ``bucket``; the window's count with it."""
    values = {
        "bucket": bucket,
        "key_hash": _digest(key),
        "window_start": _window_start(now, window),
        "count": 1,
    }
    dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(rate_counts)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["bucket", "key_hash", "window_start"],
            set_={"count": rate_counts.c.count + 1},
        )
        .returning(rate_counts.c.count)
    )
    with engine.begin() as conn:
        return int(conn.execute(statement).scalar_one())


def count(engine: Engine, bucket: str, key: str, now: datetime, window: timedelta) -> int:
    """How many events ``key`` has had under ``bucket`` in the current window."""
    with engine.connect() as conn:
        found = conn.execute(
            select(rate_counts.c.count).where(
                rate_counts.c.bucket == bucket,
                rate_counts.c.key_hash == _digest(key),
                rate_counts.c.window_start == _window_start(now, window),
            )
        ).scalar()
    return int(found or 0)


def purge_counts(engine: Engine, before: datetime) -> int:
    """Delete the counts of windows that started before ``before``; how many went."""
    with engine.begin() as conn:
        gone = conn.execute(delete(rate_counts).where(rate_counts.c.window_start < before))
    return int(gone.rowcount or 0)
