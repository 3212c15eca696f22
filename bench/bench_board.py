"""Bench: the departures board on its day in the news — the board page, ``board.json``, the
Atom feed and the share image served by uvicorn, loaded from another process.

Three processes on loopback: this one builds a campaign of ``--organisations`` (default 200)
pledged organisations and starts the server (``CoalitionApp`` under uvicorn) and then, page by
page, a *client process* that keeps ``--concurrency`` HTTP/1.1 keep-alive connections busy
for ``--seconds`` (asyncio over raw sockets: a Python HTTP library would cost the client more
CPU than the server, on a 2-core machine). Requests/s and p50/p99 latency are reported, on
SQLite and on PostgreSQL (a throwaway cluster from the Debian binaries, as the tests use) in
the same run, each for two settings of the server:

* as served (``public_cache_seconds=2``: a process holds its rendering two seconds before it
  reads the board version again);
* ``*_every_read`` (``public_cache_seconds=0``): every request reads the board version from the
  store — what a reader sees within one query of a change, the case that needs the store to
  be fast.

``board_304`` is the board page revalidated with its ``If-None-Match``. Target: the board
page as served at ≥ 1,000 requests/s with p99 < 50 ms on each engine; exit status 1 if missed
or if any request failed.

    .venv/bin/python bench/bench_board.py [--no-postgres] [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import free_port, wait_until_serving
from bench_coalition import populate, serve

RPS_TARGET = 1000.0
P99_TARGET_MS = 50.0


# --- the client process ------------------------------------------------------------------------


async def _connection(
    port: int, request: bytes, stop: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status not in (200, 304):
                errors.append(status)
            if time.monotonic() >= stop:
                break
    finally:
        writer.close()


async def _load(
    port: int, path: str, etag: str, seconds: float, concurrency: int
) -> dict[str, float]:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept-Encoding: identity"]
    if etag:
        lines.append(f"If-None-Match: {etag}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    errors: list[int] = []
    began = time.monotonic()
    stop = began + seconds
    await asyncio.gather(
        *(_connection(port, request, stop, latencies, errors) for _ in range(concurrency))
    )
    elapsed = time.monotonic() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p99_ms": round(latencies[max(int(len(latencies) * 0.99) - 1, 0)] * 1000, 1),
    }


def client(port: int, path: str, etag: str, seconds: float, concurrency: int) -> None:
    """Run in the client process: load ``path``, print the figures as JSON."""
    print(json.dumps(asyncio.run(_load(port, path, etag, seconds, concurrency))))


def measure(
    port: int, path: str, seconds: float, concurrency: int, etag: str = ""
) -> dict[str, float]:
    """The figures of ``path`` from a client process."""
    command = [sys.executable, __file__, "--client", path, "--port", str(port)]
    command += ["--seconds", str(seconds), "--concurrency", str(concurrency), "--etag", etag]
    out = subprocess.run(command, check=True, capture_output=True, text=True, timeout=seconds + 60)
    figures: dict[str, float] = json.loads(out.stdout)
    return figures


# --- the orchestration -------------------------------------------------------------------------


def bench_server(
    url: str, slug: str, hold: float, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", url, "--port", str(port), "--hold", str(hold)],
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, server)
        suffix = "" if hold else "_every_read"
        page = f"/campaigns/{slug}"
        results: dict[str, dict[str, float]] = {}
        for name, path in (
            ("board", page),
            ("json", f"{page}/board.json"),
            ("feed", f"{page}/feed.atom"),
            ("share_png", f"{page}/share.png"),
        ):
            measure(port, path, 0.5, args.concurrency)  # warm-up: the first rendering
            results[name + suffix] = measure(port, path, args.seconds, args.concurrency)
        etag = httpx.get(f"{base}{page}").headers["etag"]
        results["board_304" + suffix] = measure(port, page, args.seconds, args.concurrency, etag)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def bench_engine(url: str, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    slug = populate(url, args.organisations)
    results: dict[str, dict[str, float]] = {}
    for hold in (2.0, 0.0):
        results.update(bench_server(url, slug, hold, args))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--organisations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hold", type=float, default=2.0, help=argparse.SUPPRESS)
    parser.add_argument("--etag", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.hold)
        return 0
    if args.client:
        client(args.port, args.client, args.etag, args.seconds, args.concurrency)
        return 0
    report: dict[str, object] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        report["sqlite"] = bench_engine(f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if not args.no_postgres:
        from departures.sandbox.postgres import Cluster

        port = free_port()
        root = Path(f"/var/tmp/departures-board-bench-{os.getpid()}")
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
    report["load_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))
    missed = [
        f"{engine} {page}: {figures['rps']} req/s, p99 {figures['p99_ms']} ms"
        for engine in ("sqlite", "postgresql")
        for page, figures in report.get(engine, {}).items()  # type: ignore[union-attr]
        if (page == "board" and (figures["rps"] < RPS_TARGET or figures["p99_ms"] >= P99_TARGET_MS))
        or figures["errors"]
    ]
    if missed:
        print("Target missed: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
