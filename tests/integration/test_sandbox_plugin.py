"""The pytest fixtures leave nothing running when the test session is stopped from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from departures.sandbox.processes import ProcessId, port_in_use

pytestmark = pytest.mark.sandbox

SESSION = """
import json, os, time

def test_waits_forever(FIXTURE):
    state = FIXTURE.box.state
    cluster = state.cluster()
    postmaster = cluster.postmaster_pid() if cluster else None
    with open(os.environ["REPORT"] + ".tmp", "w") as out:
        json.dump({"pid": state.pid, "base": state.base_port, "postmaster": postmaster}, out)
    os.rename(os.environ["REPORT"] + ".tmp", os.environ["REPORT"])
    time.sleep(600)
"""


def _running_session(
    tmp_path: Path, fixture: str
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    (tmp_path / "test_session.py").write_text(SESSION.replace("FIXTURE", fixture))
    report = tmp_path / "report.json"
    session = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "departures.sandbox.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "test_session.py",
        ],
        cwd=tmp_path,
        env={**os.environ, "REPORT": str(report)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while not report.exists():
        assert session.poll() is None, "the inner test session ended early"
        assert time.monotonic() < deadline, "the inner sandbox did not start"
        time.sleep(0.2)
    return session, json.loads(report.read_text())


def _gone(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = ProcessId.of(pid)
        if proc is None or not proc.is_running():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize(
    ("signum", "fixture"),
    [(signal.SIGTERM, "sandbox_rate_limited"), (signal.SIGKILL, "sandbox")],
    ids=["SIGTERM", "SIGKILL-with-postgres"],
)
def test_a_stopped_test_session_leaves_no_network_behind(
    tmp_path: Path, signum: int, fixture: str
) -> None:
    session, started = _running_session(tmp_path, fixture)
    try:
        session.send_signal(signum)
        session.wait(timeout=60)
        assert _gone(started["pid"])
        assert not port_in_use(started["base"] + 1)
        if started["postmaster"]:  # the network stops PostgreSQL itself when orphaned
            assert _gone(started["postmaster"])
            assert not port_in_use(started["base"] + 4)
    finally:
        if session.poll() is None:
            session.kill()
            session.wait()
