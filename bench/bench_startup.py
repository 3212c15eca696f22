"""Start-up: what every ``departures`` command pays before it does anything (issue 10, item 9).

(a) Always: the wall time of ``departures --help`` (and of a few quick commands' help) as a
ratio to ``python -c "import click"``, both measured in this run, interleaved, several times,
median. Target: ``departures --help`` at most 3x (it was ~33x while every group imported the
atproto SDK, SQLAlchemy and the web stack at start).

(b) With ``--migrate-run``: because start-up is paid by every command, the whole process
``departures migrate run --no-budget`` of N posts (default 1,600) on a fresh sandbox against
a bare client sending the same posts with ``applyWrites`` x200 (the pair of
``bench_migrate_run.py``; the bare client runs before and after, the faster counts). Target:
at least 0.8 of bare. ``--profile`` runs the command under
cProfile and prints where its time goes.

    .venv/bin/python bench/bench_startup.py [--repeat 15] [--migrate-run [--posts 1600] [--profile]]
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELP_TARGET = 3.0
RUN_TARGET = 0.8

# Help screens that must start as quickly as the top level does (a few imports more).
QUICK_COMMANDS = [
    ["archive", "stats", "--help"],
    ["migrate", "plan", "--help"],
    ["audience", "review", "--help"],
]


def _departures() -> list[str]:
    """The console script users run (next to this Python), or ``-m departures.cli``."""
    script = Path(sys.executable).with_name("departures")
    return [str(script)] if script.exists() else [sys.executable, "-m", "departures.cli"]


def _wall(command: list[str], env: dict[str, str] | None = None) -> float:
    began = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - began


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench_help(repeat: int) -> bool:
    """Part (a): medians of interleaved runs; True when the target is met."""
    click_only = [sys.executable, "-c", "import click"]
    commands = {"--help": [*_departures(), "--help"]}
    commands.update({" ".join(c): [*_departures(), *c] for c in QUICK_COMMANDS})
    times: dict[str, list[float]] = {"import click": [], **{name: [] for name in commands}}
    _wall(click_only)  # warm the file cache once
    for _ in range(repeat):
        times["import click"].append(_wall(click_only))
        for name, command in commands.items():
            times[name].append(_wall(command))
    base = statistics.median(times["import click"])
    print(f"start-up, median of {repeat} interleaved runs ({_load()})")
    print(f"  python -c 'import click'       {base * 1000:7.0f} ms   1.0x")
    for name in commands:
        median = statistics.median(times[name])
        print(f"  departures {name:22s} {median * 1000:7.0f} ms  {median / base:4.1f}x")
    ratio = statistics.median(times["--help"]) / base
    met = ratio <= HELP_TARGET
    print(f"departures --help: {ratio:.1f}x import click (target <= {HELP_TARGET:.0f}x)"
          f" {'met' if met else 'MISSED'}")  # fmt: skip
    return met


def bench_migrate_run(posts: int, *, profile: bool) -> bool:
    """Part (b): the whole-process ``migrate run`` against bare applyWrites x200."""
    # The sandbox pair of bench_migrate_run.py (this folder is on sys.path when run as a script).
    from bench_migrate_run import Org, bare, sandbox, text_plan

    root = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    print(f"\nmigrate run, {posts} posts, whole process ({_load()})")
    with sandbox() as box:
        a = Org(box, "startbare", root)
        after = Org(box, "startbare2", root)
        b = Org(box, "startrun", root)
        text_plan(a.workspace, posts)
        text_plan(after.workspace, posts)
        planned = text_plan(b.workspace, posts)
        bare_before = bare(a)
        command = b.command("migrate", "run", "--no-budget")
        stats_file = root / "run.prof"
        if profile:
            command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), *command[1:]]
        began = time.perf_counter()
        result = subprocess.run(command, env=b.env(), capture_output=True, text=True)
        run_s = time.perf_counter() - began
        if result.returncode != 0:
            sys.exit(f"migrate run failed: {result.stderr}")
        on_server = b.rkeys()
        # The bare client runs before and after (each on an account of its own); the faster
        # counts, so that a busy moment of the shared machine cannot flatter the ratio.
        bare_after = bare(after)
        bare_s = min(bare_before, bare_after)
        # Where the difference goes: the fixed cost of the whole process (a second run finds
        # everything published: start-up, session, reconcile, no batch) and, within it, the
        # import of the atproto SDK the write path is built on.
        again_s = _wall(b.command("migrate", "run", "--no-budget"), b.env())
        help_s = _wall(b.command("--help"), b.env())
        sdk_s = statistics.median(
            _wall([sys.executable, "-c", "import atproto_client"]) for _ in range(3)
        )
    ratio = bare_s / run_s
    print(f"  bare applyWrites x200:     {bare_s:7.2f} s  {posts / bare_s:6.0f} posts/s"
          f" (the faster of {bare_before:.2f} s before and {bare_after:.2f} s after)")  # fmt: skip
    print(f"  departures migrate run:    {run_s:7.2f} s  {posts / run_s:6.0f} posts/s"
          f"{' (under cProfile)' if profile else ''}")  # fmt: skip
    print(f"  difference:                {run_s - bare_s:7.2f} s, of which fixed per process "
          f"{again_s:.2f} s (a run with nothing to send),")  # fmt: skip
    print(
        f"    within it: import of the atproto SDK {sdk_s:.2f} s, departures --help {help_s:.2f} s"
    )
    print(f"  without the fixed cost: {bare_s / max(run_s - again_s, 1e-9):.2f} of bare "
          "(the batches alone: journal, local CIDs, budget, progress)")  # fmt: skip
    missing = len(set(planned) - set(on_server))
    print(f"  check: {len(on_server)} records, missing {missing}, "
          f"duplicates {len(on_server) - len(set(on_server))}")  # fmt: skip
    met = ratio >= RUN_TARGET and missing == 0
    print(f"migrate run whole process: {ratio:.2f} of bare (target >= {RUN_TARGET})"
          f" {'met' if met else 'MISSED'} ({_load()})")  # fmt: skip
    if profile:
        pstats.Stats(str(stats_file)).sort_stats("cumulative").print_stats(40)
    return met


def main() -> int:
    """Run the chosen parts; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="runs of each command")
    parser.add_argument("--migrate-run", action="store_true", help="also part (b) (sandbox)")
    parser.add_argument("--posts", type=int, default=1600)
    parser.add_argument("--profile", action="store_true", help="profile the migrate run")
    args = parser.parse_args()
    met = bench_help(args.repeat)
    if args.migrate_run:
        met = bench_migrate_run(args.posts, profile=args.profile) and met
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
