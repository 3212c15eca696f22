"""Rate limits that hold across server processes: counted in the store, not in memory.

Behind a load balancer each ``coalition serve`` process sees only its share of a client's
requests, so an in-memory limit of 60 a minute becomes 60 times the number of processes. The
limits that protect people — directory lookups and exports (scraping the X id → Bluesky
pairs), failed sign-ins (guessing keys and app passwords) — are therefore counted in the
store (:mod:`departures.coalition.store.processes`): a fixed window per limit and key, one
atomic increment per event. The in-memory limiters stay in front as the fast path: a client
one process already refuses costs no database write. A fixed window lets a client burst up to
twice the limit across a window's edge; it never lets one through more than that, whatever
the number of processes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from departures.coalition.store import processes, utc_now

__all__ = ["StoredLimit"]


@dataclass(frozen=True)
class StoredLimit:
    """At most ``limit`` events per key in each ``window``, counted in the store."""

    engine: Engine
    bucket: str
    limit: int
    window: timedelta
    clock: Callable[[], datetime] = field(default=utc_now, compare=False)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError("a stored limit needs a limit of at least 1 and a positive window")

    def _left(self, now: datetime) -> float:
        seconds = self.window.total_seconds()
        return seconds - now.timestamp() % seconds

    def take(self, key: str) -> float:
        """Count one event for ``key``: 0.0 when it may go, else the seconds to wait."""
        now = self.clock()
        if processes.hit(self.engine, self.bucket, key, now, self.window) <= self.limit:
            return 0.0
        return self._left(now)

    def hit(self, key: str) -> None:
        """Count one event for ``key`` (a failed sign-in), whatever the count."""
        processes.hit(self.engine, self.bucket, key, self.clock(), self.window)

    def over(self, key: str) -> bool:
        """Whether ``key`` has reached the limit in this window (nothing counted)."""
        now = self.clock()
        return processes.count(self.engine, self.bucket, key, now, self.window) >= self.limit
