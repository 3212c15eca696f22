"""``departures audience follow`` meets the server's rate limit (429) in the middle of a run.

Two networks:

* the rate-limited sandbox (the reference PDS with its real limits): a run stopped half-way,
  the account's hourly budget spent behind the tool's back, then the resumed run gets the
  server's real 429. It stops with the time to run again, follows nothing twice, loses
  nothing and does not knock again before the reset. The reset is an hour away there;
* the ordinary sandbox behind a small proxy that answers 429 with the PDS's headers and a
  reset a few seconds away: a run killed with SIGKILL, the resumed run refused mid-way,
  paused, and a later run that completes: every match followed exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser, logged_in_user
from helpers.proxy import ProxyHandler, proxy_for

pytestmark = pytest.mark.sandbox

FOLLOW = "app.bsky.graph.follow"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def fake_did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32) for _ in range(24))


class Run(CliUser):
    """The logged-in account whose follows the runs make."""

    def subjects(self) -> list[str]:
        return [record["value"]["subject"] for record in self.records(FOLLOW)]

    def states(self) -> dict[str, int]:
        ws = Workspace.open(self.workspace)
        return {
            str(state): int(n)
            for state, n in ws.conn.execute(
                "SELECT state, count(*) FROM audience_follows GROUP BY state"
            )
        }

    def batches(self) -> list[tuple[str, str | None]]:
        ws = Workspace.open(self.workspace)
        return [
            (str(state), reason)
            for state, reason in ws.conn.execute(
                "SELECT state, reason FROM write_batches ORDER BY id"
            )
        ]


def prepare(box: TestSandbox, tmp_path: Path, n: int, seed: int) -> tuple[Run, list[str]]:
    """An account logged in, a workspace whose directory gives ``n`` accepted matches."""
    run = logged_in_user(box, tmp_path, "ratelim", Run)
    rng = random.Random(seed)
    dids = [fake_did(rng) for _ in range(n)]
    ids = list(range(5000, 5000 + n))
    ws = Workspace.open(run.workspace)
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany("INSERT INTO following (account_id) VALUES (?)", [(i,) for i in ids])
    export = tmp_path / "directory.json"
    export.write_text(
        json.dumps(
            [{"x_id": i, "did": d, "level": "vouched"} for i, d in zip(ids, dids, strict=True)]
        )
    )
    imported = run.cli("audience", "import-directory", str(export))
    assert imported.returncode == 0, imported.stderr
    return run, dids


def paused_until(output: str) -> datetime:
    marker = "paused until "
    assert marker in output, output
    text = output.split(marker, 1)[1][:19]
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


# --- the real rate limit ---------------------------------------------------------------------


def spend_hourly_budget(box: TestSandbox, account: Account) -> None:
    """Another app writes until the PDS refuses: the account's hourly budget is gone."""
    post = "app.bsky.feed.post"
    writes = [
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": post,
            "value": {"$type": post, "text": "x", "createdAt": "2020-01-01T00:00:00.000Z"},
        }
        for _ in range(200)
    ]
    with httpx.Client(timeout=60) as client:
        for _ in range(20):
            response = client.post(
                f"{box.pds_url}/xrpc/com.atproto.repo.applyWrites",
                json={"repo": account.did, "writes": writes},
                headers={"Authorization": f"Bearer {account.access_jwt}"},
            )
            if response.status_code == 429:
                return
            response.raise_for_status()
    raise AssertionError("the PDS never answered 429")


