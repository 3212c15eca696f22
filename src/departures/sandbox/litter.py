"""What a killed sandbox leaves behind, and cleaning it at the next start.

Every network started here gets a folder ``departures-sandbox-<uid>-<base port>`` under the
system's temporary directory (:data:`ROOT`, ``/var/tmp``): as root its PostgreSQL cluster
lives there (PostgreSQL refuses root's home), and in every case it holds ``owner.json``,
the record of who the network belongs to:

- ``owner``: the process whose life the network's life is tied to, as PID *and* start time
  (a PID alone can be reused by an unrelated process). For a network tied to its caller (the
  pytest plugin) that is the caller; for a network meant to outlive its ``sandbox up``, it is
  the network's own node process once launched (the ``up`` process until then);
- ``network``: the node process, to stop it if its owner is gone;
- the PostgreSQL cluster's directory and port, to stop it if it still runs.

``sandbox down`` removes the folder. When a test session is killed outright, nothing does:
the network notices and stops itself, but the folder (a whole PostgreSQL data directory as
root) stays, and a cluster whose network was killed with ``SIGKILL`` keeps running. So every
start first sweeps the folders of this user: a folder is removed, with the network and
cluster it names stopped, only when its recorded owner is dead. A folder without a record,
another user's folder, or a folder whose owner lives is never touched.

Each folder is locked (``flock`` on the folder itself) while it is claimed or swept, so a
sweep never removes a folder that a concurrent ``up`` is claiming.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from departures.errors import SandboxError
from departures.sandbox.processes import ProcessId, stop_group

#: The system's temporary directory that outlives a reboot's cleaning of /tmp less often,
#: and that PostgreSQL's ``postgres`` user can reach when the sandbox runs as root.
ROOT = Path("/var/tmp")
PREFIX = "departures-sandbox-"
OWNER_FILE = "owner.json"
POSTGRES_USER = "postgres"


def folder_for(base_port: int, root: Path | None = None) -> Path:
    """The folder of this user's network on ``base_port``."""
    return (root or ROOT) / f"{PREFIX}{os.getuid()}-{base_port}"


