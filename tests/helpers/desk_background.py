"""Job functions for the tests of :mod:`departures.desk.background`: real work, in real processes.

``count`` appends one line per step to ``steps.txt`` in the workspace and resumes after the
last line there, so a test can check that a job paused, killed or started again did every
step exactly once. The tests put ``tests/`` on the child's ``PYTHONPATH`` to import this.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from departures.desk.background import JobContext, JobKind
from departures.errors import DeparturesError

#: Holds the workspace's ``follow`` task, as the desk's follow job does.
COUNT = JobKind("helpers.desk_background:count", "follow", "a test is counting")
BROKEN = JobKind("helpers.desk_background:broken", None, "a test is failing")


def steps_file(workspace_dir: Path) -> Path:
    """Where ``count`` writes its steps."""
    return workspace_dir / "steps.txt"


def done_steps(workspace_dir: Path) -> list[int]:
    """The steps ``count`` wrote, in order."""
    path = steps_file(workspace_dir)
    if not path.exists():
        return []
    return [int(line) for line in path.read_text().split()]


def count(ctx: JobContext) -> Mapping[str, Any]:
    """Write steps 0..n-1 once each, ``delay`` seconds apart, reporting after each."""
    n = int(ctx.params["n"])
    delay = float(ctx.params.get("delay", 0.05))
    done = len(done_steps(ctx.workspace_dir))
    ctx.report(done, n)
    with steps_file(ctx.workspace_dir).open("a") as out:
        for step in range(done, n):
            ctx.sleep(delay)
            out.write(f"{step}\n")
            out.flush()
            os.fsync(out.fileno())
            ctx.report(step + 1, n, note=f"step {step}")
    return {"steps": n, "pid": os.getpid(), "sid": os.getsid(0), "at": time.time()}


def broken(ctx: JobContext) -> Mapping[str, Any]:
    """Fails the way library code does: with an error a person can act on."""
    raise DeparturesError("The archive is gone", "Put it back where it was")
