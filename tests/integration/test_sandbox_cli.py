"""``departures sandbox up|status|account|down`` end to end, each test on its own ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from departures.errors import SandboxError
from departures.sandbox import Sandbox
from departures.sandbox.processes import ProcessId, descendants, port_in_use
from departures.sandbox.pytest_plugin import free_base_port

pytestmark = pytest.mark.sandbox


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "departures.cli", "sandbox", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DEPARTURES_DEBUG": ""},
    )


@pytest.fixture
def base() -> Iterator[int]:
    """Free ports for one test; whatever the test left running is stopped afterwards."""
    port = free_base_port()
    yield port
    Sandbox(port).down()


def _status(base: int) -> dict[str, Any]:
    result = run("status", "--ports", str(base), "--json")
    assert result.returncode == 0, result.stderr
    reports: list[dict[str, Any]] = json.loads(result.stdout)
    return reports[0]


def _alive(pid: int) -> bool:
    return (
        ProcessId.of(pid) is not None
        and Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    )


def test_up_status_account_down_leaves_no_process_and_no_port(base: int) -> None:
    up = run("up", "--ports", str(base))
    assert up.returncode == 0, up.stderr
    assert f"PDS:     http://localhost:{base + 1}" in up.stdout
    assert f"AppView: http://localhost:{base + 2}" in up.stdout

    again = run("up", "--ports", str(base))
    assert again.returncode == 0, again.stderr
    assert "already up" in again.stdout

    status = _status(base)
    assert status["running"] and status["healthy"] == {"pds": True, "appview": True}
    assert status["memory_bytes"] > 50 * 2**20
    node_pid = status["pid"]
    postmaster = int(
        (Path(Sandbox(base).state.postgres_dir or "") / "postmaster.pid").read_text().split()[0]
    )
    pids = descendants(node_pid) + descendants(postmaster)

    account = run("account", "ngo-cli", "--ports", str(base))
    assert account.returncode == 0, account.stderr
    assert "Handle:       ngo-cli.test" in account.stdout
    assert "DID:          did:plc:" in account.stdout

    down = run("down", "--ports", str(base))
    assert down.returncode == 0, down.stderr
    assert "stopped" in down.stdout
    assert not any(_alive(pid) for pid in pids)
    assert not any(port_in_use(base + offset) for offset in range(5))
    assert not _status(base)["running"]

    nothing = run("down", "--ports", str(base))
    assert nothing.returncode == 0 and "nothing runs" in nothing.stdout


def test_port_in_use_is_a_clear_error_and_leaves_nothing_running(base: int) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", base + 1))
        squatter.listen()
        result = run("up", "--ports", str(base), "--no-appview")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"Error: port {base + 1} (for the sandbox's pds) is already in use"
    )
    assert "--ports" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not _status(base)["running"]
    assert not port_in_use(base)


def test_a_stale_pid_file_after_a_crash_is_handled(base: int) -> None:
    up = run("up", "--ports", str(base), "--no-appview")
    assert up.returncode == 0, up.stderr
    pid = _status(base)["pid"]
    os.killpg(pid, signal.SIGKILL)  # a crash: no clean shutdown, the PID file stays
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)

    status = run("status", "--ports", str(base))
    assert "stopped unexpectedly" in status.stdout
    restarted = run("up", "--ports", str(base), "--no-appview")
    assert restarted.returncode == 0, restarted.stderr
    assert "Sandbox up" in restarted.stdout
    assert _status(base)["pid"] != pid


def test_a_network_that_does_not_answer_in_time_is_stopped(tmp_path: Path) -> None:
    box = Sandbox(free_base_port(), tmp_path)
    with pytest.raises(SandboxError) as info:
        box.up(appview=False, timeout=0.3)
    assert "did not answer within" in info.value.message
    assert box.network.load_state() is None
    assert not port_in_use(box.base_port + 1)
