"""Bench: a 30,000-post plan through the write budget against a simulated PDS.

The simulated server limits repo writes like the reference PDS (``rate-limiter-flexible``
behind ``@atproto/xrpc-server``): fixed windows of 5,000 points an hour and 35,000 a day
per account, each window starting with the first write after the previous one expired; a
refused request still counts its points (so remaining reads 0 after a refusal); every
response carries ``RateLimit-*`` headers of the window closest to its limit. Time is
virtual: nothing sleeps, the whole run takes well under a second.

Figures (issue 4): total virtual time within 5% of the theoretical minimum the budget's
own limits allow, and zero refused writes after the first 429. Exit status 1 if not.

    .venv/bin/python bench/bench_budget.py
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass

from departures.bluesky.budget import DAY, HOUR, BudgetConfig, WriteBudget, WriteKind

POSTS = 30_000
BATCH = 200
EPOCH = 1_800_000_000.0  # virtual clock start, an epoch time like the server's
LATENCY = 0.5  # seconds per applyWrites round trip (measured ~0.15 s on the sandbox)
MAX_RATIO = 1.05


@dataclass
class FixedWindow:
    """One ``rate-limiter-flexible`` window: starts at first use, counts even refusals."""

    points: int
    seconds: float
    started: float = -math.inf
    consumed: int = 0

    def consume(self, points: int, now: float) -> bool:
        if now >= self.started + self.seconds:
            self.started, self.consumed = now, 0
        self.consumed += points
        return self.consumed <= self.points

    def remaining(self) -> int:
        return max(0, self.points - self.consumed)

    def reset(self) -> float:
        return self.started + self.seconds


class SimulatedPds:
    """The repo-write rate limits of a PDS, nothing else."""

    def __init__(self) -> None:
        self.windows = [FixedWindow(5000, HOUR), FixedWindow(35000, DAY)]
        self.accepted_posts = 0
        self.refused_calls = 0

    def apply_writes(self, n_creates: int, now: float) -> tuple[int, dict[str, str]]:
        if n_creates > BATCH:
            return 400, {}
        points = 3 * n_creates
        refused = [w for w in self.windows if not w.consume(points, now)]  # all count
        # Like xrpc-server's getTightestLimit: the first refusing window, else the lowest.
        tightest = refused[0] if refused else min(self.windows, key=FixedWindow.remaining)
        ok = not refused
        headers = {
            "RateLimit-Limit": str(tightest.points),
            "RateLimit-Remaining": str(tightest.remaining()),
            "RateLimit-Reset": str(math.floor(tightest.reset())),  # as the PDS rounds
            "RateLimit-Policy": f"{tightest.points};w={int(tightest.seconds)}",
        }
        if not ok:
            self.refused_calls += 1
            return 429, headers
        self.accepted_posts += n_creates
        return 200, headers


@dataclass
class Result:
    seconds: float
    calls: int
    refusals: int
    refused_after_first: int


def run(
    budget: WriteBudget,
    server: SimulatedPds,
    posts: int,
    start: float,
    *,
    stop_after: int | None = None,
) -> tuple[Result, float]:
    """The publisher's loop: ask the budget, wait, send a batch, report the response."""
    now = start
    left = posts
    calls = refusals = refused_after_first = 0
    sent = 0
    while left > 0 and (stop_after is None or sent < stop_after):
        n = min(budget.how_many_now(WriteKind.CREATE, now=now), left)
        if n == 0:
            now += max(budget.reserve(min(left, BATCH), now=now), 0.001)
            continue
        calls += 1
        # The server counts the batch halfway through the round trip.
        status, headers = server.apply_writes(n, now + LATENCY / 2)
        now += LATENCY
        if status == 429:
            refusals += 1
            if refusals > 1:
                refused_after_first += n
            now += budget.on_429(headers, now=now, n_creates=n)
            continue
        budget.commit(n_creates=n, headers=headers, now=now)
        left -= n
        sent += n
    return Result(now - start, calls, refusals, refused_after_first), now


