"""The repo-write budget of a Bluesky account: how much may be written, and when.

A PDS charges every repo write points (bsky.social and the reference PDS: create 3,
update 2, delete 1, each write inside ``applyWrites`` counted) against an hourly and a
daily window (5,000 and 35,000 points). Going over gets a 429, and bursts of thousands of
writes are what gets accounts labelled as spam. :class:`WriteBudget` decides how many
writes may go now and how long to wait otherwise:

* its own ledger of what this account wrote, counted in sliding windows — stricter than
  the server's fixed windows whatever their alignment, so it is safe with no headers at
  all (a PDS with rate limits off sends none);
* the server's ``RateLimit-*`` headers, which win while they are current: the server
  knows about writes this process never saw (another app, a crashed run) and when its
  window really resets;
* a safety margin kept in reserve in every window, and an optional gentle pace (writes
  per hour, spread evenly) for accounts that want to look nothing like a spam burst;
* after a 429, nothing until the server's reset.

The clock is injected (epoch seconds), so the arithmetic is tested with a fake one. The
state round-trips through :meth:`WriteBudget.to_dict` so a resumed run keeps its
accounting. The budget never sleeps: callers wait the seconds it returns.

Typical use by a writer::

    wait = budget.reserve(n_creates=len(batch))      # 0.0 when the batch may go now
    ...sleep(wait), then send the batch...
    budget.commit(n_creates=len(batch), headers=response_headers)   # on success
    wait = budget.on_429(headers, n_creates=len(batch))             # on a 429
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["BudgetConfig", "WriteBudget", "WriteKind", "points_for"]

HOUR = 3600.0
DAY = 86400.0
#: ``com.atproto.repo.applyWrites`` refuses more writes than this in one call.
MAX_BATCH = 200


class WriteKind(StrEnum):
    """A kind of repo write, as the PDS prices it."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


POINTS: Mapping[WriteKind, int] = {WriteKind.CREATE: 3, WriteKind.UPDATE: 2, WriteKind.DELETE: 1}


def points_for(n_creates: int = 0, n_updates: int = 0, n_deletes: int = 0) -> int:
    """The points a set of writes costs."""
    if min(n_creates, n_updates, n_deletes) < 0:
        raise ValueError("write counts cannot be negative")
    return (
        n_creates * POINTS[WriteKind.CREATE]
        + n_updates * POINTS[WriteKind.UPDATE]
        + n_deletes * POINTS[WriteKind.DELETE]
    )


@dataclass(frozen=True)
class BudgetConfig:
    """What the budget allows itself.

    ``windows`` maps window length in seconds to its points; ``safety_margin`` is the
    fraction of each window kept unused; ``max_writes_per_hour`` (if set) spreads writes
    evenly at that rate; ``clock_skew`` seconds are added to every server reset time, as
    the server's clock and ours are never quite the same.
    """

    windows: Mapping[float, int] = field(default_factory=lambda: {HOUR: 5000, DAY: 35000})
    safety_margin: float = 0.02
    max_writes_per_hour: int | None = None
    max_batch: int = MAX_BATCH
    clock_skew: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.safety_margin < 1:
            raise ValueError("safety_margin must be a fraction between 0 and 1")
        if self.max_writes_per_hour is not None and self.max_writes_per_hour < 1:
            raise ValueError("max_writes_per_hour must be at least 1")
        if not 1 <= self.max_batch <= MAX_BATCH:
            raise ValueError(f"max_batch must be between 1 and {MAX_BATCH}")
        if not self.windows or any(s <= 0 or p <= 0 for s, p in self.windows.items()):
            raise ValueError("every window needs a positive length and points")

    def reserved(self, limit: int) -> int:
        """Points of a window of ``limit`` points kept in reserve."""
        return math.ceil(limit * self.safety_margin)


@dataclass
class _ServerView:
    """What the server last said about one window."""

    limit: int
    remaining: int
    reset: float  # epoch seconds, skew included
    observed_at: float


