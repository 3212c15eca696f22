"""The sandbox's logic that needs no network: handles, ports, process identity, stale state."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from departures.errors import SandboxError
from departures.sandbox.accounts import full_handle
from departures.sandbox.install import cache_root, ensure_runtime, install_key, installed_runtime
from departures.sandbox.network import Network, SandboxState, ports_for
from departures.sandbox.processes import ProcessId, port_in_use, stop_group


@pytest.mark.parametrize(
    ("given", "expected"),
    [("ngo-demo", "ngo-demo.test"), ("NGO.test", "ngo.test"), ("@abc", "abc.test")],
)
def test_handles_get_the_test_domain(given: str, expected: str) -> None:
    assert full_handle(given) == expected


@pytest.mark.parametrize("bad", ["ab", "-abc", "abc-", "a" * 19, "has space", "dot.ted"])
def test_invalid_handles_are_refused_with_a_hint(bad: str) -> None:
    with pytest.raises(SandboxError) as info:
        full_handle(bad)
    assert "not a valid sandbox handle" in info.value.message
    assert info.value.hint


def test_ports_follow_the_base_port() -> None:
    assert ports_for(3000, appview=False) == {"plc": 3000, "pds": 3001}
    assert ports_for(3000, appview=True) == {
        "plc": 3000,
        "pds": 3001,
        "appview": 3002,
        "ozone": 3003,
        "postgres": 3004,
    }


def test_cache_root_is_overridable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEPARTURES_CACHE", str(tmp_path))
    assert cache_root() == tmp_path / "sandbox"


def test_install_key_is_stable_and_short() -> None:
    assert install_key() == install_key()
    assert len(install_key()) == 12


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_in_use(port)
    assert not port_in_use(port)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )


def test_a_process_is_recognised_by_pid_and_start_time() -> None:
    child = _sleeper()
    try:
        proc = ProcessId.of(child.pid)
        assert proc is not None and proc.is_running()
        assert not ProcessId(child.pid, proc.start_time + 1).is_running()
    finally:
        child.kill()
        child.wait()
    assert not proc.is_running()


def _state_for(proc: ProcessId) -> SandboxState:
    return SandboxState(
        base_port=29990,
        appview=False,
        rate_limits=False,
        pid=proc.pid,
        start_time=proc.start_time,
        plc_url="http://localhost:29990",
        pds_url="http://localhost:29991",
        appview_url=None,
        ozone_url=None,
        postgres_dir=None,
        postgres_port=None,
        started_at=0.0,
    )


def test_down_with_a_stale_pid_file_cleans_up_without_error(tmp_path: Path) -> None:
    child = _sleeper()
    proc = ProcessId.of(child.pid)
    assert proc is not None
    child.kill()
    child.wait()
    network = Network(29990, tmp_path)
    (tmp_path / "state.json").write_text(json.dumps(asdict(_state_for(proc))))
    assert network.status().stale
    assert network.down() == "cleaned up after a sandbox that had already stopped"
    assert not (tmp_path / "state.json").exists()
    assert network.down() == "nothing runs"


def test_down_never_signals_a_process_whose_pid_was_reused(tmp_path: Path) -> None:
    child = _sleeper()
    try:
        proc = ProcessId.of(child.pid)
        assert proc is not None
        # Same PID, other start time: the recorded process is gone and the PID now names a
        # stranger, which must survive `down`.
        stranger = ProcessId(proc.pid, proc.start_time - 1)
        (tmp_path / "state.json").write_text(json.dumps(asdict(_state_for(stranger))))
        Network(29990, tmp_path).down()
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_stop_group_stops_the_process_it_started() -> None:
    child = _sleeper()
    proc = ProcessId.of(child.pid)
    assert proc is not None
    assert stop_group(proc, timeout=5)
    assert child.wait(timeout=5) is not None
    assert not stop_group(proc)


def test_missing_npm_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEPARTURES_CACHE", str(tmp_path / "cache"))
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(SandboxError) as info:
        ensure_runtime()
    assert info.value.message.startswith("npm is not installed")
    assert "apt-get install npm" in (info.value.hint or "")
    assert installed_runtime() is None


def test_a_half_finished_install_is_never_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEPARTURES_CACHE", str(tmp_path))
    half = tmp_path / "sandbox" / f".tmp-runtime-{install_key()}-12345" / "node"
    half.mkdir(parents=True)
    assert installed_runtime() is None
