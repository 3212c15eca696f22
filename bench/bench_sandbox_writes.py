"""Figures of the sandbox: install, start time, memory, and posts/second written from Python.

Starts its own sandbox on free ports, twice (PLC + PDS only, then with the AppView, which
runs in the same Node process and competes for the CPU), writes 200 posts with one
``createRecord`` each (the baseline) and 1,000 posts with ``applyWrites`` in batches of 200,
prints both rates and their ratio, and stops the sandbox. Install figures are those recorded
when the runtime was installed; ``--fresh-install`` measures a new install into an empty
temporary cache instead (a few minutes).

    .venv/bin/python bench/bench_sandbox_writes.py [--fresh-install]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from departures.sandbox import Account, Sandbox
from departures.sandbox.install import cache_root, ensure_runtime
from departures.sandbox.pytest_plugin import free_base_port

POST = "app.bsky.feed.post"
BATCH = 200
BATCHED_POSTS = 1_000
SINGLE_POSTS = 200
MIB = 2**20


def _post(i: int, start: datetime) -> dict[str, Any]:
    created = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
    return {"$type": POST, "text": f"Bench post {i}: from our archive.", "createdAt": created}


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        sys.exit(f"write failed: {response.status_code} {response.text[:300]}")


def one_by_one(client: httpx.Client, account: Account, count: int) -> float:
    """Seconds to write ``count`` posts with one createRecord each."""
    start = datetime.now(UTC) - timedelta(days=400)
    began = time.perf_counter()
    for i in range(count):
        _check(
            client.post(
                "/xrpc/com.atproto.repo.createRecord",
                json={"repo": account.did, "collection": POST, "record": _post(i, start)},
            )
        )
    return time.perf_counter() - began


def batched(client: httpx.Client, account: Account, count: int) -> float:
    """Seconds to write ``count`` posts with applyWrites, ``BATCH`` per call."""
    start = datetime.now(UTC) - timedelta(days=800)
    began = time.perf_counter()
    for first in range(0, count, BATCH):
        writes = [
            {
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": POST,
                "value": _post(i, start),
            }
            for i in range(first, min(first + BATCH, count))
        ]
        _check(
            client.post(
                "/xrpc/com.atproto.repo.applyWrites", json={"repo": account.did, "writes": writes}
            )
        )
    return time.perf_counter() - began


def indexed_after(box: Sandbox, account: Account, expected: int, timeout: float = 60) -> float:
    """Seconds until the AppView's profile counts ``expected`` posts."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        response = httpx.get(
            f"{box.appview_url}/xrpc/app.bsky.actor.getProfile",
            params={"actor": account.did},
        )
        if response.status_code == 200 and response.json().get("postsCount") == expected:
            return time.perf_counter() - began
        time.sleep(0.1)
    return float("nan")


def install_figures(fresh: bool) -> None:
    """Print how long the install took and its size."""
    if fresh:
        with tempfile.TemporaryDirectory(prefix="departures-bench-cache-") as cache:
            previous = os.environ.get("DEPARTURES_CACHE")
            os.environ["DEPARTURES_CACHE"] = cache
            try:
                began = time.perf_counter()
                runtime = ensure_runtime()
                seconds = time.perf_counter() - began
                size = runtime.size_bytes()
            finally:
                if previous is None:
                    del os.environ["DEPARTURES_CACHE"]
                else:
                    os.environ["DEPARTURES_CACHE"] = previous
        print(f"first install (fresh, empty cache): {seconds:.0f} s, {size / MIB:.0f} MiB")
        return
    runtime = ensure_runtime()
    record = runtime.install_record()
    size = runtime.size_bytes()
    took = f"{record['seconds']:.0f} s" if "seconds" in record else "not recorded"
    print(f"first install (as recorded): {took}, {size / MIB:.0f} MiB in {cache_root()}")


def run_network(appview: bool) -> None:
    """Start one network, write the posts, print the figures, stop it."""
    label = "PLC + PDS + AppView + ozone, fresh PostgreSQL" if appview else "PLC + PDS only"
    print(f"\n== {label} ==")
    with tempfile.TemporaryDirectory(prefix="departures-bench-") as state:
        box = Sandbox(free_base_port(), Path(state))
        began = time.perf_counter()
        box.up(appview=appview, tie_to_this_process=True)
        print(f"start: {time.perf_counter() - began:.1f} s")
        try:
            print(f"memory idle (node tree + PostgreSQL, PSS): {box.memory_bytes() / MIB:.0f} MiB")
            tag = os.getpid() % 10000
            baseline_account = box.create_account(f"bench1{tag}")
            batch_account = box.create_account(f"bench2{tag}")
            with httpx.Client(base_url=box.pds_url, timeout=60) as client:
                client.headers["Authorization"] = f"Bearer {baseline_account.access_jwt}"
                single = one_by_one(client, baseline_account, SINGLE_POSTS)
                client.headers["Authorization"] = f"Bearer {batch_account.access_jwt}"
                many = batched(client, batch_account, BATCHED_POSTS)
            single_rate = SINGLE_POSTS / single
            batch_rate = BATCHED_POSTS / many
            print(
                f"createRecord, one call per post: {SINGLE_POSTS} posts in {single:.2f} s = "
                f"{single_rate:.0f} posts/s"
            )
            print(
                f"applyWrites, {BATCH} per call: {BATCHED_POSTS} posts in {many:.2f} s = "
                f"{batch_rate:.0f} posts/s"
            )
            print(f"ratio applyWrites / createRecord: {batch_rate / single_rate:.1f}x")
            if appview:
                lag = indexed_after(box, batch_account, BATCHED_POSTS)
                print(f"AppView shows all {BATCHED_POSTS} posts {lag:.1f} s after the last write")
            print(f"memory after writes: {box.memory_bytes() / MIB:.0f} MiB")
        finally:
            box.down()


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fresh-install",
        action="store_true",
        help="measure a new install into an empty temporary cache",
    )
    args = parser.parse_args()
    install_figures(args.fresh_install)
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    run_network(appview=False)
    run_network(appview=True)


if __name__ == "__main__":
    main()
