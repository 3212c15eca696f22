"""The desk's background jobs: real processes, their status files, pause, kill and resume."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from departures.desk import background as jobs
from departures.errors import WorkspaceError
from departures.workspace.locks import holder_of, task_lock
from helpers.desk_background import BROKEN, COUNT, done_steps
from helpers.waiting import poll

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def env() -> dict[str, str]:
    """The job's environment: this one, with ``tests/`` importable for the test's jobs."""
    variables = dict(os.environ)
    variables["PYTHONPATH"] = os.pathsep.join(
        [str(TESTS), *filter(None, [variables.get("PYTHONPATH")])]
    )
    return variables


@pytest.fixture(autouse=True)
def kinds() -> Iterator[None]:
    jobs.register("count", COUNT)
    jobs.register("broken", BROKEN)
    yield
    jobs.KINDS.pop("count", None)
    jobs.KINDS.pop("broken", None)


def test_a_job_runs_in_its_own_process_and_session_and_reports_its_result(
    tmp_path: Path, env: dict[str, str]
) -> None:
    status = jobs.start(tmp_path, "count", {"n": 5, "delay": 0.01}, env=env)
    assert status.state == jobs.RUNNING and status.pid and status.pid != os.getpid()
    final = jobs.wait(tmp_path, "count", timeout=30)
    assert final.state == jobs.DONE, final.message
    assert (final.done, final.total, final.percent) == (5, 5, 100)
    assert final.result["steps"] == 5
    # Its own session: closing the desk's terminal (SIGHUP to its group) does not reach it.
    assert final.result["sid"] != os.getsid(0)
    assert done_steps(tmp_path) == [0, 1, 2, 3, 4]


def test_progress_with_counts_and_eta_is_readable_while_it_runs(
    tmp_path: Path, env: dict[str, str]
) -> None:
    jobs.start(tmp_path, "count", {"n": 40, "delay": 0.1}, env=env)
    seen = poll(lambda: (s := jobs.read(tmp_path, "count")).done >= 5 and s, seconds=30)
    assert seen.state == jobs.RUNNING and seen.total == 40 and 5 <= seen.done < 40
    assert seen.eta_seconds is not None and 0 < seen.eta_seconds < 60
    assert seen.to_json()["percent"] == seen.percent
    jobs.pause(tmp_path, "count")
    assert jobs.wait(tmp_path, "count", timeout=30).state == jobs.PAUSED


def test_pause_stops_at_a_checkpoint_and_resume_goes_on_exactly_once(
    tmp_path: Path, env: dict[str, str]
) -> None:
    jobs.start(tmp_path, "count", {"n": 30, "delay": 0.05}, env=env)
    poll(lambda: jobs.read(tmp_path, "count").done >= 3, seconds=30)
    assert jobs.pause(tmp_path, "count").pausing
    paused = jobs.wait(tmp_path, "count", timeout=30)
    assert paused.state == jobs.PAUSED and 3 <= paused.done < 30
    steps = done_steps(tmp_path)
    assert len(steps) == paused.done
    resumed = jobs.resume(tmp_path, "count", env=env)
    assert resumed.state == jobs.RUNNING
    assert resumed.params == {"n": 30, "delay": 0.05}
    assert jobs.wait(tmp_path, "count", timeout=30).state == jobs.DONE
    assert done_steps(tmp_path) == list(range(30))


def test_a_killed_job_is_seen_as_interrupted_and_the_desk_starts_it_again(
    tmp_path: Path, env: dict[str, str]
) -> None:
    jobs.start(tmp_path, "count", {"n": 25, "delay": 0.05}, env=env)
    poll(lambda: jobs.read(tmp_path, "count").done >= 3, seconds=30)
    assert jobs.kill(tmp_path, "count")
    stale = poll(
        lambda: (s := jobs.read(tmp_path, "count")).state == jobs.INTERRUPTED and s, seconds=10
    )
    assert stale.done >= 3
    # Nothing holds the workspace after a kill: the kernel dropped the lock with the process.
    assert holder_of(tmp_path, "follow") is None
    assert jobs.resume_interrupted(tmp_path, env=env) == ["count"]
    assert jobs.wait(tmp_path, "count", timeout=30).state == jobs.DONE
    # Every step exactly once (the kill came between steps or during one's wait).
    assert done_steps(tmp_path) == list(range(25))
    assert jobs.resume_interrupted(tmp_path, env=env) == []


def test_a_job_and_a_cli_command_exclude_each_other_with_a_clear_message(
    tmp_path: Path, env: dict[str, str]
) -> None:
    jobs.start(tmp_path, "count", {"n": 200, "delay": 0.05}, env=env)
    poll(lambda: holder_of(tmp_path, "follow"), seconds=30)
    with (
        pytest.raises(WorkspaceError) as refused,
        task_lock(tmp_path, "follow", "'departures audience follow' is following"),
    ):
        pass
    assert "a test is counting (process" in refused.value.one_line()
    with pytest.raises(WorkspaceError) as again:
        jobs.start(tmp_path, "count", {"n": 200}, env=env)
    assert "under way already" in again.value.one_line()
    jobs.pause(tmp_path, "count")
    assert jobs.wait(tmp_path, "count", timeout=30).state == jobs.PAUSED
    with task_lock(tmp_path, "publish", "'departures migrate run' is publishing"):
        with pytest.raises(WorkspaceError) as busy:
            jobs.resume(tmp_path, "count", env=env)
        assert "'departures migrate run' is publishing (process" in busy.value.one_line()
        # The CLI holds the workspace: the paused job is not taken for a running one.
        assert jobs.read(tmp_path, "count").state == jobs.PAUSED


def test_a_failing_job_says_why_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    jobs.start(tmp_path, "broken", {}, env=env)
    final = jobs.wait(tmp_path, "broken", timeout=30)
    assert final.state == jobs.FAILED
    assert final.message == "The archive is gone. Put it back where it was."
    assert jobs.start(tmp_path, "broken", {}, env=env).state == jobs.RUNNING  # lock released


def test_an_unknown_kind_and_a_job_never_started(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError):
        jobs.start(tmp_path, "nonsense", {})
    assert jobs.read(tmp_path, "count").state == jobs.IDLE
    assert jobs.resume_interrupted(tmp_path) == []
