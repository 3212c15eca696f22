"""The write budget: windows never exceeded, margin kept, server headers and 429s obeyed."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from departures.bluesky.budget import (
    DAY,
    HOUR,
    BudgetConfig,
    WriteBudget,
    WriteKind,
    points_for,
)
from helpers.clock import SecondsClock

T0 = 1_800_000_000.0


def headers(limit: int, remaining: int, reset: float, window: int = 3600) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(int(reset)),
        "RateLimit-Policy": f"{limit};w={window}",
    }


def test_writes_are_priced_like_the_pds() -> None:
    assert points_for(n_creates=1) == 3
    assert points_for(n_updates=1) == 2
    assert points_for(n_deletes=1) == 1
    assert points_for(200, 1, 1) == 603
    with pytest.raises(ValueError):
        points_for(-1)


def probed(budget: WriteBudget) -> WriteBudget:
    """The budget after its first, lone write (to a server without rate-limit headers)."""
    assert budget.how_many_now(WriteKind.DELETE) == 1
    budget.commit(n_deletes=1)
    return budget


def test_a_fresh_budget_probes_with_one_write_then_allows_full_batches() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(clock=clock)
    assert budget.how_many_now(WriteKind.CREATE) == 1
    assert budget.reserve(n_creates=200) == 0.0
    budget.commit(n_creates=1, headers=headers(5000, 4997, T0 + HOUR))
    assert budget.how_many_now(WriteKind.CREATE) == 200
    assert budget.how_many_now("delete") == 200


def test_without_rate_limit_headers_only_the_first_write_is_a_probe() -> None:
    clock = SecondsClock(T0)
    budget = probed(WriteBudget(clock=clock))
    for _ in range(5):
        assert budget.how_many_now(WriteKind.CREATE) == 200
        budget.commit(n_creates=200)


def test_when_the_servers_last_word_expires_the_next_write_probes_again() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(clock=clock)
    budget.commit(n_creates=1, headers=headers(5000, 4997, T0 + 600))
    assert budget.how_many_now(WriteKind.CREATE) == 200
    clock.now += 601
    assert budget.how_many_now(WriteKind.CREATE) == 1
    budget.commit(n_creates=1, headers=headers(35000, 1000, T0 + 5000, 86400))
    assert budget.how_many_now(WriteKind.CREATE) == (1000 - 700) // 3  # daily margin kept


def test_a_batch_larger_than_applywrites_takes_is_refused() -> None:
    with pytest.raises(ValueError, match="200"):
        WriteBudget(clock=SecondsClock(T0)).reserve(n_creates=201)


def test_the_hourly_window_and_its_margin_are_kept() -> None:
    clock = SecondsClock(T0)
    budget = probed(WriteBudget(BudgetConfig(safety_margin=0.1), clock=clock))
    written = 1
    while (n := budget.how_many_now(WriteKind.CREATE)) > 0:
        budget.commit(n_creates=n)
        written += 3 * n
    assert 4500 - 3 < written <= 4500  # 10% of 5,000 kept in reserve
    wait = budget.reserve(n_creates=1)
    assert wait == pytest.approx(HOUR)
    clock.now += wait
    assert budget.how_many_now(WriteKind.CREATE) == 200


def test_the_daily_window_stops_writing_until_the_first_points_expire() -> None:
    clock = SecondsClock(T0)
    budget = probed(WriteBudget(BudgetConfig(safety_margin=0.0), clock=clock))
    total = 1
    for _ in range(200):  # far more than a day's worth of attempts
        n = budget.how_many_now(WriteKind.CREATE)
        if n == 0:
            clock.now += budget.reserve(n_creates=1)
            if clock.now >= T0 + DAY:
                break
            continue
        budget.commit(n_creates=n)
        total += 3 * n
    assert 35_000 - 3 < total <= 35_000
    assert clock.now == pytest.approx(T0 + DAY)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(WriteKind)),
            st.integers(min_value=1, max_value=200),
            st.floats(min_value=0, max_value=400),
        ),
        min_size=40,
        max_size=150,
    ),
    st.sampled_from([0.0, 0.02, 0.1]),
)
def test_no_window_is_ever_exceeded_whatever_the_writer_does(
    steps: list[tuple[WriteKind, int, float]], margin: float
) -> None:
    """Any interval of an hour / a day holds at most the limit minus the margin."""
    clock = SecondsClock(T0)
    budget = WriteBudget(BudgetConfig(safety_margin=margin), clock=clock)
    log: list[tuple[float, int]] = []
    for kind, wanted, pause in steps:
        clock.now += pause
        n = min(wanted, budget.how_many_now(kind))
        if n == 0:
            clock.now += budget.reserve(**{f"n_{kind.value}s": 1})
            n = min(wanted, budget.how_many_now(kind))
            assert n > 0, "after waiting what reserve() said, a write must fit"
        counts = {f"n_{kind.value}s": n}
        assert budget.reserve(**counts) == 0.0
        budget.commit(**counts)
        log.append((clock.now, points_for(**counts)))
    for seconds, limit in ((HOUR, 5000), (DAY, 35000)):
        allowed = limit - int(limit * margin + 0.999999)
        for start, _ in log:
            in_window = sum(p for t, p in log if start <= t < start + seconds)
            assert in_window <= allowed


class FixedWindowServer:
    """Repo-write limits like the reference PDS: fixed windows from first use; a refused
    request still counts; headers name the window closest to its limit."""

    def __init__(self, hour_used: int, day_used: int, start: float) -> None:
        self.windows = [[5000, HOUR, start, hour_used], [35000, DAY, start, day_used]]

    def write(self, points: int, now: float) -> tuple[bool, dict[str, str]]:
        for w in self.windows:
            if now >= w[2] + w[1]:
                w[2], w[3] = now, 0
            w[3] += points
        refused = [w for w in self.windows if w[3] > w[0]]
        # xrpc-server reports the first refusing window, else the one with least left.
        limit, seconds, started, used = (
            refused[0] if refused else min(self.windows, key=lambda w: w[0] - w[3])
        )
        reset = math.floor(started + seconds)  # the PDS rounds its reset down
        return not refused, headers(int(limit), max(0, int(limit - used)), reset, int(seconds))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(WriteKind)),
            st.integers(min_value=1, max_value=200),
            st.floats(min_value=0, max_value=400),
        ),
        min_size=40,
        max_size=120,
    ),
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=0, max_value=35000),
    st.floats(min_value=0, max_value=3599),
)
def test_a_fixed_window_server_refuses_nothing_after_the_first_429(
    steps: list[tuple[WriteKind, int, float]], hour_used: int, day_used: int, age: float
) -> None:
    """Even with writes the budget never saw (another app), one 429 at most, then none."""
    clock = SecondsClock(T0)
    server = FixedWindowServer(hour_used, day_used, T0 - age)
    budget = WriteBudget(clock=clock)
    refusals = refused_later = 0
    for kind, wanted, pause in steps:
        clock.now += pause
        counts = {f"n_{kind.value}s": 1}
        while (n := min(wanted, budget.how_many_now(kind))) == 0:
            clock.now += budget.reserve(**counts)
        counts = {f"n_{kind.value}s": n}
        ok, answer = server.write(points_for(**counts), clock.now)
        clock.now += 0.2
        if ok:
            budget.commit(**counts, headers=answer)
        else:
            refusals += 1
            refused_later += n if refusals > 1 else 0
            budget.on_429(answer, **counts)
    # The budget's first write is a lone probe; so is its first write after a 429.
    assert refused_later == 0
    if hour_used == day_used == 0:
        assert refusals == 0


def test_server_headers_win_over_the_own_ledger_when_stricter() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(BudgetConfig(safety_margin=0.02), clock=clock)
    # Another app spent most of this hour: the server says 400 points are left.
    budget.commit(n_creates=10, headers=headers(5000, 400, T0 + 600))
    assert budget.how_many_now(WriteKind.CREATE) == (400 - 100) // 3
    assert budget.reserve(n_creates=200) == pytest.approx(600 + 1.0)  # reset + clock skew


def test_server_headers_win_over_the_own_ledger_when_more_generous() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(BudgetConfig(safety_margin=0.0), clock=clock)
    for _ in range(8):
        budget.commit(n_creates=200)  # 4,800 points: our ledger says the hour is nearly full
    assert budget.how_many_now(WriteKind.CREATE) == 66  # no headers yet: no probe needed
    clock.now += 1800
    # The server's fixed window began earlier than our ledger thinks and has just reset.
    budget.observe_headers(headers(5000, 4997, T0 + 1800 + HOUR), now=clock.now)
    assert budget.how_many_now(WriteKind.CREATE) == 200


def test_after_a_server_reset_passes_the_ledger_forgets_that_window() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(BudgetConfig(safety_margin=0.0), clock=clock)
    for _ in range(8):
        budget.commit(n_creates=200, headers=headers(5000, 5000 - 600 * (_ + 1), T0 + 1200))
    assert budget.how_many_now(WriteKind.CREATE) == 66
    clock.now = T0 + 1200 + 1.0  # the server's window reset (plus skew)
    assert budget.how_many_now(WriteKind.CREATE) == 1  # probe
    budget.commit(n_creates=1, headers=headers(35000, 30000, T0 + DAY, 86400))
    # 4,800 points in our ledger's last hour, but the server forgave them at its reset.
    assert budget.how_many_now(WriteKind.CREATE) == 200


def test_after_a_429_nothing_is_written_until_the_reset() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(clock=clock)
    # The reference PDS reads remaining 0 after a refusal, whatever was left.
    wait = budget.on_429(headers(5000, 0, T0 + 1234), n_creates=200)
    assert wait == pytest.approx(1235)
    assert budget.how_many_now(WriteKind.CREATE) == 0
    assert budget.reserve(n_creates=1) == pytest.approx(1235)
    clock.now += 1234
    assert budget.how_many_now(WriteKind.CREATE) == 0
    clock.now += 1
    assert budget.how_many_now(WriteKind.CREATE) == 1  # a probe first
    budget.commit(n_creates=1, headers=headers(5000, 4997, clock.now + HOUR))
    assert budget.how_many_now(WriteKind.CREATE) == 200


def test_a_429_without_ratelimit_headers_honours_retry_after_or_waits_five_minutes() -> None:
    clock = SecondsClock(T0)
    assert WriteBudget(clock=clock).on_429({"Retry-After": "42"}) == 42
    assert WriteBudget(clock=clock).on_429({}) == 300
    assert WriteBudget(clock=clock).on_429(None) == 300


def test_a_reset_given_as_seconds_from_now_is_understood() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(clock=clock)
    assert budget.on_429(headers(5000, 0, 90)) == pytest.approx(91)


def test_the_window_of_a_header_without_policy_is_guessed_from_its_limit() -> None:
    clock = SecondsClock(T0)
    budget = probed(WriteBudget(BudgetConfig(safety_margin=0.0), clock=clock))
    budget.observe_headers(
        {"RateLimit-Limit": "35000", "RateLimit-Remaining": "30", "RateLimit-Reset": str(T0 + 50)}
    )
    assert budget.how_many_now(WriteKind.CREATE) == 10
    assert budget.to_dict()["windows"][1]["server"]["remaining"] == 30  # the daily one


def test_a_gentle_pace_spreads_writes_over_the_hour() -> None:
    clock = SecondsClock(T0)
    budget = probed(WriteBudget(BudgetConfig(max_writes_per_hour=600), clock=clock))
    clock.now += budget.reserve(n_creates=10)
    assert clock.now == pytest.approx(T0 + 6)  # one write every 6 s
    assert budget.how_many_now(WriteKind.CREATE) == 10  # a minute's worth
    budget.commit(n_creates=10)
    assert budget.how_many_now(WriteKind.CREATE) == 0
    assert budget.reserve(n_creates=10) == pytest.approx(60)


def test_the_state_survives_a_restart() -> None:
    clock = SecondsClock(T0)
    config = BudgetConfig(max_writes_per_hour=1200)
    budget = WriteBudget(config, clock=clock)
    for _ in range(30):
        clock.now += budget.reserve(n_creates=20)
        budget.commit(n_creates=20, headers=headers(5000, 4000, T0 + 3000))
    budget.on_429(headers(5000, 0, clock.now + 77), n_creates=5)
    saved = json.loads(json.dumps(budget.to_dict()))
    restored = WriteBudget.from_dict(saved, config, clock=clock)
    for later in (0, 30, 100, 2000, 5000):
        clock.now += later
        assert restored.reserve(n_creates=20) == budget.reserve(n_creates=20)
        assert restored.how_many_now(WriteKind.UPDATE) == budget.how_many_now(WriteKind.UPDATE)


def test_the_estimate_of_a_30000_post_plan_is_52_hours() -> None:
    # 90,000 points at 34,300 a day and 4,900 an hour (2% margin): two full days, then
    # 21,400 points in five hourly bursts, the last one 4 hours into the third day.
    budget = WriteBudget(clock=SecondsClock(T0))
    assert budget.estimate_seconds(n_creates=30_000) == pytest.approx(52 * HOUR)
    assert budget.estimate_seconds() == 0.0


def test_the_estimate_starts_from_what_the_server_last_said() -> None:
    clock = SecondsClock(T0)
    budget = WriteBudget(clock=clock)
    budget.commit(n_creates=1, headers=headers(5000, 100, T0 + 600))
    # Nothing fits before the reset in 10 minutes; then 1,000 creates go at once.
    assert budget.estimate_seconds(n_creates=1000) == pytest.approx(601)


@pytest.mark.parametrize(
    "config",
    [
        {"safety_margin": 1.0},
        {"safety_margin": -0.1},
        {"max_writes_per_hour": 0},
        {"max_batch": 201},
        {"windows": {}},
    ],
)
def test_impossible_configurations_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BudgetConfig(**config)  # type: ignore[arg-type]