def theoretical_minimum(posts: int, hour_points: int, day_points: int) -> float:
    """Fastest possible finish for fixed windows of these sizes, with instant writes.

    Greedy is optimal here: writing as much as allowed as early as allowed also starts
    the next windows as early as possible.
    """
    hour, day = FixedWindow(hour_points, HOUR), FixedWindow(day_points, DAY)
    now = 0.0
    left = posts
    while True:
        for w in (hour, day):
            if now >= w.started + w.seconds:
                w.started, w.consumed = now, 0
        n = min(left, (hour.points - hour.consumed) // 3, (day.points - day.consumed) // 3)
        hour.consumed += 3 * n
        day.consumed += 3 * n
        left -= n
        if left == 0:
            return now
        now = min(w.reset() for w in (hour, day) if w.points - w.consumed < 3)


def effective(config: BudgetConfig, seconds: float) -> int:
    limit = config.windows[seconds]
    return limit - config.reserved(limit)


def main() -> int:
    wall = time.perf_counter()
    config = BudgetConfig()
    minimum = theoretical_minimum(POSTS, effective(config, HOUR), effective(config, DAY))
    bare = theoretical_minimum(POSTS, 5000, 35000)
    ok = True

    # A: a fresh account, the default budget.
    server = SimulatedPds()
    result, _ = run(WriteBudget(config), server, POSTS, EPOCH)
    ratio = result.seconds / minimum
    ok &= ratio <= MAX_RATIO and result.refused_after_first == 0
    ok &= server.accepted_posts == POSTS
    print(f"plan: {POSTS} posts in applyWrites batches of up to {BATCH}, {LATENCY} s per call")
    print(
        f"A fresh account: {result.seconds / 3600:.2f} h virtual, theoretical minimum "
        f"{minimum / 3600:.2f} h with the budget's {config.safety_margin:.0%} margin "
        f"({bare / 3600:.2f} h with none): ratio {ratio:.4f} (<= {MAX_RATIO}); "
        f"{result.calls} calls, 429s {result.refusals}, refused after first 429: "
        f"{result.refused_after_first}"
    )

    # B: another app already spent most of this hour and much of today, unknown to us.
    server = SimulatedPds()
    server.apply_writes(0, EPOCH - 600)
    server.windows[0].consumed, server.windows[1].consumed = 4_800, 20_000
    result, _ = run(WriteBudget(config), server, POSTS, EPOCH)
    ok &= result.refused_after_first == 0 and server.accepted_posts == POSTS
    print(
        f"B unknown earlier usage (4,800 pts this hour, 20,000 today): "
        f"{result.seconds / 3600:.2f} h, 429s {result.refusals}, refused writes after "
        f"first 429: {result.refused_after_first}"
    )

    # C: stopped after 10,000 posts, state saved, resumed 10 minutes later.
    server = SimulatedPds()
    before = WriteBudget(config)
    first, stopped = run(before, server, POSTS, EPOCH, stop_after=10_000)
    resumed = WriteBudget.from_dict(json.loads(json.dumps(before.to_dict())), config)
    second, _ = run(resumed, server, POSTS - server.accepted_posts, stopped + 600)
    refusals = first.refusals + second.refusals
    ok &= refusals == 0 and server.accepted_posts == POSTS
    print(
        f"C stop after 10,000, resume 10 min later from saved state: 429s {refusals}, "
        f"posts {server.accepted_posts}"
    )

    # D: the gentle pace (600 writes an hour, spread evenly).
    gentle = BudgetConfig(max_writes_per_hour=600)
    server = SimulatedPds()
    result, _ = run(WriteBudget(gentle), server, 3_000, EPOCH)
    ok &= result.refusals == 0 and result.seconds <= 3_000 / 600 * HOUR * MAX_RATIO
    print(
        f"D gentle pace 600/h, 3,000 posts: {result.seconds / 3600:.2f} h "
        f"(paced minimum {3_000 / 600:.2f} h), {result.calls} calls, 429s {result.refusals}"
    )
    print(f"wall time {time.perf_counter() - wall:.2f} s; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
