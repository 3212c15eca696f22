"""Exactly-once under SIGKILL: kill ``departures migrate run`` at random moments, resume.

On a fresh sandbox (rate limits off, no AppView), a plan of N posts (threads of 5, so refs
inside batches are exercised) is published by ``departures migrate run`` in a child process
that is killed with SIGKILL at a random moment, again and again (at least ``--kills``
times), then run to completion. Prints the kills, then duplicates and missing records as
``com.atproto.repo.listRecords`` shows them: both must be 0.

    .venv/bin/python bench/bench_kill_resume.py [--posts 3000] [--kills 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_migrate_run import Org, sandbox, text_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="bench-kill-"))
    with sandbox(appview=False) as box:
        org = Org(box, "benchkill", root)
        planned = text_plan(org.workspace, args.posts, thread_every=5)
        kills = runs = 0
        began = time.perf_counter()
        while kills < args.kills:
            runs += 1
            child = subprocess.Popen(
                org.command("migrate", "run", "--no-budget"),
                env=org.env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            # Python start-up takes about a second; kill anywhere from before the first batch
            # to well into the run.
            time.sleep(rng.uniform(0.3, 3.0))
            if child.poll() is None:
                child.send_signal(signal.SIGKILL)
                kills += 1
            child.wait()
            if child.returncode == 0 and kills < args.kills:
                # The plan ran to the end before enough kills: add more posts and go on.
                more = text_plan_more(org, len(planned))
                planned.extend(more)
        final = org.run("migrate", "run", "--no-budget")
        if final.returncode != 0:
            sys.exit(f"final run failed: {final.stderr}")
        status = json.loads(org.run("migrate", "status", "--json").stdout)
        on_server = org.rkeys()
        seconds = time.perf_counter() - began
    duplicates = len(on_server) - len(set(on_server))
    missing = len(set(planned) - set(on_server))
    extra = len(set(on_server) - set(planned))
    print(f"posts planned: {len(planned)}; runs: {runs + 1}; SIGKILLs: {kills}; {seconds:.0f} s")
    print(
        f"status: published {status['published']}, pending {status['pending']}, "
        f"failed {status['failed']}"
    )
    print(f"duplicates: {duplicates}")
    print(f"missing: {missing}")
    print(f"unexpected records: {extra}")
    if duplicates or missing or extra:
        sys.exit(1)


def text_plan_more(org: Org, already: int) -> list[str]:
    """Append 1,000 more posts to the plan (new keys after the existing ones)."""
    import json as _json

    from bench_migrate_run import SNOWFLAKE_EPOCH_MS, iso
    from departures.bluesky.records import POST
    from departures.migrate.rkeys import rkey_for
    from departures.workspace.db import Workspace

    ws = Workspace.open(org.workspace)
    rows = []
    for i in range(already, already + 1000):
        ms = 1_450_000_000_000 + i * 61_000
        tweet = ((ms - SNOWFLAKE_EPOCH_MS) << 22) | (i % 4096)
        when = iso(ms)
        record = {"$type": POST, "text": f"Post {i}", "createdAt": when}
        rows.append(
            (
                f"{tweet}:0",
                tweet,
                0,
                1,
                i,
                rkey_for(tweet, 0, when),
                None,
                None,
                None,
                _json.dumps(record),
                "[]",
                "[]",
                when,
            )
        )
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, root_key, parent_key,"
            " quote_key, record, media, warnings, planned_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
    ws.close()
    return [row[5] for row in rows]


if __name__ == "__main__":
    main()
