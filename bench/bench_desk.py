"""Bench: the desk on a 300,000-tweet workspace — the selection page's latency, and an
import through the desk against the CLI's on the same archive, measured in the same run.

    .venv/bin/python bench/bench_desk.py [--tweets 300000] [--requests 200] [--rounds 1]

Uses the cached synthetic archive of ``_util.cached_archive`` (generated on first use,
~1 min, without media files: the import's work is the tweets). Then, ``--rounds`` times and
alternating: ``departures archive import`` in a fresh process (wall time from start to exit)
and the same archive imported through a running ``departures desk`` (a fresh process serving
on 127.0.0.1; the POST's round trip plus the job's own time from start to end, polled
every 0.7 s as the page's script does), each into its own fresh workspace. Then the desk
plans its workspace with the default choices (a job, timed) and a client in this process
asks for ``--requests`` random pages of step 2 (``/choose?page=N``, 25 posts a page), one
at a time, and prints the median, p95 and the slowest.

Targets (issue 13): the selection page's p95 < 150 ms; the desk's import within 10 % of the
CLI's. Exit status 1 when either is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from _util import cached_archive, machine

PAGE_TARGET = 0.150
IMPORT_TARGET = 1.10
PER_PAGE = 25


def cli_import(archive: Path, workspace: Path) -> float:
    """Seconds of ``departures archive import`` in a fresh process."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from departures.entry import main; main()",
         "--workspace", str(workspace), "archive", "import", str(archive)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


class DeskProcess:
    """``departures desk --no-browser`` in a fresh process, and a signed-in client."""

    def __init__(self, workspace: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # What the desk says on stderr (a traceback, if any) is kept for the report.
        self.log = workspace.parent / f"{workspace.name}-desk.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from departures.entry import main; main()",
                 "--workspace", str(workspace), "desk", "--no-browser"],
                stdout=subprocess.PIPE, stderr=log, text=True, env=env,
            )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        url = line.split(" at ", 1)[1].strip()
        self.base = url.split("/login")[0]
        self.client = httpx.Client(base_url=self.base, timeout=600)
        assert self.client.get(url).status_code == 303
        page = self.client.get("/archive").text
        self.csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    def run_job(self, path: str, data: dict[str, str]) -> float:
        """Seconds of a job: the POST that starts it, then the job's own time from start to
        end as the desk measured it (polling the way the page's script does, not faster, so
        the client does not slow the desk down)."""
        started = time.perf_counter()
        answer = self.client.post(path, data={**data, "csrf": self.csrf})
        posted = time.perf_counter() - started
        job = answer.headers["location"]
        assert job.startswith("/jobs/"), (answer.status_code, answer.text[:500])
        while True:
            try:
                state = self.get(job + ".json").json()
            except httpx.HTTPError:
                print(f"the desk stopped (exit {self.process.poll()}):")
                print(self.log.read_text()[-3000:])
                raise
            if state["state"] != "running":
                break
            time.sleep(0.7)
        assert state["state"] == "done", state
        return posted + float(state["seconds"])

    def get(self, path: str) -> httpx.Response:
        """GET ``path``, once more on a connection the server had just closed (as browsers
        retry an idempotent request on a dropped keep-alive connection)."""
        try:
            return self.client.get(path)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return self.client.get(path)

    def close(self) -> None:
        self.client.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="The desk on a large workspace.")
    parser.add_argument("--tweets", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    archive, stats = cached_archive(args.tweets, media=False)
    print(f"{machine()}; archive: {archive} ({stats.get('tweets', args.tweets):,} tweets)")
    cli_times: list[float] = []
    desk_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        desk: DeskProcess | None = None
        for round_ in range(args.rounds):
            cli_times.append(cli_import(archive, root / f"cli-{round_}"))
            print(f"round {round_ + 1}: CLI import  {cli_times[-1]:6.1f} s")
            if desk is not None:
                desk.close()
            desk = DeskProcess(root / f"desk-{round_}")
            desk_times.append(desk.run_job("/archive/path", {"path": str(archive)}))
            print(f"round {round_ + 1}: desk import {desk_times[-1]:6.1f} s")
        assert desk is not None
        try:
            planning = desk.run_job("/choose", {})
            first = desk.client.get("/choose")
            posts = int(first.text.count('<article class="post'))
            total_pages = int(first.text.split("Page 1 of ", 1)[1].split("<", 1)[0])
            print(f"plan through the desk: {planning:.1f} s, {total_pages:,} pages of {posts}")
            rng = random.Random(13)
            latencies: list[float] = []
            for _ in range(args.requests):
                page = rng.randint(1, total_pages)
                started = time.perf_counter()
                answer = desk.get(f"/choose?page={page}")
                latencies.append(time.perf_counter() - started)
                assert answer.status_code == 200
            started = time.perf_counter()
            counted = desk.client.get("/choose/counts?shown=1&originals=on&threads=on&quotes=on"
                                      "&skip_withheld=on&since=2020-01-01")  # fmt: skip
            first_count = time.perf_counter() - started
            started = time.perf_counter()
            desk.client.get("/choose/counts?shown=1&originals=on&threads=on&min_likes=5")
            second_count = time.perf_counter() - started
            assert counted.status_code == 200
        finally:
            desk.close()
    latencies.sort()
    p95 = latencies[max(0, round(0.95 * len(latencies)) - 1)]
    cli, through_desk = min(cli_times), min(desk_times)
    ratio = through_desk / cli
    print(
        f"step 2 page (/choose?page=N, {args.requests} requests): median "
        f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, slowest "
        f"{latencies[-1] * 1000:.0f} ms (target p95 < {PAGE_TARGET * 1000:.0f} ms)"
    )
    print(f"live counts: first {first_count:.2f} s (loads the tweets), then {second_count:.2f} s")
    print(
        f"import: CLI {cli:.1f} s, desk {through_desk:.1f} s (best of {args.rounds}): "
        f"desk / CLI = {ratio:.2f} (target <= {IMPORT_TARGET:.2f})"
    )
    if p95 >= PAGE_TARGET or ratio > IMPORT_TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