@dataclass(frozen=True)
class OwnerRecord:
    """Who a sandbox folder belongs to, as written in its ``owner.json``."""

    owner: ProcessId
    network: ProcessId | None = None
    postgres_dir: str | None = None
    postgres_port: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as written to ``owner.json``."""
        return {
            "owner": _process_json(self.owner),
            "network": _process_json(self.network) if self.network else None,
            "postgres_dir": self.postgres_dir,
            "postgres_port": self.postgres_port,
        }

    @classmethod
    def from_json(cls, data: Any) -> OwnerRecord | None:
        """The record in ``data``, or ``None`` if it is not one (then nothing is cleaned)."""
        try:
            owner = _process(data["owner"])
            if owner is None:
                return None
            network = _process(data.get("network"))
            port = data.get("postgres_port")
            directory = data.get("postgres_dir")
            return cls(
                owner,
                network,
                str(directory) if directory is not None else None,
                int(port) if port is not None else None,
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _process_json(proc: ProcessId) -> dict[str, int]:
    return {"pid": proc.pid, "start_time": proc.start_time}


def _process(data: Any) -> ProcessId | None:
    if data is None:
        return None
    pid, start = int(data["pid"]), int(data["start_time"])
    # PID 0 or no start time is no process: such a record names no owner to wait for.
    return ProcessId(pid, start) if pid > 0 and start > 0 else None


def is_stale(record: OwnerRecord | None, alive: Callable[[ProcessId], bool]) -> bool:
    """Whether a folder with this record is litter: its recorded owner is dead.

    ``alive`` says whether a recorded process (PID and start time) still runs. No record (an
    older release's folder, or one being claimed): not litter, it is never guessed at.
    """
    if record is None:
        return False
    return not alive(record.owner)


def read_record(folder: Path) -> OwnerRecord | None:
    """The folder's owner record, if it has a readable one written by this user."""
    path = folder / OWNER_FILE
    try:
        if path.is_symlink() or path.stat().st_uid != os.geteuid():
            return None
        return OwnerRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def _trusted_uids() -> set[int]:
    uids = {os.geteuid()}
    if os.geteuid() == 0:  # as root the folder is handed to PostgreSQL's service user
        with contextlib.suppress(KeyError):
            uids.add(pwd.getpwnam(POSTGRES_USER).pw_uid)
    return uids


@contextlib.contextmanager
def _locked(folder: Path, *, wait: bool = True) -> Iterator[bool]:
    """Lock ``folder`` itself; yields ``False`` if it is gone or (``wait=False``) busy."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        # Removed (and maybe made again) while we waited: this lock holds nothing.
        try:
            same = os.stat(folder, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        yield same
    finally:
        os.close(fd)


def claim(
    base_port: int,
    owner: ProcessId,
    *,
    network: ProcessId | None = None,
    postgres_dir: Path | None = None,
    postgres_port: int | None = None,
    root: Path | None = None,
) -> Path:
    """Create (or take over) the folder of the network on ``base_port`` and record its owner.

    Whatever a dead owner left in it is cleaned first; called again to update the record
    (the network's process once launched).
    """
    folder = folder_for(base_port, root)
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if folder.is_symlink() or info.st_uid not in _trusted_uids():
        raise SandboxError(
            f"{folder} belongs to another user",
            f"Remove it, or choose other ports with --ports BASE (now {base_port})",
        )
    with _locked(folder) as held:
        if not held:
            raise SandboxError(f"{folder} was removed while starting", "Start again")
        record = read_record(folder)
        # This process may hand its own record over (to the network it launched).
        if record is not None and record.owner not in (owner, ProcessId.of(os.getpid())):
            if not is_stale(record, _alive):
                raise SandboxError(
                    f"{folder} belongs to a running sandbox (PID {record.owner.pid})",
                    f"Stop it, or choose other ports with --ports BASE (now {base_port})",
                )
            _stop(record)
            _empty(folder)
        _write(folder, OwnerRecord(owner, network, _str(postgres_dir), postgres_port))
    return folder


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _write(folder: Path, record: OwnerRecord) -> None:
    tmp = folder / f".{OWNER_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(record.to_json(), indent=1), encoding="utf-8")
    os.chmod(tmp, 0o644)  # readable by the postgres user the folder may belong to
    tmp.replace(folder / OWNER_FILE)


def _empty(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                child.unlink()


def forget(base_port: int, root: Path | None = None) -> None:
    """Remove the folder of the network on ``base_port`` (at ``down``)."""
    shutil.rmtree(folder_for(base_port, root), ignore_errors=True)


def sweep(root: Path | None = None) -> list[Path]:
    """Clean every folder of this user whose recorded owner is dead; the folders removed.

    A folder locked by someone else (being claimed or swept) is left for the next sweep.
    """
    removed: list[Path] = []
    base = root or ROOT
    try:
        candidates = sorted(base.glob(f"{PREFIX}{os.getuid()}-*"))
    except OSError:
        return removed
    trusted = _trusted_uids()
    for folder in candidates:
        try:
            info = folder.lstat()
        except OSError:
            continue
        if folder.is_symlink() or not folder.is_dir() or info.st_uid not in trusted:
            continue
        with _locked(folder, wait=False) as held:
            if not held:
                continue
            record = read_record(folder)
            if not is_stale(record, _alive):
                continue
            assert record is not None
            _stop(record)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(proc: ProcessId) -> bool:
    return proc.is_running()


def _stop(record: OwnerRecord) -> None:
    """Stop what a dead owner's network left running: its node process, its cluster."""
    if record.network is not None:
        stop_group(record.network)  # only if the PID still has the recorded start time
    if record.postgres_dir is not None:
        _stop_cluster(Path(record.postgres_dir))


def _stop_cluster(data_dir: Path) -> None:
    # Imported here: postgres.py uses this module for the cluster's folder.
    from departures.sandbox.postgres import Cluster

    if (data_dir / "postmaster.pid").exists():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            Cluster(data_dir, 0).stop()
