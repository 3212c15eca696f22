"""Throughput of ``departures migrate run`` against bare ``applyWrites`` batches of 200.

On a fresh sandbox with rate limits off (PLC + PDS; ``--appview`` adds the AppView, which
competes for the CPU), in the same run: account A gets N text posts through bare
``applyWrites`` calls of 200 (the physical limit: nothing but the requests), account B the
same N posts through the whole ``departures migrate run`` process (start-up, session,
reconcile, journal before and after every batch, local CIDs, budget, progress). Prints both
rates and the ratio (target: at least 50%).

    .venv/bin/python bench/bench_migrate_run.py [--posts 5000] [--appview]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _publish import Org, sandbox, text_plan
from departures.migrate.journal import POST
from departures.workspace.db import Workspace


def bare(org: Org) -> float:
    """Seconds to write the plan's records with bare applyWrites calls of 200."""
    ws = Workspace.open(org.workspace)
    rows = ws.conn.execute("SELECT rkey, record FROM plan_posts ORDER BY seq").fetchall()
    ws.close()
    writes = [
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": POST,
            "rkey": rkey,
            "value": json.loads(record),
        }
        for rkey, record in rows
    ]
    headers = {"Authorization": f"Bearer {org.account.access_jwt}"}
    began = time.perf_counter()
    with httpx.Client(base_url=org.box.pds_url, timeout=120, headers=headers) as client:
        for start in range(0, len(writes), 200):
            response = client.post(
                "/xrpc/com.atproto.repo.applyWrites",
                json={"repo": org.account.did, "writes": writes[start : start + 200]},
            )
            if response.status_code != 200:
                sys.exit(f"bare applyWrites failed: {response.status_code} {response.text[:200]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--appview", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-migrate-run-"))
    with sandbox(appview=args.appview) as box:
        a = Org(box, "benchbare", root)
        b = Org(box, "benchrun", root)
        text_plan(a.workspace, args.posts)
        planned = text_plan(b.workspace, args.posts)
        bare_s = bare(a)
        began = time.perf_counter()
        result = b.run("migrate", "run", "--no-budget")
        run_s = time.perf_counter() - began
        if result.returncode != 0:
            sys.exit(f"migrate run failed: {result.stderr}")
        on_server = b.rkeys()
    bare_rate = args.posts / bare_s
    run_rate = args.posts / run_s
    print(f"posts: {args.posts} (AppView {'on' if args.appview else 'off'}, rate limits off)")
    print(f"bare applyWrites x200:     {bare_s:7.2f} s  {bare_rate:7.0f} posts/s")
    print(f"departures migrate run:    {run_s:7.2f} s  {run_rate:7.0f} posts/s (whole process)")
    print(f"ratio: {run_rate / bare_rate:.0%} of bare (target >= 50%)")
    missing = len(set(planned) - set(on_server))
    duplicates = len(on_server) - len(set(on_server))
    print(f"check: {len(on_server)} records, missing {missing}, duplicates {duplicates}")


if __name__ == "__main__":
    main()
