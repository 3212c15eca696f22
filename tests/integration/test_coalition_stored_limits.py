"""What several server processes share through the store, on SQLite and on PostgreSQL: the
rate counts (directory lookups and exports, failed sign-ins) and the scheduler's turn.

Two ``CoalitionApp``s (or two throttles) on one store stand for two processes: each has its
own in-memory limiter, only the store is common.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, insert, select

from departures.coalition.directory import ApiLimits, Directory
from departures.coalition.errors import TooMany
from departures.coalition.limits import StoredLimit
from departures.coalition.store import CoalitionStore, processes, utc_now
from departures.coalition.store.schema import rate_counts, scheduler_leases
from departures.coalition.web import CoalitionApp
from departures.coalition.web.throttle import SignInThrottle
from helpers.clock import START, Clock
from helpers.stores import ON_BOTH_STORES
from helpers.web import coalition_app

pytestmark = ON_BOTH_STORES

DID = "did:plc:" + "b" * 24


def serve(store: CoalitionStore, limits: ApiLimits) -> CoalitionApp:
    """One server process's app on ``store``, with its own in-memory limiters."""
    return coalition_app(store, base_url="http://testserver", directory_limits=limits)


def get_all(app: CoalitionApp, paths: list[str], client: str = "1.2.3.4") -> list[httpx.Response]:
    """GET each path in turn from one client address, in-process."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(client, 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return [await http.get(path) for path in paths]

    return asyncio.run(go())


def clear_of_window_edge(window: timedelta, margin: float = 5.0) -> None:
    """Wait out the last seconds of a real-time window, so a short test stays in one."""
    seconds = window.total_seconds()
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.1)


def test_a_stored_limit_counts_each_key_per_window_whoever_counts(engine: Engine) -> None:
    clock = Clock()
    window = timedelta(minutes=1)
    one, other = (StoredLimit(engine, "lookup", 3, window, clock) for _ in range(2))
    clock.now = START.replace(second=0, microsecond=0) + timedelta(seconds=15)
    assert [one.take("1.2.3.4"), other.take("1.2.3.4"), one.take("1.2.3.4")] == [0.0] * 3
    assert other.take("1.2.3.4") == pytest.approx(45.0)  # until the window's end
    assert one.over("1.2.3.4") and not one.over("5.6.7.8")
    assert other.take("5.6.7.8") == 0.0
    clock.now += window  # a new window: counted from zero
    assert one.take("1.2.3.4") == 0.0
    # The table names no address: only digests.
    with engine.connect() as conn:
        keys = set(conn.execute(select(rate_counts.c.key_hash)).scalars())
    assert keys and not any("1.2.3.4" in key or "5.6.7.8" in key for key in keys)
    # The scheduler's purge drops past windows only.
    assert processes.purge_counts(engine, clock.now.replace(second=0)) == 2
    assert one.over("1.2.3.4") is False and one.take("1.2.3.4") == 0.0


def test_directory_exports_are_limited_across_two_processes(engine: Engine) -> None:
    Directory(engine).register("12345", "alice_org", DID, "alice.test")
    store = CoalitionStore(engine)
    limits = ApiLimits(lookups_per_minute=60, exports_per_hour=3)
    first, second = serve(store, limits), serve(store, limits)
    clear_of_window_edge(timedelta(hours=1))
    path = "/directory/export.json"
    # Each process alone would allow three; together they allow three.
    assert [r.status_code for r in get_all(first, [path, path])] == [200, 200]
    answers = get_all(second, [path, path])
    assert [r.status_code for r in answers] == [200, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert get_all(first, [path])[0].status_code == 429
    assert get_all(first, [path], client="5.6.7.8")[0].status_code == 200


def test_directory_lookups_are_limited_across_two_processes(engine: Engine) -> None:
    Directory(engine).register("12345", "alice_org", DID, "alice.test")
    store = CoalitionStore(engine)
    limits = ApiLimits(lookups_per_minute=2, exports_per_hour=10)
    first, second = serve(store, limits), serve(store, limits)
    clear_of_window_edge(timedelta(minutes=1))
    path = "/directory/lookup?x_ids=12345"
    assert get_all(first, [path])[0].status_code == 200
    assert get_all(second, [path])[0].status_code == 200
    assert get_all(first, [path])[0].status_code == 429


def test_failed_sign_ins_count_across_two_processes(engine: Engine) -> None:
    one, other = (SignInThrottle(per_address=3, per_account=2, engine=engine) for _ in range(2))
    clear_of_window_edge(timedelta(minutes=15))
    one.failed("1.2.3.4", "Alice.test")
    other.failed("5.6.7.8", "alice.test")
    # Two failures for the account, one in each process: both refuse it now, whoever asks.
    for throttle in (one, other):
        with pytest.raises(TooMany, match="for this account"):
            throttle.check("9.9.9.9", "alice.test")
    one.failed("1.2.3.4")
    other.failed("1.2.3.4")
    with pytest.raises(TooMany, match="from your address"):
        other.check("1.2.3.4")
    other.check("5.6.7.8")  # two failures of three: still allowed
    SignInThrottle(per_address=3, per_account=2).check("1.2.3.4")  # in memory only: no view


def test_one_scheduler_turn_at_a_time(engine: Engine) -> None:
    now = utc_now()
    with processes.scheduler_turn(engine, now, timedelta(minutes=1)) as first:
        assert first
        with processes.scheduler_turn(engine, now, timedelta(minutes=1)) as second:
            assert not second
    with processes.scheduler_turn(engine, now, timedelta(minutes=1)) as again:
        assert again


def test_a_killed_holders_sqlite_lease_lapses(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's lock goes with the holder's connection (see the process test)")
    now = utc_now()
    killed = processes.scheduler_turn(engine, now, timedelta(minutes=1))
    assert killed.__enter__()  # and never left: the holder was killed mid-pass
    with processes.scheduler_turn(engine, now + timedelta(seconds=30), timedelta(minutes=1)) as t:
        assert not t
    with processes.scheduler_turn(engine, now + timedelta(minutes=2), timedelta(minutes=1)) as t:
        assert t


def test_a_sqlite_lease_of_a_process_that_is_gone_is_taken_over_at_once(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's lock goes with the holder's connection (see the process test)")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    assert dead.wait() == 0  # gone and reaped
    now = utc_now()
    with engine.begin() as conn:
        conn.execute(
            insert(scheduler_leases).values(
                name="scheduler", holder=f"{dead.pid}-killed", expires_at=now + timedelta(hours=1)
            )
        )
    with processes.scheduler_turn(engine, now, timedelta(minutes=1)) as mine:
        assert mine
    # A live holder (this process) is waited for.
    with engine.begin() as conn:
        conn.execute(
            insert(scheduler_leases).values(
                name="scheduler", holder=f"{os.getpid()}-alive", expires_at=now + timedelta(hours=1)
            )
        )
    with processes.scheduler_turn(engine, now, timedelta(minutes=1)) as mine:
        assert not mine
