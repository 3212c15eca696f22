"""The desk's publishing job killed mid-batch (SIGKILL), then started again: every post of
the plan is on the PDS exactly once.

A proxy in front of the PDS lets the second batch of posts through to the server and never
answers it, so the job dies with a batch journaled as sent and written on the server: the
hardest moment. The desk's start (``resume_interrupted``) then finds the job interrupted and
starts it again; the journal settles the open batch with the server and sends the rest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from departures.bluesky.records import POST
from departures.desk import background as jobs
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from departures.workspace.locks import holder_of
from helpers.cli import CliUser, logged_in_user
from helpers.plans import simple_plan, write_plan
from helpers.proxy import ProxyHandler, proxy_for

pytestmark = pytest.mark.sandbox


@dataclass
class Holder:
    """Lets the ``hold_at``-th batch of posts through and never answers it (till released)."""

    target: str
    hold_at: int
    batches: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def should_hold(self, path: str, body: bytes) -> bool:
        if not path.startswith("/xrpc/com.atproto.repo.applyWrites") or POST.encode() not in body:
            return False
        with self.lock:
            self.batches += 1
            return self.batches == self.hold_at


def _handler(holder: Holder) -> type[ProxyHandler]:
    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            response = self.forward(holder.target, body)
            if hold:
                holder.held.set()
                holder.release.wait(120)
                self.close_connection = True
                return
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler


@pytest.fixture
def org(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliUser:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    return logged_in_user(sandbox, tmp_path, "deskpub", CliUser)


def test_a_publishing_job_killed_mid_batch_resumes_and_publishes_each_post_once(
    org: CliUser,
) -> None:
    n = 600  # several batches (the writer starts small, then up to 200)
    workspace = Workspace.open(org.workspace)
    plan = simple_plan(n)
    write_plan(workspace, plan)
    workspace.close()
    holder = Holder(org.sandbox.pds_url, hold_at=2)
    with proxy_for(org, _handler(holder)):
        jobs.start(org.workspace, "publish", {"no_budget": True}, env=org.env())
        try:
            assert holder.held.wait(120), "the second batch never came"
            # While it runs, the CLI may not publish from the same workspace.
            run = org.cli("migrate", "run", "--no-budget")
            assert run.returncode == 1
            assert "the desk is publishing (process" in run.stderr
            assert jobs.kill(org.workspace, "publish")
        finally:
            holder.release.set()
        stale = jobs.wait(org.workspace, "publish", timeout=30)
        assert stale.state == jobs.INTERRUPTED
        assert 1 <= stale.done < n  # the first batch is in, the second in doubt
        ws = Workspace.open(org.workspace)
        sent = ws.conn.execute("SELECT count(*) FROM write_batches WHERE state = 'sent'")
        assert sent.fetchone()[0] == 1  # the batch in doubt
        ws.close()
        assert holder_of(org.workspace, "publish") is None

        # The desk starts again: the interrupted job goes on by itself.
        assert jobs.resume_interrupted(org.workspace, env=org.env()) == ["publish"]
        final = jobs.wait(org.workspace, "publish", timeout=120)
    assert final.state == jobs.DONE, final.message
    assert (final.done, final.total) == (n, n)
    assert final.result["on_bluesky"] == n and final.result["pending"] == 0
    assert final.result["already_there"] >= 1  # the held batch, recognised on the server
    rkeys = [r["uri"].rsplit("/", 1)[-1] for r in org.records(POST)]
    assert len(rkeys) == len(set(rkeys)) == n
    assert set(rkeys) == {row[5] for row in plan}


def test_a_pause_asked_for_mid_batch_stops_after_it_and_resume_finishes_once(
    org: CliUser,
) -> None:
    n = 600
    workspace = Workspace.open(org.workspace)
    plan = simple_plan(n, start_ms=1_600_000_000_000)
    write_plan(workspace, plan)
    workspace.close()
    holder = Holder(org.sandbox.pds_url, hold_at=2)
    sessions = org.config / "sessions.json"
    stored = sessions.read_text()
    with proxy_for(org, _release_after_answer(holder)):
        jobs.start(org.workspace, "publish", {"no_budget": True}, env=org.env())
        try:
            assert holder.held.wait(120), "the second batch never came"
            assert jobs.pause(org.workspace, "publish").pausing
            assert jobs.read(org.workspace, "publish").pausing  # what the page shows meanwhile
        finally:
            holder.release.set()
        paused = jobs.wait(org.workspace, "publish", timeout=60)
        assert paused.state == jobs.PAUSED and 1 <= paused.done < n
        assert holder_of(org.workspace, "publish") is None
        # Nothing left in doubt: the pause came at a checkpoint, after the batch's answer.
        ws = Workspace.open(org.workspace)
        sent = ws.conn.execute("SELECT count(*) FROM write_batches WHERE state = 'sent'")
        assert sent.fetchone()[0] == 0
        ws.close()
        # A paused job is not resumed by the desk's start: a person paused it.
        assert jobs.resume_interrupted(org.workspace, env=org.env()) == []
        resumed = jobs.resume(org.workspace, "publish", env=org.env())
        assert resumed.params == {"no_budget": True}
        final = jobs.wait(org.workspace, "publish", timeout=120)
    assert final.state == jobs.DONE, final.message
    assert final.result["already_there"] == 0
    rkeys = [r["uri"].rsplit("/", 1)[-1] for r in org.records(POST)]
    assert len(rkeys) == len(set(rkeys)) == n

    # Undo, as the desk's confirmation starts it (straight to the PDS again): every post
    # deleted, once.
    sessions.write_text(stored)
    jobs.start(org.workspace, "undo", {"no_budget": True}, env=org.env())
    undone = jobs.wait(org.workspace, "undo", timeout=120)
    assert undone.state == jobs.DONE, undone.message
    assert undone.result["deleted"] == n
    assert org.records(POST) == []


def _release_after_answer(holder: Holder) -> type[ProxyHandler]:
    """Holds the chosen batch's answer until released, then gives it (no loss, a delay)."""

    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            response = self.forward(holder.target, body)
            if hold:
                holder.held.set()
                holder.release.wait(120)
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler
