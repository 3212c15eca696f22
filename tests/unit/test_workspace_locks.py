"""The workspace's task locks: what excludes what, who is named, nothing left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from departures.workspace.locks import CONFLICTS, TASKS, WorkspaceBusy, holder_of, task_lock


def test_the_conflicts_are_symmetric_and_every_task_excludes_itself() -> None:
    for task, others in CONFLICTS.items():
        assert task in others
        for other in others:
            assert task in CONFLICTS[other], (task, other)


@pytest.mark.parametrize("first", TASKS)
@pytest.mark.parametrize("second", TASKS)
def test_a_task_is_refused_exactly_while_a_conflicting_one_runs(
    tmp_path: Path, first: str, second: str
) -> None:
    with task_lock(tmp_path, first, f"the desk is doing {first}"):
        if second in CONFLICTS[first]:
            with pytest.raises(WorkspaceBusy) as caught, task_lock(tmp_path, second, "the CLI"):
                pass
            assert f"the desk is doing {first}" in caught.value.one_line()
            assert "Wait until it has finished" in caught.value.one_line()
        else:
            with task_lock(tmp_path, second, "the CLI"):
                assert holder_of(tmp_path, first) is not None
    for task in TASKS:
        assert holder_of(tmp_path, task) is None


def test_a_killed_holder_leaves_the_workspace_free(tmp_path: Path) -> None:
    # The kernel drops a flock with its process: no stale lock after a kill.
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from departures.workspace.locks import task_lock\n"
        "with task_lock(Path(sys.argv[1]), 'publish', 'a publisher'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        held = holder_of(tmp_path, "publish")
        assert held is not None and held.startswith(f"a publisher (process {child.pid}")
        with pytest.raises(WorkspaceBusy), task_lock(tmp_path, "plan", "the desk"):
            pass
    finally:
        child.kill()
        child.wait()
        assert child.stdout is not None
        child.stdout.close()
    with task_lock(tmp_path, "plan", "the desk"):
        pass
