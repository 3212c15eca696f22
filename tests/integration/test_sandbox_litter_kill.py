"""A sandbox start cleans what a killed session left, and nothing that is still in use."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from departures.sandbox import Sandbox, litter
from departures.sandbox.litter import OwnerRecord, read_record
from departures.sandbox.processes import ProcessId
from departures.sandbox.pytest_plugin import free_base_port

pytestmark = pytest.mark.sandbox


def _sleeper(processes: list[subprocess.Popen[bytes]]) -> ProcessId:
    child = subprocess.Popen(["sleep", "300"], start_new_session=True)
    processes.append(child)
    proc = ProcessId.of(child.pid)
    assert proc is not None
    return proc


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        child.kill()
        child.wait()


def _folder(root: Path, base: int, record: OwnerRecord) -> Path:
    folder = litter.folder_for(base, root)
    (folder / "pg" / "base").mkdir(parents=True)
    (folder / "pg" / "PG_VERSION").write_text("16\n")
    (folder / litter.OWNER_FILE).write_text(json.dumps(record.to_json()))
    return folder


def test_the_next_start_removes_a_dead_owners_folder_and_keeps_a_live_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    root = tmp_path / "var-tmp"
    root.mkdir()
    monkeypatch.setattr(litter, "ROOT", root)

    # A session killed outright: its owner is gone, its network (a stand-in) still runs.
    killed_owner = _sleeper(processes)
    orphan_network = _sleeper(processes)
    processes[0].kill()
    processes[0].wait()
    stale = _folder(root, 20000, OwnerRecord(killed_owner, network=orphan_network))
    # Another session's network, alive and well.
    live_owner = _sleeper(processes)
    live = _folder(root, 20010, OwnerRecord(live_owner, network=live_owner))

    box = Sandbox(free_base_port(), tmp_path / "run")
    try:
        box.up(appview=False, tie_to_this_process=True, timeout=180)
        assert not stale.exists()
        assert not orphan_network.is_running()
        assert live.exists() and live_owner.is_running()
        # The new network's own record: tied to this process, naming its node process.
        own = litter.folder_for(box.base_port, root)
        record = read_record(own)
        assert record is not None
        assert record.owner == ProcessId.of(os.getpid())
        assert record.network == box.state.process
    finally:
        box.down()
    assert not litter.folder_for(box.base_port, root).exists()
    assert live.exists()


INNER_SESSION = """
import json, os, time

def test_waits_forever(sandbox):
    state = sandbox.box.state
    cluster = state.cluster()
    report = {"base": state.base_port, "pid": state.pid,
              "postgres_dir": str(cluster.data_dir) if cluster else None}
    with open(os.environ["REPORT"] + ".tmp", "w") as out:
        json.dump(report, out)
    os.rename(os.environ["REPORT"] + ".tmp", os.environ["REPORT"])
    time.sleep(600)
"""


def test_a_killed_session_leaves_its_folder_and_the_next_start_removes_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_SESSION)
    report = tmp_path / "report.json"
    inner = subprocess.Popen(
        [
            *(sys.executable, "-m", "pytest", "-q", "test_inner.py"),
            *("-p", "departures.sandbox.pytest_plugin", "-p", "no:cacheprovider"),
        ],
        cwd=tmp_path,
        env={**os.environ, "REPORT": str(report)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not report.exists():
            assert inner.poll() is None, "the inner test session ended early"
            assert time.monotonic() < deadline, "the inner sandbox did not start"
            time.sleep(0.2)
        started = json.loads(report.read_text())
        folder = litter.folder_for(started["base"])
        record = read_record(folder)
        assert record is not None and record.owner == ProcessId.of(inner.pid)
        inner.send_signal(signal.SIGKILL)  # killed outright: no fixture teardown runs
        inner.wait(timeout=60)
    finally:
        if inner.poll() is None:
            inner.kill()
            inner.wait()

    assert folder.exists()  # the litter this is about
    # The next start sweeps before it starts anything; the sweep is that step.
    assert folder in litter.sweep()
    assert not folder.exists()
