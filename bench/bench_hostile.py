"""Bench: the coalition's start page stays fast while hostile uploads stream in.

The app is served by uvicorn in a *second process* on 127.0.0.1, configured as
``departures coalition serve`` runs it (no proxy headers believed). This process first
measures ``GET /`` alone from ``--concurrency`` threads for ``--seconds`` (the baseline), then
the same ``GET /`` load while ``--attackers`` threads send hostile uploads to
``/directory/register`` one after another, cycling through:

* ``anonymous-20mb`` — a 20 MB multipart body of short lines with no cookie (the attack of
  issue 11: it used to be parsed on the event loop before the sign-in check);
* ``deep-json`` — a signed-in visitor's following.js of 200,000 ``[`` (parsed in a worker
  thread, refused as unreadable);
* ``zip-150k`` — a signed-in visitor's zip listing 150,000 entries (refused from its end
  record before :mod:`zipfile` reads the directory).

Loopback only, bounded: at most ``--max-uploads`` uploads and ``--seconds`` of load. Reports
p50/p99 of ``GET /`` in both phases, the ratio of the two p99s, and the uploads answered with
their statuses and slowest answer. Target: ``GET /`` p99 under hostile load below 100 ms
(on 2 cores); exit status 1 if missed.

    .venv/bin/python bench/bench_hostile.py [--seconds 8] [--concurrency 4] [--attackers 2]
"""

from __future__ import annotations

import argparse
import io
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter
from pathlib import Path

import httpx

from _util import free_port, wait_until_serving

P99_TARGET_MS = 100.0
BOUNDARY = "benchhostile"
BENCH_DID = "did:plc:" + "b" * 24


class BenchSignIn:
    """The bench's Bluesky sign-in: bench.test with the password "bench" (no network)."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        from departures.errors import BlueskyError

        if (handle, password) != ("bench.test", "bench"):
            raise BlueskyError("the Bluesky server refused this handle and app password")
        return BENCH_DID, handle


def serve(db: str, port: int) -> None:
    """Run in the second process: the app on ``port``, as ``coalition serve`` runs it."""
    import uvicorn

    from departures.coalition.db import connect, migrate
    from departures.coalition.handles import XrpcHandleResolver
    from departures.coalition.store import CoalitionStore
    from departures.coalition.web import CoalitionApp

    engine = connect(db)
    migrate(engine)
    app = CoalitionApp(
        CoalitionStore(engine),
        secret_key=b"bench-hostile-key-0123456789abcdef",
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url=f"http://127.0.0.1:{port}",
        bluesky_sign_in=BenchSignIn(),
        # The attackers come from one address: a high form limit lets their uploads reach the
        # parser instead of stopping at 429, which is the harder case for the server.
        forms_per_minute=1_000_000,
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="error",
        access_log=False,
        proxy_headers=False,
        forwarded_allow_ips="",
    )


# --- the hostile uploads ---------------------------------------------------------------------


def signed_in(base: str) -> tuple[str, str]:
    """A signed-in visitor's session cookie and CSRF token."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/directory")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token, "no CSRF token on /directory"
        data = {"csrf": token.group(1), "handle": "bench.test", "password": "bench"}
        client.post("/directory/sign-in", data=data)
        page = client.get("/directory")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token and BENCH_DID in page.text, "the bench visitor could not sign in"
        return client.cookies["departures_session"], token.group(1)


def many_entries_zip(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo("x")
        for n in range(count):
            info.filename = str(n)
            archive.writestr(info, b"")
    return buffer.getvalue()


def multipart(fields: dict[str, str], name: str, filename: str, content: bytes) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
        for key, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def raw_post(port: int, body_size: int, body: bytes | None, cookie: str = "") -> int:
    """POST /directory/register over a raw socket; the status (0: no answer)."""
    head = (
        f"POST /directory/register HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {body_size}\r\nConnection: close\r\n"
        + (f"Cookie: departures_session={cookie}\r\n" if cookie else "")
        + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head)

        def send_body() -> None:
            try:
                if body is not None:
                    sock.sendall(body)
                    return
                line = b"x\r\n" * 20_000
                sent = 0
                while sent < body_size:
                    chunk = line[: body_size - sent]
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # answered and closed before the body was all sent: as intended

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        answer = b""
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0


class Attack:
    """The stream of hostile uploads: kinds in turn, bounded by count and by a stop flag."""

    def __init__(self, port: int, cookie: str, csrf: str, max_uploads: int) -> None:
        self.port = port
        self.cookie = cookie
        fields = {"csrf": csrf, "consent": "on"}
        self.deep = multipart(fields, "following", "following.js", b"[" * 200_000)
        self.zip = multipart(fields, "archive", "archive.zip", many_entries_zip(150_000))
        self.max_uploads = max_uploads
        self.sent = 0
        self.statuses: Counter[str] = Counter()
        self.slowest: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def next_kind(self) -> str | None:
        with self.lock:
            if self.sent >= self.max_uploads or self.stop.is_set():
                return None
            self.sent += 1
            return ("anonymous-20mb", "deep-json", "zip-150k")[self.sent % 3]

    def run(self) -> None:
        while (kind := self.next_kind()) is not None:
            started = time.perf_counter()
            if kind == "anonymous-20mb":
                status = raw_post(self.port, 20 * 1024 * 1024, None)
            elif kind == "deep-json":
                status = raw_post(self.port, len(self.deep), self.deep, self.cookie)
            else:
                status = raw_post(self.port, len(self.zip), self.zip, self.cookie)
            took = time.perf_counter() - started
            with self.lock:
                self.statuses[f"{kind} {status}"] += 1
                self.slowest[kind] = max(self.slowest.get(kind, 0.0), took)


# --- the measured load -----------------------------------------------------------------------


def load(base: str, seconds: float, concurrency: int) -> dict[str, float]:
    """``GET /`` from ``concurrency`` threads for ``seconds``; latency percentiles."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as client:
            while time.monotonic() < stop:
                started = time.perf_counter()
                response = client.get("/")
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    errors += response.status_code != 200

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--attackers", type=int, default=2)
    parser.add_argument("--max-uploads", type=int, default=300)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        port = free_port()
        db = f"sqlite:///{Path(tmp) / 'coalition.db'}"
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", db, "--port", str(port)],
            stdin=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base, server)
            cookie, csrf = signed_in(base)
            attack = Attack(port, cookie, csrf, args.max_uploads)
            load(base, 1.0, args.concurrency)  # warm-up
            baseline = load(base, args.seconds, args.concurrency)
            attackers = [threading.Thread(target=attack.run) for _ in range(args.attackers)]
            for thread in attackers:
                thread.start()
            time.sleep(0.2)  # the first uploads are in flight when the measure starts
            hostile = load(base, args.seconds, args.concurrency)
            attack.stop.set()
            for thread in attackers:
                thread.join(120)
        finally:
            server.terminate()
            server.wait(timeout=30)

    ratio = hostile["p99_ms"] / max(baseline["p99_ms"], 0.1)
    report = {
        "get_baseline": baseline,
        "get_under_hostile_uploads": hostile,
        "p99_ratio_hostile_to_baseline": round(ratio, 2),
        "uploads_answered": dict(sorted(attack.statuses.items())),
        "slowest_upload_answer_ms": {k: round(v * 1000, 1) for k, v in attack.slowest.items()},
        "target": f"GET / p99 under hostile load < {P99_TARGET_MS:.0f} ms",
    }
    print(json.dumps(report, indent=2))
    met = hostile["p99_ms"] < P99_TARGET_MS and hostile["errors"] == 0
    print("target met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
