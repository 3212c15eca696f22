"""Shared pieces of the archive benchmarks: cached synthetic archives, the parse floor, and
one import run in a fresh subprocess.

Archives are cached under ``~/.cache/departures/bench/`` (override with
``$DEPARTURES_BENCH_CACHE``), keyed by their parameters and by a hash of a small sample of
the generator's output, so a changed generator never serves a stale archive; older
versions of the same parameters are deleted to spare the disk (a 1,000,000-tweet archive is
~2 GB).
"""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from departures.samples import x_archive

CACHE_ENV = "DEPARTURES_BENCH_CACHE"


def cache_root() -> Path:
    """Where benchmark archives live between runs."""
    default = Path.home() / ".cache" / "departures" / "bench"
    return Path(os.environ.get(CACHE_ENV) or default)


@functools.cache
def generator_version() -> str:
    """A short hash of what the generator writes now (a small sample archive).

    Part of every cache key: a change to the generator's output regenerates the cached
    archives, while an edit that changes nothing written (a comment) keeps them.
    """
    digest = hashlib.sha256()
    with tempfile.TemporaryDirectory() as tmp:
        sample = x_archive.generate(Path(tmp) / "sample", tweets=400, part_bytes=200_000).path
        for path in sorted(sample.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(sample).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_archive(
    tweets: int,
    *,
    seed: int = 0,
    part_mb: int = 100,
    media: bool = True,
    as_zip: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """The cached archive for these parameters (generated on first use) and its counts."""
    stem = f"bulk-{tweets}t-seed{seed}-{part_mb}mb-{'media' if media else 'nomedia'}"
    stem += "-zip" if as_zip else "-dir"
    key = f"{stem}-{generator_version()}"
    root = cache_root()
    folder = root / key
    marker = folder / "stats.json"
    target = folder / ("archive.zip" if as_zip else "archive")
    if marker.exists() and target.exists():
        return target, json.loads(marker.read_text())
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(stem + "-*"):
        shutil.rmtree(stale, ignore_errors=True)
    folder.mkdir()
    print(f"generating a {tweets:,}-tweet archive into {target} (cached for next runs)...")
    started = time.perf_counter()

    shown = {0}

    def progress(done: int, total: int) -> None:
        if (done % 100_000 == 0 or done == total) and done not in shown:
            shown.add(done)
            elapsed = time.perf_counter() - started
            print(f"  {done:,}/{total:,} tweets, {elapsed:.0f} s", flush=True)

    result = x_archive.generate(
        target,
        tweets=tweets,
        seed=seed,
        part_bytes=part_mb * 1_000_000,
        media=media,
        as_zip=as_zip,
        progress=progress,
    )
    stats = {k: v for k, v in vars(result).items() if k not in ("path", "files")}
    stats["tweets_after_edit_collapse"] = result.tweets_after_edit_collapse
    stats["files"] = result.files
    stats["generate_seconds"] = round(time.perf_counter() - started, 1)
    marker.write_text(json.dumps(stats, indent=2))
    print(f"  done in {stats['generate_seconds']} s")
    return target, stats


def tweet_parts(archive: Path) -> list[Path]:
    """The tweets files of an unzipped archive, in manifest order."""
    raw = (archive / "data" / "manifest.js").read_bytes()
    manifest = orjson.loads(raw[raw.index(b"=") + 1 :])
    return [archive / f["fileName"] for f in manifest["dataTypes"]["tweets"]["files"]]


def warm_cache(paths: list[Path]) -> None:
    """Read files once so every measured run reads them from the page cache alike."""
    for path in paths:
        with path.open("rb") as fh:
            while fh.read(1 << 22):
                pass


def parse_floor(parts: list[Path], *, gc_enabled: bool = False) -> tuple[int, float]:
    """The floor any importer pays: read every tweets part, strip the prefix, orjson-parse.

    Returns (tweets parsed, seconds). Each part is freed before the next one is read.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    if gc_enabled:
        gc.enable()
    else:
        gc.disable()
    try:
        count = 0
        started = time.perf_counter()
        for part in parts:
            raw = part.read_bytes()
            items = orjson.loads(raw[raw.index(b"=") + 1 :])
            count += len(items)
            del items, raw
        return count, time.perf_counter() - started
    finally:
        if was_enabled:
            gc.enable()


# The child process: a fresh interpreter that imports the archive into a new workspace and
# prints one JSON line with the time of import_archive (SQLite commit included, connection
# closed) and its own peak RSS.
_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
try:
    from departures.archive.importer import import_archive
except ImportError as exc:
    print(json.dumps({"error": f"departures.archive.importer.import_archive is missing ({exc})"}))
    sys.exit(3)
from departures.workspace import Workspace

source, workspace_dir, profile = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
workspace = Workspace.open(workspace_dir)
if profile:
    import cProfile, pstats
    profiler = cProfile.Profile()
    report = profiler.runcall(import_archive, Path(source), workspace)
else:
    report = import_archive(Path(source), workspace)
workspace.conn.close()
seconds = time.perf_counter() - started
if profile:
    stats = pstats.Stats(profiler, stream=sys.stderr)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
print(json.dumps({
    "seconds": seconds,
    "importer_seconds": report.seconds,
    "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    # The largest peak of any worker process (they have all exited by now).
    "worker_max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    "rss_before_import_kb": rss_before,
    "counts": report.counts,
    "warnings": len(report.warnings),
}))
"""


# The floor in a fresh process too, so that it starts from the same clean heap as the
# import it is compared with; it also shows what parsing whole parts costs in memory.
_FLOOR_CHILD = r"""
import gc, json, resource, sys, time
from pathlib import Path
import orjson

parts, gc_on = [Path(p) for p in sys.argv[2:]], sys.argv[1] == "1"
gc.enable() if gc_on else gc.disable()
count = 0
started = time.perf_counter()
for part in parts:
    raw = part.read_bytes()
    items = orjson.loads(raw[raw.index(b"=") + 1 :])
    count += len(items)
    del items, raw
seconds = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"tweets": count, "seconds": seconds, "max_rss_kb": rss}))
"""


def run_floor(parts: list[Path], *, gc_enabled: bool = False) -> dict[str, Any]:
    """:func:`parse_floor` in a fresh Python process: tweets, seconds, max_rss_kb."""
    args = [sys.executable, "-c", _FLOOR_CHILD, "1" if gc_enabled else "0"]
    proc = subprocess.run([*args, *map(str, parts)], stdout=subprocess.PIPE, text=True, check=True)
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _tree_rss_kb(root: int) -> tuple[int, int]:
    """Resident memory (KB) of process ``root`` and all its descendants, and their number.

    The importer may start worker processes; ``ru_maxrss`` of one process would miss them.
    """
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    total = 0
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page_kb
        except (OSError, IndexError, ValueError):
            continue
    return total, len(tree)


def run_import(archive: Path, *, profile: bool = False) -> dict[str, Any]:
    """Import ``archive`` into a fresh workspace in a fresh Python process; its figures.

    Besides the child's own figures (time, ``ru_maxrss``), the result holds
    ``tree_peak_rss_kb``: the peak of the child's and its worker processes' summed resident
    memory, sampled every 200 ms, and ``max_processes`` seen in that tree.
    """
    workspace = cache_root() / "workspaces" / f"ws-{os.getpid()}-{time.time_ns()}"
    workspace.parent.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-c", _CHILD, str(archive), str(workspace), "1" if profile else "0"]
    tree_peak = processes = 0
    # Output goes to files, not pipes, so that polling cannot deadlock on a full pipe.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(args, stdout=out, stderr=None if profile else err, text=True)
        try:
            while proc.poll() is None:
                rss, count = _tree_rss_kb(proc.pid)
                tree_peak = max(tree_peak, rss)
                processes = max(processes, count)
                time.sleep(0.2)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    lines = stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    if "error" in result:
        sys.exit(f"cannot benchmark the import: {result['error']}")
    if proc.returncode != 0 or not result:
        tail = stderr.strip().splitlines()[-15:]
        sys.exit("the import failed in the child process:\n" + "\n".join(tail))
    result["tree_peak_rss_kb"] = max(tree_peak, result["max_rss_kb"])
    result["max_processes"] = processes
    return result


def rate(count: int, seconds: float) -> str:
    """``123,456 tweets/s``."""
    return f"{count / seconds:,.0f} tweets/s" if seconds > 0 else "n/a"


def machine() -> str:
    """One line about where the figures were measured."""
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load average {load:.2f}"


def wait_until_serving(base: str, server: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Wait until the server process answers ``GET base/``; exit if it dies or never answers."""
    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{base}/", timeout=2)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def free_port() -> int:
    """A free TCP port on loopback (for a server the bench starts)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
