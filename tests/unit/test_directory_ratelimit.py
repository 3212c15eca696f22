"""The directory's public API is rate-limited per client address: a token bucket (fake clock)
and the 429 with Retry-After that ``/directory/lookup`` and ``/directory/export.json`` give."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from departures.coalition.directory import ApiLimits, Directory, TokenBucket
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.clock import SecondsClock
from helpers.web import coalition_app

DID = "did:plc:" + "a" * 24


def test_a_bucket_allows_a_burst_then_the_refill_rate() -> None:
    clock = SecondsClock()
    bucket = TokenBucket(60, 60.0, clock=clock)
    assert [bucket.take("1.2.3.4") for _ in range(60)] == [0.0] * 60
    assert bucket.take("1.2.3.4") == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert bucket.take("1.2.3.4") == pytest.approx(0.5)  # refused calls take nothing
    clock.now += 0.5
    assert bucket.take("1.2.3.4") == 0.0
    assert bucket.take("1.2.3.4") == pytest.approx(1.0)


def test_each_address_has_its_own_bucket_and_an_idle_one_refills_to_capacity_only() -> None:
    clock = SecondsClock()
    bucket = TokenBucket(10, 3600.0, clock=clock)
    for _ in range(10):
        assert bucket.take("a") == 0.0
    assert bucket.take("a") == pytest.approx(360.0)  # ten an hour: one every six minutes
    assert bucket.take("b") == 0.0
    clock.now += 10 * 86400  # a long time idle: still only a burst of 10
    assert [bucket.take("a") for _ in range(11)][-2:] == [0.0, pytest.approx(360.0)]


def test_memory_stays_bounded_under_a_flood_of_addresses() -> None:
    clock = SecondsClock()
    bucket = TokenBucket(2, 60.0, clock=clock, max_keys=100)
    for n in range(1000):
        bucket.take(f"10.0.{n // 256}.{n % 256}")
    assert len(bucket._buckets) <= 100


def test_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError):
        ApiLimits(lookups_per_minute=0)
    with pytest.raises(ValueError):
        TokenBucket(1, 0.0)


# --- over HTTP, in-process ---------------------------------------------------------------------


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    Directory(engine).register("12345", "alice_org", DID, "alice.test")
    return CoalitionStore(engine)


def serve(store: CoalitionStore, limits: ApiLimits) -> CoalitionApp:
    return coalition_app(
        store,
        base_url="http://testserver",
        directory_limits=limits,
    )


def get_all(app: CoalitionApp, paths: list[str], client: str = "1.2.3.4") -> list[httpx.Response]:
    """GET each path in turn from one client address, in-process."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=(client, 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return [await http.get(path) for path in paths]

    return asyncio.run(go())


def test_lookups_over_the_limit_get_a_429_with_retry_after_and_one_line_of_json(
    store: CoalitionStore,
) -> None:
    app = serve(store, ApiLimits(lookups_per_minute=3, exports_per_hour=10))
    answers = get_all(app, ["/directory/lookup?x_ids=12345"] * 4)
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[0].json()["entries"][0]["did"] == DID
    refused = answers[-1]
    assert refused.headers["Retry-After"] == "20"  # 3 a minute: the next token in 20 s
    assert refused.headers["content-type"] == "application/json"
    assert b"\n" not in refused.content
    body = orjson.loads(refused.content)
    assert body["error"] == "too many directory lookups from your address"
    assert body["retry_after"] == 20 and body["status"] == 429
    assert "DENY" in refused.headers["X-Frame-Options"]  # the site's headers as everywhere
    # Another address is not affected; the export has its own bucket.
    assert get_all(app, ["/directory/lookup?x_ids=12345"], client="5.6.7.8")[0].status_code == 200
    assert get_all(app, ["/directory/export.json"])[0].status_code == 200


def test_exports_default_to_ten_an_hour(store: CoalitionStore) -> None:
    app = serve(store, ApiLimits())
    answers = get_all(app, ["/directory/export.json"] * 11)
    assert [r.status_code for r in answers] == [200] * 10 + [429]
    [entry] = answers[0].json()["entries"]
    assert (entry["x_id"], entry["did"], entry["handle"]) == ("12345", DID, "alice.test")
    assert answers[-1].headers["Retry-After"] == "360"
