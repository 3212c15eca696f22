"""Bench: the departures board under load, and pledge resolution at scale.

1. A campaign with ``--organisations`` (default 200) pledged organisations is served by
   uvicorn in a *second process* on loopback; this process sends requests from
   ``--concurrency`` threads for ``--seconds`` to the board page and to ``board.json``, and
   reports requests/second and p50/p99 latency — on SQLite, and on PostgreSQL with
   ``--postgres`` (a throwaway cluster from the Debian binaries, as the tests use).
2. Resolving 10,000 pledges (a third of them conditional) into the campaign's status, timed
   and given as a ratio to sorting 10,000 integers in the same run (the resolver is
   O(n log n): the ratio should stay small whatever the machine).

Each page is measured as served (anonymous readers share a rendering for 2 s, see
``CoalitionApp.public_cache_seconds``) and uncached (``*_uncached``: every request reads the
store and renders). Targets: board and JSON p99 under 500 ms at concurrency 8 on each engine
as served (uncached figures are reported, not judged); resolution of 10,000 pledges under
200 ms. Exit status 1 if one is missed.

    .venv/bin/python bench/bench_coalition.py [--postgres] [--organisations 200]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from _util import free_port, wait_until_serving
from departures.coalition import rules
from departures.coalition.db import connect, migrate
from departures.coalition.store import CoalitionStore

P99_TARGET = 0.5
RESOLVE_TARGET = 0.2


def populate(url: str, organisations: int) -> str:
    """A migrated store with one open campaign and ``organisations`` pledges; its slug."""
    engine = connect(url)
    migrate(engine)
    now = datetime.now(UTC)
    store = CoalitionStore(engine)
    coordinator, _ = store.create_coordinator("Bench")
    campaign = store.create_campaign(
        coordinator,
        title="Bench campaign",
        threshold=max(2, organisations // 2),
        deadline=now + timedelta(days=7),
        departure_at=now + timedelta(days=14),
    )
    store.open_campaign(campaign.slug, coordinator)
    rng = random.Random(0)
    for n in range(organisations):
        token = store.create_invite(campaign.slug, coordinator)
        org, _ = store.accept_invite(
            token,
            name=f"Organisation {n} <&>",
            website=f"https://org{n}.example.org",
            bluesky_handle=f"org{n}.example.org",
            bluesky_did=f"did:plc:bench{n:020d}",
            verified_domain=n % 3 == 0,
            public_name=n % 5 != 0,
        )
        store.pledge(org.id, rng.choice([0, 0, 0, 5, 50]))
    engine.dispose()
    return campaign.slug


def serve(url: str, port: int, cache_seconds: float) -> None:
    """Run in the second process: the app on ``port``."""
    import uvicorn

    from departures.coalition.handles import XrpcHandleResolver
    from departures.coalition.web import CoalitionApp

    app = CoalitionApp(
        CoalitionStore(connect(url)),
        secret_key=b"bench",
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url=f"http://127.0.0.1:{port}",
        public_cache_seconds=cache_seconds,
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def load(base: str, path: str, seconds: float, concurrency: int) -> dict[str, float]:
    """Hammer ``path`` from ``concurrency`` threads; requests/s and latency percentiles."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as client:
            while True:  # at least one request per thread, even when the first is slow
                started = time.perf_counter()
                response = client.get(path)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    errors += response.status_code != 200
                if time.monotonic() >= stop:
                    break

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
    }


def bench_engine(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    slug = populate(url, args.organisations)
    results: dict[str, dict[str, float]] = {}
    for cache in (2.0, 0.0):
        results.update(bench_server(url, slug, cache, args))
    return results


def bench_server(
    url: str, slug: str, cache: float, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port), "--cache", str(cache)],
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server)
        results = {}
        suffix = "" if cache else "_uncached"
        for name, path in (
            ("board", f"/campaigns/{slug}"),
            ("json", f"/campaigns/{slug}/board.json"),
        ):
            load(base, path, 1, args.concurrency)  # warm-up
            results[name + suffix] = load(base, path, args.seconds, args.concurrency)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_resolution() -> dict[str, float]:
    rng = random.Random(1)
    at = datetime(2025, 1, 1, tzinfo=UTC)
    pledges = [
        rules.Pledge(str(n), rng.choice([0, 0, rng.randint(1, 12_000)]), at) for n in range(10_000)
    ]
    terms = rules.CampaignTerms(
        "t", 5_000, at + timedelta(days=1), at + timedelta(days=2), opened_at=at
    )
    numbers = [rng.random() for _ in range(10_000)]
    best_resolve = best_sort = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        rules.campaign_status(terms, pledges, at + timedelta(hours=1))
        best_resolve = min(best_resolve, time.perf_counter() - started)
        started = time.perf_counter()
        sorted(numbers)
        best_sort = min(best_sort, time.perf_counter() - started)
    return {
        "pledges": 10_000,
        "seconds": round(best_resolve, 4),
        "ratio_to_sorting": round(best_resolve / best_sort, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--organisations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--postgres", action="store_true", help="also bench on PostgreSQL")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=float, default=2.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.cache)
        return 0
    report: dict[str, object] = {"resolution": bench_resolution()}
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite"] = bench_engine(f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if args.postgres:
        from departures.sandbox.postgres import Cluster

        port = free_port()
        root = Path(f"/var/tmp/departures-coalition-bench-{os.getpid()}")
        cluster = Cluster(
            root / "pg" if os.geteuid() == 0 else Path(tempfile.mkdtemp()) / "pg", port
        )
        cluster.start()
        try:
            report["postgresql"] = bench_engine(
                f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", args
            )
        finally:
            cluster.remove()
    print(json.dumps(report, indent=2))
    missed = [
        f"{engine} {page} p99 {figures['p99_ms']} ms"
        for engine in ("sqlite", "postgresql")
        for page, figures in report.get(engine, {}).items()  # type: ignore[union-attr]
        if (figures["p99_ms"] > P99_TARGET * 1000 and not page.endswith("_uncached"))
        or figures["errors"]
    ]
    if report["resolution"]["seconds"] > RESOLVE_TARGET:  # type: ignore[index]
        missed.append("pledge resolution")
    if missed:
        print("Target missed: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