def test_the_servers_429_mid_way_stops_with_the_time_to_resume_and_follows_nothing_twice(
    sandbox_rate_limited: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = sandbox_rate_limited
    monkeypatch.setenv("DEPARTURES_PLC_URL", box.plc_url)
    run, dids = prepare(box, tmp_path, 12, seed=61)
    args = ("audience", "follow", "--per-hour", "0", "--batch", "3", "--max-wait", "30")
    first = run.cli(*args, "--daily-cap", "5")  # stops half-way: 5 done, 7 to go
    assert first.returncode == 0, first.stderr
    assert "Followed 5 now" in first.stdout and "7 pending" in first.stdout
    spend_hourly_budget(box, run.account)
    batches_before = len(run.batches())

    second = run.cli(*args)
    assert second.returncode == 0, second.stderr
    until = paused_until(second.stdout)
    now = datetime.now(UTC)
    # The server's hourly window resets within the hour, and not in a moment.
    assert now + timedelta(minutes=5) < until <= now + timedelta(hours=1, minutes=1)
    assert "run 'departures audience follow' again after that time" in second.stdout
    assert "rate limited by the server" in second.stderr
    assert run.batches()[-1] == ("refused", "rate limited (429)")
    assert run.states() == {"done": 5, "pending": 7}
    subjects = run.subjects()
    assert len(subjects) == len(set(subjects)) == 5 and set(subjects) <= set(dids)

    # Run again before the reset: it knows, sends nothing and says the same.
    third = run.cli(*args)
    assert third.returncode == 0, third.stderr
    assert abs((paused_until(third.stdout) - until).total_seconds()) <= 2
    assert len(run.batches()) == batches_before + 1  # only the refused one
    assert run.states() == {"done": 5, "pending": 7} and len(run.subjects()) == 5


# --- a reset that comes soon: a proxy plays the PDS's 429 ------------------------------------


@dataclass
class Injector:
    """A pass-through proxy to the PDS that refuses ``applyWrites`` with 429 on demand."""

    target: str
    delay: float = 0.0
    passed: int = 0
    refused: int = 0
    refuse_after: int | None = None  # refuse once ``passed`` reaches this...
    reset_at: float = 0.0  # ...until this epoch time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arm(self, after: int, reset_in: float) -> float:
        with self.lock:
            self.refuse_after = self.passed + after
            self.reset_at = time.time() + reset_in
            return self.reset_at

    def refuse_now(self) -> bool:
        with self.lock:
            if self.refuse_after is None or self.passed < self.refuse_after:
                return False
            if time.time() >= self.reset_at:
                self.refuse_after = None
                return False
            self.refused += 1
            return True


def _handler(injector: Injector) -> type[ProxyHandler]:
    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            writes = self.path.startswith("/xrpc/com.atproto.repo.applyWrites")
            if writes and injector.refuse_now():
                # What the reference PDS answers when a write window is spent.
                payload = b'{"error":"RateLimitExceeded","message":"Rate Limit Exceeded"}'
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("RateLimit-Limit", "5000")
                self.send_header("RateLimit-Remaining", "0")
                self.send_header("RateLimit-Reset", str(int(injector.reset_at)))
                self.send_header("RateLimit-Policy", "5000;w=3600")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            if writes and injector.delay:
                time.sleep(injector.delay)
            response = self.forward(injector.target, body)
            if writes and response.status_code == 200:
                with injector.lock:
                    injector.passed += 1
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler


@pytest.fixture
def proxied(
    sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Run, list[str], Injector]]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    run, dids = prepare(sandbox, tmp_path, 40, seed=62)
    injector = Injector(sandbox.pds_url, delay=0.15)
    with proxy_for(run, _handler(injector)):
        yield run, dids, injector


def test_killed_then_refused_mid_way_then_resumed_after_the_reset_follows_each_once(
    proxied: tuple[Run, list[str], Injector],
) -> None:
    run, dids, injector = proxied
    args = ("audience", "follow", "--no-budget", "--per-hour", "0", "--batch", "2")
    child = subprocess.Popen(
        run.argv(*args), env=run.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while injector.passed < 4 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert 4 <= injector.passed < 20, "the kill did not land mid-way"

    # Long enough for two runs to start before it (a wait under --max-wait is waited out).
    reset_at = injector.arm(after=3, reset_in=25)
    refused = run.cli(*args, "--max-wait", "3")
    assert refused.returncode == 0, refused.stderr
    assert "rate limited by the server" in refused.stderr
    assert abs(paused_until(refused.stdout).timestamp() - reset_at) <= 3
    assert injector.refused == 1
    states = run.states()
    assert states.get("pending", 0) > 0 and "failed" not in states
    subjects = run.subjects()
    assert len(subjects) == len(set(subjects)) == states["done"]

    passed = injector.passed
    early = run.cli(*args, "--max-wait", "3")  # before the reset: nothing is sent
    assert early.returncode == 0 and "paused until" in early.stdout
    assert (injector.passed, injector.refused) == (passed, 1)

    time.sleep(max(0.0, reset_at + 1.5 - time.time()))
    final = run.cli(*args, "--max-wait", "3")
    assert final.returncode == 0, final.stderr
    assert "0 pending" in final.stdout and "paused" not in final.stdout
    subjects = run.subjects()
    assert len(subjects) == len(set(subjects)), "a subject followed twice"
    assert sorted(subjects) == sorted(dids)
    assert run.states() == {"done": 40}
