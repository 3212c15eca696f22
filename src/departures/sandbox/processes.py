"""Knowing which processes are the sandbox's own: PID plus the start time recorded at launch.

A PID alone can be reused by an unrelated process after a crash or a reboot; the start time
(field 22 of ``/proc/<pid>/stat``, in clock ticks since boot) together with the PID names one
process for good. The sandbox only ever signals a process whose PID *and* start time match
what it recorded when it started it, and never looks processes up by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessId:
    """One process for good: its PID and its start time since boot."""

    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessId | None:
        """The identity of the running process ``pid``, or ``None`` if there is none."""
        start = start_time(pid)
        return None if start is None else cls(pid, start)

    def is_running(self) -> bool:
        """Whether this very process still runs (not a zombie, not a reused PID)."""
        return start_time(self.pid) == self.start_time and not _is_zombie(self.pid)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or ``None`` if it does not exist."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[19])


def _is_zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    if fields is None:
        return True
    if fields[0] == "Z":
        _reap(pid)
        return True
    return False


def _reap(pid: int) -> None:
    # When the sandbox was started by this very process (the pytest plugin), the dead
    # child stays a zombie until waited for.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_group(proc: ProcessId, timeout: float = 15.0) -> bool:
    """Stop the process group led by ``proc`` (TERM, then KILL); ``False`` if it was gone.

    The network runs in its own session, so its PID is also its process-group id; the group
    is only signalled after checking that its leader is still the process we started.
    """
    if not proc.is_running():
        _reap(proc.pid)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(proc.pid)
        if not proc.is_running():
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(proc.pid)
    # Children left in the group (none expected) go too, but only while the group exists.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return True


def descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants (from ``/proc/<pid>/task/*/children``)."""
    found = [pid]
    index = 0
    while index < len(found):
        current = found[index]
        index += 1
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                found.extend(int(child) for child in (task / "children").read_text().split())
    return found


def pss_bytes(pids: list[int]) -> int:
    """Memory of ``pids`` in bytes: the sum of their proportional set sizes (PSS).

    PSS shares each shared page among the processes using it, so PostgreSQL's shared buffers,
    mapped by all its backends, count once instead of once per backend as RSS would.
    Processes that are gone count 0; without ``smaps_rollup`` RSS is used.
    """
    total = 0
    for pid in pids:
        total += _status_kib(f"/proc/{pid}/smaps_rollup", "Pss:") or _status_kib(
            f"/proc/{pid}/status", "VmRSS:"
        )
    return total * 1024


def _status_kib(path: str, key: str) -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def port_in_use(port: int) -> bool:
    """Whether something listens on ``port`` (any interface) or it cannot be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return True
    for family, host in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
        except OSError as exc:
            if family == socket.AF_INET6 and exc.errno in (97, 99):  # no IPv6 here
                continue
            return True
    return False
