"""Bench: the desk's review page (step 6) on a 300,000-tweet workspace with many candidates.

    .venv/bin/python bench/bench_desk_review.py [--tweets N] [--candidates N] [--requests N]

Imports a cached synthetic archive (``_util.cached_archive``; the imported workspace is
cached next to it), adds ``--candidates`` scored candidates (three for each followed account
and follower, as a match leaves them, a fifth of them with a supplied name), serves the desk
with uvicorn on a loopback port as ``departures desk`` does, signs in with its one-time URL,
and times ``GET /audience/review`` over real HTTP with a client in the same run: the first
page, pages spread over the whole list, each status tab. The baseline measured in the same
run is the desk's static stylesheet (the same server, no workspace work), so the ratio says
what the review itself costs.

Target: the review page answers in under 150 ms at p95. Exits 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from _util import cache_root, cached_archive, free_port, machine
from departures.archive.importer import import_archive
from departures.desk.app import Desk, create_app
from departures.desk.views.audience import PAGE_SIZE
from departures.workspace.db import DB_NAME, Workspace

TARGET_P95_MS = 150.0


def workspace_of(tweets: int) -> Path:
    """The imported workspace of the cached archive (imported once, then copied)."""
    archive, stats = cached_archive(tweets, media=False)
    cached = cache_root() / f"desk-review-ws-{archive.parent.name}"
    done = cached / "imported"  # written once the import committed
    if not done.exists():
        print(f"importing {stats['tweet_entries']:,} tweets once (cached in {cached}) ...")
        started = time.perf_counter()
        shutil.rmtree(cached, ignore_errors=True)
        workspace = Workspace.open(cached)
        import_archive(archive, workspace)
        workspace.close()
        done.write_text("ok")
        print(f"  imported in {time.perf_counter() - started:.0f} s")
    return cached


def add_candidates(db: Path, wanted: int, seed: int = 5) -> int:
    """Scored candidates for the followed accounts and followers, as a match leaves them."""
    rng = random.Random(seed)
    conn = sqlite3.connect(db)
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT account_id FROM following UNION SELECT account_id FROM followers"
        )
    ]
    rows, names = [], []
    now = "2026-12-01T10:00:00+00:00"
    for n in range(wanted):
        x_id = ids[n % len(ids)]
        score = round(rng.uniform(0.35, 0.99), 3)
        status = "accepted" if score >= 0.9 else rng.choice(["proposed"] * 8 + ["rejected"])
        handle = f"org{x_id % 100000}{'' if n < len(ids) else n // len(ids)}"
        evidence = [
            f"the Bluesky handle @{handle}.bsky.social is the X handle @{handle}",
            f"the display name 'Org {x_id % 1000}' is the X account's name",
            "the bio links to the same website",
        ][: rng.randint(1, 3)]
        rows.append(
            (
                x_id,
                handle,
                f"did:plc:{n:024d}",
                f"{handle}.bsky.social",
                f"Org {x_id % 1000}",
                score,
                json.dumps(evidence),
                "search",
                status,
                None if status == "proposed" else "auto",
                now,
            )
        )
        if n < len(ids) and n % 5 == 0:
            names.append((x_id, handle, f"Organisation {x_id % 1000}", now))
    with conn:
        conn.executemany(
            "INSERT OR IGNORE INTO audience_candidates (x_id, x_handle, did, handle, display_name, "
            "score, evidence, found_by, status, decided_by, found_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO audience_names (x_id, handle, name, imported_at) "
            "VALUES (?, ?, ?, ?)",
            names,
        )
    total = int(conn.execute("SELECT count(*) FROM audience_candidates").fetchone()[0])
    conn.close()
    return total


def percentile(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description="The desk's review page on a large workspace.")
    parser.add_argument("--tweets", type=int, default=300_000)
    parser.add_argument("--candidates", type=int, default=54_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    source = workspace_of(args.tweets)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(source, ws, ignore=shutil.ignore_patterns("imported"))
        total = add_candidates(ws / DB_NAME, args.candidates)
        conn = sqlite3.connect(ws / DB_NAME)
        tweets = conn.execute("SELECT count(*) FROM tweets").fetchone()[0]
        proposed = conn.execute(
            "SELECT count(*) FROM audience_candidates WHERE status = 'proposed'"
        ).fetchone()[0]
        conn.close()
        print(f"workspace: {tweets:,} tweets, {total:,} candidates ({proposed:,} to review)")

        port = free_port()
        desk = Desk(ws, port)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(desk),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}", timeout=30, follow_redirects=True
            ) as client:
                assert client.get(f"/login?token={desk.keys.token}").status_code == 200
                pages = max(1, proposed // PAGE_SIZE)
                urls = [
                    "/audience/review",
                    f"/audience/review?page={pages}",
                    "/audience/review?status=accepted",
                    "/audience/review?status=all&page=40",
                    "/audience/review?status=rejected",
                ]
                rng = random.Random(1)
                urls += [f"/audience/review?page={rng.randint(1, pages)}" for _ in range(20)]
                for url in urls[:5]:  # warm: the first request of each kind opens the caches
                    response = client.get(url)
                    assert response.status_code == 200, (url, response.status_code)
                    assert response.text.count('class="candidate ') > 0, url
                times: list[float] = []
                for i in range(args.requests):
                    url = urls[i % len(urls)]
                    started = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                baseline: list[float] = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    client.get("/static/desk.css")
                    baseline.append((time.perf_counter() - started) * 1000)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    p50, p95 = statistics.median(times), percentile(times, 95)
    b50 = statistics.median(baseline)
    print(
        f"review page ({PAGE_SIZE} candidates a page, {args.requests} requests): "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(times):.1f} ms; "
        f"static file p50 {b50:.1f} ms (review/static {p50 / b50:.1f}x)"
    )
    ok = p95 < TARGET_P95_MS
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
