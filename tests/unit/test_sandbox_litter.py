"""Cleaning what killed sandboxes left: only what belongs to a dead owner."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from departures.errors import SandboxError
from departures.sandbox import litter
from departures.sandbox.litter import OwnerRecord, claim, is_stale, read_record, sweep
from departures.sandbox.processes import ProcessId

ME = ProcessId.of(os.getpid())
assert ME is not None
A, B = ProcessId(101, 5000), ProcessId(202, 6000)


def dead_process() -> ProcessId:
    """A process that ran and is gone (its PID and start time recorded while it lived)."""
    child = subprocess.Popen(["sleep", "30"])
    proc = ProcessId.of(child.pid)
    child.kill()
    child.wait()
    assert proc is not None and not proc.is_running()
    return proc


@pytest.fixture
def live_network() -> Iterator[ProcessId]:
    """A stand-in for a network's node process: leader of its own process group."""
    child = subprocess.Popen(["sleep", "60"], start_new_session=True)
    proc = ProcessId.of(child.pid)
    assert proc is not None
    yield proc
    child.kill()
    child.wait()


def make_folder(root: Path, base: int, record: OwnerRecord | None) -> Path:
    folder = litter.folder_for(base, root)
    (folder / "pg").mkdir(parents=True)
    (folder / "pg" / "PG_VERSION").write_text("16\n")
    if record is not None:
        (folder / litter.OWNER_FILE).write_text(json.dumps(record.to_json()))
    return folder


# -- the decision ------------------------------------------------------------------------


def test_a_folder_is_litter_only_when_its_recorded_owner_is_dead() -> None:
    alive = {A}.__contains__
    assert not is_stale(OwnerRecord(A), alive)
    assert is_stale(OwnerRecord(B), alive)
    # The network's own liveness does not keep a folder whose owner died: a network tied
    # to a killed test session is litter too (and gets stopped).
    assert is_stale(OwnerRecord(B, network=A), alive)


def test_a_folder_without_a_record_is_never_guessed_at() -> None:
    assert not is_stale(None, lambda proc: False)


def test_a_reused_pid_is_not_the_recorded_owner() -> None:
    # Same PID as a running process (this one), another start time: another process.
    reused = ProcessId(ME.pid, ME.start_time + 1)
    assert is_stale(OwnerRecord(reused), ProcessId.is_running)
    assert not is_stale(OwnerRecord(ME), ProcessId.is_running)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {},
        {"owner": None},
        {"owner": {"pid": 0, "start_time": 0}},  # a process not started yet names no owner
        {"owner": {"pid": "x", "start_time": 1}},
        {"owner": {"pid": 5}},
    ],
)
def test_what_is_not_a_record_names_no_owner(data: object) -> None:
    assert OwnerRecord.from_json(data) is None


def test_a_record_reads_back_as_written() -> None:
    record = OwnerRecord(A, network=B, postgres_dir="/var/tmp/x/pg", postgres_port=25004)
    assert OwnerRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


# -- the sweep ---------------------------------------------------------------------------


def test_the_sweep_removes_dead_owners_folders_and_keeps_the_rest(tmp_path: Path) -> None:
    stale = make_folder(tmp_path, 20010, OwnerRecord(dead_process()))
    reused = make_folder(tmp_path, 20020, OwnerRecord(ProcessId(ME.pid, ME.start_time + 7)))
    live = make_folder(tmp_path, 20030, OwnerRecord(ME))
    unrecorded = make_folder(tmp_path, 20040, None)
    other_user = tmp_path / f"{litter.PREFIX}{os.getuid() + 1}-20050"
    other_user.mkdir()
    (other_user / litter.OWNER_FILE).write_text(json.dumps(OwnerRecord(A).to_json()))

    assert sorted(sweep(tmp_path)) == sorted([stale, reused])
    assert not stale.exists() and not reused.exists()
    assert live.exists() and unrecorded.exists() and other_user.exists()


def test_the_sweep_stops_the_network_of_a_dead_owner(
    tmp_path: Path, live_network: ProcessId
) -> None:
    folder = make_folder(tmp_path, 20110, OwnerRecord(dead_process(), network=live_network))
    assert sweep(tmp_path) == [folder]
    assert not live_network.is_running()


def test_the_sweep_leaves_the_network_of_a_live_owner_running(
    tmp_path: Path, live_network: ProcessId
) -> None:
    folder = make_folder(tmp_path, 20120, OwnerRecord(ME, network=live_network))
    assert sweep(tmp_path) == []
    assert folder.exists() and live_network.is_running()


def test_a_record_planted_as_a_symlink_is_not_trusted(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 20130, None)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(OwnerRecord(dead_process()).to_json()))
    (folder / litter.OWNER_FILE).symlink_to(elsewhere)
    assert read_record(folder) is None
    assert sweep(tmp_path) == [] and folder.exists()


def test_a_folder_being_claimed_is_skipped(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 20140, OwnerRecord(dead_process()))
    with litter._locked(folder) as held:
        assert held
        assert sweep(tmp_path) == []
    assert sweep(tmp_path) == [folder]


# -- claiming ----------------------------------------------------------------------------


def test_claiming_a_dead_owners_folder_cleans_it_first(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, 20210, OwnerRecord(dead_process()))
    assert claim(20210, ME, postgres_port=20214, root=tmp_path) == folder
    assert not (folder / "pg").exists()
    assert read_record(folder) == OwnerRecord(ME, postgres_port=20214)


def test_claiming_a_live_owners_folder_is_refused(tmp_path: Path, live_network: ProcessId) -> None:
    make_folder(tmp_path, 20220, OwnerRecord(live_network, network=live_network))
    with pytest.raises(SandboxError, match="belongs to a running sandbox"):
        claim(20220, ME, root=tmp_path)


def test_the_claimant_hands_its_folder_over_to_the_network_it_launched(
    tmp_path: Path, live_network: ProcessId
) -> None:
    folder = claim(20230, ME, root=tmp_path)
    claim(20230, live_network, network=live_network, root=tmp_path)
    assert read_record(folder) == OwnerRecord(live_network, network=live_network)
    litter.forget(20230, tmp_path)
    assert not folder.exists()
