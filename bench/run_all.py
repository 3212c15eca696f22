"""Run the benchmarks one after another and summarise which targets they met.

``make bench`` runs the quick ones (seconds to a few minutes each); ``--all`` adds the heavy
ones (a 300,000- and a 1,000,000-tweet import, 5,000 posts and 20 kills against a sandbox),
which take the better part of an hour on a two-core machine. Every script prints its own
figures as ratios against a baseline measured in the same run and exits 1 on a missed target.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK: list[list[str]] = [
    ["bench_startup.py"],
    ["bench_budget.py"],
    ["bench_plan.py"],
    ["bench_coalition.py"],
    ["bench_board.py"],
    ["bench_hostile.py"],
    ["bench_import.py", "--tweets", "30000"],
    ["bench_desk.py", "--tweets", "20000", "--requests", "50"],
    ["bench_desk_review.py", "--tweets", "20000", "--candidates", "5000", "--requests", "50"],
    ["bench_triage.py"],
]
HEAVY: list[list[str]] = [
    ["bench_import.py"],
    ["bench_import_memory.py"],
    ["bench_sandbox_writes.py"],
    ["bench_migrate_run.py"],
    ["bench_startup.py", "--migrate-run"],
    ["bench_kill_resume.py"],
    ["bench_desk.py"],
    ["bench_desk_review.py"],
]


def main() -> int:
    """Run the chosen benchmarks; exit 1 if any missed its target or failed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="also run the heavy benchmarks")
    args = parser.parse_args()
    chosen = QUICK + (HEAVY if args.all else [])
    results: list[tuple[str, int, float]] = []
    for command in chosen:
        script = HERE / command[0]
        if not script.exists():
            continue
        name = " ".join(command)
        print(f"\n=== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script), *command[1:]])
        results.append((name, code, time.monotonic() - started))
    print("\n=== summary")
    for name, code, seconds in results:
        verdict = "met its targets" if code == 0 else f"MISSED a target or failed (exit {code})"
        print(f"{name:45} {verdict} ({seconds:.0f} s)")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
