"""The desk's ``gates`` job (reply and quote controls on the published posts) against the
sandbox: killed (SIGKILL) with a batch of gates in doubt, then started again by the desk's
start, every post has its thread gate and post gate exactly once; paused mid-way, it stops at
a checkpoint and resume finishes the change.

A proxy in front of the PDS lets the second batch of gate writes through to the server and
holds its answer, so the job dies (or is asked to pause) at the hardest moment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from departures.desk import background as jobs
from departures.migrate.gates import parse_choice, store_choice
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from departures.workspace.locks import holder_of
from helpers.cli import CliUser, logged_in_user
from helpers.plans import simple_plan, write_plan
from helpers.proxy import ProxyHandler, proxy_for

pytestmark = pytest.mark.sandbox

THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
N = 150  # 300 gate writes: several batches, several progress reports


@dataclass
class Holder:
    """Holds the answer to the ``hold_at``-th batch of gate writes (written on the server)."""

    target: str
    hold_at: int
    batches: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_hold(self, path: str, body: bytes) -> bool:
        if not path.startswith("/xrpc/com.atproto.repo.applyWrites"):
            return False
        if THREADGATE.encode() not in body and POSTGATE.encode() not in body:
            return False
        with self.lock:
            self.batches += 1
            return self.batches == self.hold_at


def _handler(holder: Holder, answer: bool) -> type[ProxyHandler]:
    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            response = self.forward(holder.target, body)
            if hold:
                holder.held.set()
                holder.release.wait(120)
                if not answer:  # the answer is lost: the batch stays in doubt
                    self.close_connection = True
                    return
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler


@pytest.fixture
def org(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliUser:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    user = logged_in_user(sandbox, tmp_path, "deskgate", CliUser)
    workspace = Workspace.open(user.workspace)
    write_plan(workspace, simple_plan(N))
    workspace.close()
    ran = user.cli("migrate", "run", "--no-budget")
    assert ran.returncode == 0, ran.stderr
    return user


def _choose(org: CliUser, *args: str, quotes: bool) -> None:
    workspace = Workspace.open(org.workspace)
    store_choice(workspace, parse_choice(args[0], args[1:], quotes=quotes))
    workspace.close()


def _through(org: CliUser, holder: Holder, answer: bool, during: Callable[[], None]) -> None:
    sessions = org.config / "sessions.json"
    stored = sessions.read_text()
    with proxy_for(org, _handler(holder, answer)):
        jobs.start(org.workspace, "gates", {"no_budget": True}, env=org.env())
        try:
            assert holder.held.wait(120), "the second batch of gates never came"
            during()
        finally:
            holder.release.set()
        jobs.wait(org.workspace, "gates", timeout=60)
    sessions.write_text(stored)  # the PDS itself again


def _in_doubt(org: CliUser) -> int:
    ws = Workspace.open(org.workspace)
    try:
        return int(
            ws.conn.execute("SELECT count(*) FROM write_batches WHERE state = 'sent'").fetchone()[0]
        )
    finally:
        ws.close()


def test_the_gates_job_killed_then_resumed_and_paused_then_resumed_writes_each_gate_once(
    org: CliUser,
) -> None:
    rkeys = {r["uri"].rsplit("/", 1)[-1] for r in org.records("app.bsky.feed.post")}
    assert len(rkeys) == N

    # Killed with the second batch written on the server but not answered.
    _choose(org, "some", "followers", quotes=False)
    holder = Holder(org.sandbox.pds_url, hold_at=2)
    _through(org, holder, False, lambda: jobs.kill(org.workspace, "gates"))
    stale = jobs.read(org.workspace, "gates")
    assert stale.state == jobs.INTERRUPTED
    assert _in_doubt(org) == 1
    assert holder_of(org.workspace, "publish") is None
    assert jobs.resume_interrupted(org.workspace, env=org.env()) == ["gates"]
    final = jobs.wait(org.workspace, "gates", timeout=180)
    assert final.state == jobs.DONE, final.message
    assert final.result["refused"] == 0
    threadgates = org.records(THREADGATE)
    postgates = org.records(POSTGATE)
    assert sorted(r["uri"].rsplit("/", 1)[-1] for r in threadgates) == sorted(rkeys)
    assert sorted(r["uri"].rsplit("/", 1)[-1] for r in postgates) == sorted(rkeys)
    assert _in_doubt(org) == 0
    ws = Workspace.open(org.workspace)
    kept = ws.conn.execute("SELECT count(*) FROM post_gates WHERE deleted = 0").fetchone()[0]
    ws.close()
    assert kept == 2 * N  # the batch in doubt settled into the journal too

    # Paused while a batch is on its way: it stops at the next checkpoint, resume finishes.
    _choose(org, "nobody", quotes=True)
    holder = Holder(org.sandbox.pds_url, hold_at=2)
    _through(org, holder, True, lambda: jobs.pause(org.workspace, "gates"))
    paused = jobs.read(org.workspace, "gates")
    assert paused.state == jobs.PAUSED, paused.message
    assert 0 < paused.done < paused.total == 2 * N
    assert _in_doubt(org) == 0
    jobs.resume(org.workspace, "gates", env=org.env())
    done = jobs.wait(org.workspace, "gates", timeout=180)
    assert done.state == jobs.DONE, done.message
    assert {r["value"].get("allow") == [] for r in org.records(THREADGATE)} == {True}
    assert len(org.records(THREADGATE)) == N
    assert org.records(POSTGATE) == []