@dataclass
class _Window:
    seconds: float
    limit: int
    ledger: list[tuple[float, int]] = field(default_factory=list)  # (time, points), sorted
    server: _ServerView | None = None


class WriteBudget:
    """The write budget of one account; see the module docstring."""

    def __init__(
        self, config: BudgetConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config or BudgetConfig()
        self._clock = clock
        self._windows: dict[float, _Window] = {
            float(s): _Window(float(s), int(p)) for s, p in self.config.windows.items()
        }
        self._blocked_until = 0.0
        self._pace_next = 0.0  # the gentle pace lets the next write go at this time
        # Send one write alone first (at the start, after a 429, and whenever the server's
        # last word has expired): the response's headers show the fullest server window,
        # including writes this budget never saw, so a full batch is not refused by a
        # window the last headers did not name. Only when the server sends headers at all.
        self._probe = True
        self._server_speaks = False

    # --- questions -----------------------------------------------------------------------

    def reserve(
        self,
        n_creates: int = 0,
        n_updates: int = 0,
        n_deletes: int = 0,
        *,
        now: float | None = None,
    ) -> float:
        """Seconds to wait before these writes may go (0.0: now). Nothing is recorded.

        Raises ``ValueError`` for a batch that no window could ever hold.
        """
        now = self._now(now)
        points = points_for(n_creates, n_updates, n_deletes)
        writes = n_creates + n_updates + n_deletes
        if writes > self.config.max_batch:
            raise ValueError(f"a batch holds at most {self.config.max_batch} writes")
        for window in self._windows.values():
            if points > window.limit - self.config.reserved(window.limit):
                raise ValueError(f"{points} points never fit a window of {window.limit} points")
        at = max(now, self._blocked_until)
        if writes and self.config.max_writes_per_hour:
            at = max(at, self._pace_next)
        for window in self._windows.values():
            at = max(at, self._window_ready_at(window, points, at))
        return at - now

    def how_many_now(
        self, kind: WriteKind | str = WriteKind.CREATE, *, now: float | None = None
    ) -> int:
        """How many writes of ``kind`` may go in one batch right now (0: wait).

        Size batches with this: it is 1 for a probe write (at the start, after a 429, and
        when the server's last ``RateLimit-*`` headers have expired).
        """
        now = self._now(now)
        if now < self._blocked_until:
            return 0
        cap = 1 if self._needs_probe(now) else self.config.max_batch
        rate = self.config.max_writes_per_hour
        if rate:
            if now < self._pace_next:
                return 0
            # A minute's worth at a time, so the writes spread over the hour.
            cap = min(cap, max(1, rate // 60))
        points = min(self._available(window, now) for window in self._windows.values())
        return max(0, min(cap, points // POINTS[WriteKind(kind)]))

    def estimate_seconds(
        self,
        n_creates: int = 0,
        n_updates: int = 0,
        n_deletes: int = 0,
        *,
        now: float | None = None,
    ) -> float:
        """Seconds this budget needs for the given writes from now, if nothing else writes.

        For the preview's ETA: it replays the budget on a copy, batch after batch.
        """
        now = self._now(now)
        sim = WriteBudget.from_dict(self.to_dict(), self.config, clock=lambda: now)
        # The replay gets no headers: assume the server agrees with the ledger, no probes.
        sim._probe = sim._server_speaks = False
        t = now
        left = {
            WriteKind.CREATE: n_creates,
            WriteKind.UPDATE: n_updates,
            WriteKind.DELETE: n_deletes,
        }
        for kind, count in left.items():
            while count > 0:
                n = sim.how_many_now(kind, now=t)
                if n == 0:
                    t += max(sim.reserve(*_counts(kind, 1), now=t), 1e-3)
                    continue
                n = min(n, count)
                sim.commit(*_counts(kind, n), now=t)
                count -= n
        return t - now

    # --- what happened -------------------------------------------------------------------

    def commit(
        self,
        n_creates: int = 0,
        n_updates: int = 0,
        n_deletes: int = 0,
        *,
        headers: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> None:
        """Record writes the server accepted, and its headers if the response had any.

        Call it when the response arrives: dating the points no earlier than the server
        counted them keeps the sliding windows on the safe side.
        """
        now = self._now(now)
        points = points_for(n_creates, n_updates, n_deletes)
        self._charge(points, now)
        writes = n_creates + n_updates + n_deletes
        rate = self.config.max_writes_per_hour
        if rate and writes:
            self._pace_next = max(self._pace_next, now) + writes * HOUR / rate
        if writes:
            self._probe = False
        if headers:
            self.observe_headers(headers, now=now)

    def observe_headers(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Take in a response's ``RateLimit-*`` headers; the server's numbers win.

        A PDS reports the one window closest to its limit (``RateLimit-Policy:
        5000;w=3600``); without a policy the window is guessed from the limit.
        """
        now = self._now(now)
        parsed = _parse_headers(headers, now)
        if parsed is None:
            return
        seconds, limit, remaining, reset = parsed
        window = self._window_for(seconds, limit)
        window.limit = limit
        window.server = _ServerView(limit, remaining, reset + self.config.clock_skew, now)
        self._server_speaks = True

    def on_429(
        self,
        headers: Mapping[str, str] | None,
        now: float | None = None,
        *,
        n_creates: int = 0,
        n_updates: int = 0,
        n_deletes: int = 0,
    ) -> float:
        """Record a refusal (429) and return the seconds to wait before writing again.

        The refused writes' points are charged too: the reference PDS counts a refused
        request against every window (which is why its remaining reads 0 afterwards).
        Without usable headers it waits ``Retry-After``, else a cautious five minutes.
        """
        now = self._now(now)
        headers = headers or {}
        self._charge(points_for(n_creates, n_updates, n_deletes), now)
        lower = {k.lower(): v for k, v in headers.items()}
        until = now + 300.0
        parsed = _parse_headers(headers, now)
        if parsed is not None:
            seconds, limit, _remaining, reset = parsed
            window = self._window_for(seconds, limit)
            window.limit = limit
            until = reset + self.config.clock_skew
            # Whatever it said, the server refused: nothing is left until its reset.
            window.server = _ServerView(limit, 0, until, now)
            self._server_speaks = True
        retry_after = _number(lower.get("retry-after"))
        if retry_after is not None:
            until = max(until, now + retry_after) if parsed is not None else now + retry_after
        self._blocked_until = max(self._blocked_until, until)
        self._probe = True
        return max(0.0, self._blocked_until - now)

    # --- persistence ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The accounting state as plain JSON-able data (configuration not included)."""
        return {
            "version": 1,
            "blocked_until": self._blocked_until,
            "pace_next": self._pace_next,
            "probe": self._probe,
            "server_speaks": self._server_speaks,
            "windows": [
                {
                    "seconds": w.seconds,
                    "limit": w.limit,
                    "ledger": [[t, p] for t, p in w.ledger],
                    "server": None
                    if w.server is None
                    else {
                        "limit": w.server.limit,
                        "remaining": w.server.remaining,
                        "reset": w.server.reset,
                        "observed_at": w.server.observed_at,
                    },
                }
                for w in self._windows.values()
            ],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        config: BudgetConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> WriteBudget:
        """A budget with the state saved by :meth:`to_dict` (and today's configuration)."""
        budget = cls(config, clock=clock)
        budget._blocked_until = float(data.get("blocked_until", 0.0))
        budget._pace_next = float(data.get("pace_next", 0.0))
        budget._probe = bool(data.get("probe", True))
        budget._server_speaks = bool(data.get("server_speaks", False))
        for saved in data.get("windows", ()):
            window = budget._window_for(float(saved["seconds"]), int(saved["limit"]))
            window.ledger = sorted((float(t), int(p)) for t, p in saved.get("ledger", ()))
            server = saved.get("server")
            if server is not None:
                window.server = _ServerView(
                    int(server["limit"]),
                    int(server["remaining"]),
                    float(server["reset"]),
                    float(server["observed_at"]),
                )
        return budget

    # --- arithmetic ----------------------------------------------------------------------

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else float(now)

    def _needs_probe(self, now: float) -> bool:
        if self._probe:
            return True
        return self._server_speaks and not any(
            self._live_server(window, now) for window in self._windows.values()
        )

    def _window_for(self, seconds: float, limit: int) -> _Window:
        if seconds not in self._windows:
            self._windows[seconds] = _Window(seconds, limit)
        return self._windows[seconds]

    def _charge(self, points: int, now: float) -> None:
        if points <= 0:
            return
        for window in self._windows.values():
            window.ledger.append((now, points))
            if len(window.ledger) > 1 and window.ledger[-2][0] > now:
                window.ledger.sort()
            horizon = now - window.seconds
            if window.ledger[0][0] <= horizon:
                window.ledger = [e for e in window.ledger if e[0] > horizon]

    def _live_server(self, window: _Window, at: float) -> _ServerView | None:
        server = window.server
        return server if server is not None and at < server.reset else None

    def _ledger_since(self, window: _Window, at: float) -> list[tuple[float, int]]:
        """Ledger entries still counted at ``at``.

        Entries before a server reset that has passed are dropped: that window's points
        were forgiven by the server (its windows are fixed, not sliding).
        """
        floor = at - window.seconds
        server = window.server
        if server is not None and at >= server.reset:
            floor = max(floor, server.reset - 2 * self.config.clock_skew)
        return [e for e in window.ledger if e[0] > floor]

    def _available(self, window: _Window, at: float) -> int:
        reserved = self.config.reserved(window.limit)
        server = self._live_server(window, at)
        if server is not None:
            spent = sum(p for t, p in window.ledger if t > server.observed_at)
            return server.remaining - spent - reserved
        used = sum(p for _t, p in self._ledger_since(window, at))
        return window.limit - reserved - used

    def _window_ready_at(self, window: _Window, points: int, at: float) -> float:
        """The earliest time from ``at`` on when ``points`` fit this window."""
        server = self._live_server(window, at)
        if server is not None:
            if self._available(window, at) >= points:
                return at
            at = server.reset  # the server forgives its window then; the ledger still counts
        entries = self._ledger_since(window, at)
        allowed = window.limit - self.config.reserved(window.limit) - points
        used = sum(p for _t, p in entries)
        for t, p in entries:  # oldest first: wait until enough of them slide out
            if used <= allowed:
                break
            used -= p
            at = max(at, t + window.seconds)
        return at


def _counts(kind: WriteKind, n: int) -> tuple[int, int, int]:
    """``n`` writes of ``kind`` as (creates, updates, deletes)."""
    return (
        n if kind is WriteKind.CREATE else 0,
        n if kind is WriteKind.UPDATE else 0,
        n if kind is WriteKind.DELETE else 0,
    )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _parse_headers(headers: Mapping[str, str], now: float) -> tuple[float, int, int, float] | None:
    """(window seconds, limit, remaining, reset epoch) from ``RateLimit-*`` headers."""
    lower = {k.lower(): v for k, v in headers.items()}
    limit = _number(lower.get("ratelimit-limit"))
    remaining = _number(lower.get("ratelimit-remaining"))
    reset = _number(lower.get("ratelimit-reset"))
    if limit is None or remaining is None or reset is None or limit <= 0:
        return None
    # The IETF draft sends seconds until reset, the PDS an epoch time: tell them apart.
    if reset < 1e9:
        reset = now + reset
    seconds = None
    for part in lower.get("ratelimit-policy", "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key == "w":
            seconds = _number(value)
    if seconds is None or seconds <= 0:
        seconds = DAY if limit > 5000 else HOUR
    return seconds, int(limit), int(remaining), reset
