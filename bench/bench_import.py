"""Bench: the whole ``archive import`` against the parse floor, measured in the same run.

    .venv/bin/python bench/bench_import.py [--tweets 300000] [--zip | --both] [--profile]

Uses (and on first run generates, ~1-2 min) a cached synthetic archive of 300,000 tweets in
~100 MB parts with media files and long posts. Measures the floor (read + strip prefix +
orjson.loads of every tweets part, gc disabled: ``baseline_parse.py``), then imports the
archive with ``departures.archive.importer.import_archive`` into a fresh workspace in a fresh
Python process, SQLite commit included, and prints both rates and their ratio.

Target (issue 2): import rate >= 1/3 of the floor. Exit status 1 when below it.
--zip imports the zip instead of the folder (the floor still parses the folder's parts: the
same floor, so the zip's ratio says what reading a zip costs over a folder); --both imports
the folder and the zip in the same run, between the same two floors, and checks both.
--profile then runs a second, profiled import and prints where its time goes (cProfile).
"""

from __future__ import annotations

import argparse
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _util import (
    cached_archive,
    machine,
    rate,
    run_floor,
    run_import,
    tweet_parts,
    warm_cache,
)

TARGET = 1 / 3


def with_cpu(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result plus ``cpu_seconds``: the user + system time of the child processes
    it waited for (the whole child, interpreter start included). On a shared machine, CPU
    time varies much less than wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description="Import speed against the parse floor.")
    parser.add_argument("--tweets", type=int, default=300_000)
    parser.add_argument("--part-mb", type=int, default=100)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--zip", action="store_true", help="import the zip, not the folder")
    mode.add_argument("--both", action="store_true", help="import the folder and the zip")
    parser.add_argument("--profile", action="store_true", help="also profile one import")
    args = parser.parse_args()

    folder, stats = cached_archive(args.tweets, part_mb=args.part_mb)
    sources: list[tuple[str, Path]] = []
    if not args.zip:
        sources.append(("folder", folder))
    if args.zip or args.both:
        zipped = cached_archive(args.tweets, part_mb=args.part_mb, as_zip=True)[0]
        sources.append(("zip", zipped))
    parts = tweet_parts(folder)
    entries = stats["tweet_entries"]
    size = sum(p.stat().st_size for p in parts)
    for label, source in sources:
        print(f"archive ({label}): {source} ({_size_mb(source):,.0f} MB)")
    print(
        f"  {entries:,} tweet entries in {len(parts)} parts ({size / 1e6:,.0f} MB), "
        f"{stats['long_posts']:,} long posts, {stats['media_items']:,} media items, "
        f"{stats['likes']:,} likes, {stats['followers']:,} followers"
    )
    print(f"machine: {machine()}")
    warm_cache(parts)
    for label, source in sources:
        if label == "zip":
            warm_cache([source])

    # The machine may be shared: measure the floor before and after the imports and keep
    # the faster one, so that a busy moment cannot flatter the ratio.
    floors = [with_cpu(lambda: run_floor(parts))]
    results = [(label, with_cpu(lambda s=source: run_import(s))) for label, source in sources]
    floors.append(with_cpu(lambda: run_floor(parts)))
    floor_gc = run_floor(parts, gc_enabled=True)
    count = floors[0]["tweets"]
    floor_s = min(f["seconds"] for f in floors)
    floor_rate = count / floor_s
    runs = ", ".join(f"{f['seconds']:.2f} s" for f in floors)
    print(
        f"floor (parse only, gc off):  {floor_s:7.2f} s  {rate(count, floor_s)}"
        f"  (runs: {runs}; "
        f"peak RSS {floors[0]['max_rss_kb'] / 1024:,.0f} MB)"
    )
    print(
        f"floor with gc on (ref.):     {floor_gc['seconds']:7.2f} s  "
        f"{rate(count, floor_gc['seconds'])}"
    )
    floor_cpu = min(f["cpu_seconds"] for f in floors)
    ratios: list[float] = []
    for label, result in results:
        import_s = result["seconds"]
        ratio = (entries / import_s) / floor_rate
        ratios.append(ratio)
        print(
            f"import {label + ' (commit incl.):':<21}{import_s:7.2f} s  {rate(entries, import_s)}"
            f"  (peak RSS {result['tree_peak_rss_kb'] / 1024:,.0f} MB, "
            f"{result['max_processes']} process(es))"
        )
        counts = result["counts"]
        print(
            f"  read: {counts.get('tweets', 0):,} tweet entries (written {entries:,}), long "
            f"posts restored {counts.get('long_posts_restored', 0):,} of "
            f"{stats['long_posts']:,}, missing media files "
            f"{counts.get('media_files_missing', 0):,} of {stats['media_files_missing']:,}, "
            f"warnings {result['warnings']}"
        )
        print(
            f"  CPU time (user + system, whole child process): floor {floor_cpu:.2f} s, "
            f"import {result['cpu_seconds']:.2f} s, ratio "
            f"{floor_cpu / result['cpu_seconds']:.2f} (for reference)"
        )
    for (label, _), ratio in zip(results, ratios, strict=True):
        verdict = "OK" if ratio >= TARGET else "BELOW TARGET"
        print(f"ratio import ({label}) / floor: {ratio:.2f} (target >= {TARGET:.2f}) {verdict}")

    print(f"machine after the run: {machine()}")
    if args.profile:
        print("\nprofiled import (slower than the measured one):", flush=True)
        run_import(sources[-1][1], profile=True)
    if min(ratios) < TARGET:
        sys.exit(1)


def _size_mb(path: Path) -> float:
    """The size of a zip, or of everything in a folder, in MB."""
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


if __name__ == "__main__":
    main()
