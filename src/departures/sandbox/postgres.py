"""The AppView's own PostgreSQL cluster, from the machine's Debian server binaries.

The cluster is throwaway: initialised at ``sandbox up``, listening on loopback only with its
unix socket in its data directory, and removed at ``sandbox down``. PostgreSQL refuses to run
as root, so as root the cluster lives under ``/var/tmp`` (root's home is not readable by
others) owned by the ``postgres`` user, and its tools run through ``runuser -u postgres``;
that folder also records who owns the network (:mod:`departures.sandbox.litter`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from departures.errors import SandboxError
from departures.sandbox.litter import folder_for

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"


def find_bindir() -> Path:
    """The newest PostgreSQL server ``bin`` directory on this machine."""
    candidates = [path.parent for path in DEBIAN_ROOT.glob("*/bin/initdb")]

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name)) or (0,)

    if candidates:
        return max(candidates, key=version)
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    raise SandboxError(
        "the PostgreSQL server (initdb, pg_ctl) is not installed; the sandbox's AppView needs it",
        "Install it (for example `apt-get install postgresql`), or start without the AppView: "
        "departures sandbox up --no-appview",
    )


def cluster_dir(state_dir: Path, base_port: int) -> Path:
    """Where the cluster's data lives for a sandbox with this state dir and base port."""
    if os.geteuid() == 0:
        return folder_for(base_port) / "pg"
    return state_dir / "pg"


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL cluster: data directory and port."""

    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        """Connection URL for the AppView (trust auth on loopback)."""
        return f"postgresql://{SERVICE_USER}@127.0.0.1:{self.port}/postgres"

    @property
    def log_file(self) -> Path:
        """PostgreSQL's own log."""
        return self.data_dir / "postgres.log"

    def _command(self, args: list[str]) -> list[str]:
        cmd = [str(find_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        return cmd

    def stop_command(self) -> list[str]:
        """The command that stops this cluster (for a process that must do it on its own)."""
        return self._command(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def _run(self, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = self._command(args)
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def start(self) -> None:
        """Initialise a fresh cluster and start it; a clear error with its log if it fails."""
        self._prepare_dir()
        result = self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SERVICE_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            raise SandboxError(
                f"PostgreSQL initdb failed: {_tail(result.stderr, 3)}",
                "Check that the PostgreSQL server is installed correctly",
            )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data_dir} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200"
        )
        result = self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            timeout=90,
        )
        if result.returncode != 0:
            log = _tail(self._read_log(), 5)
            self.stop()
            raise SandboxError(
                f"PostgreSQL did not start on port {self.port}: {log or result.stderr.strip()}",
                "If the port is taken, choose other ports with --ports BASE",
            )

    def _prepare_dir(self) -> None:
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, mode=0o700)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVICE_USER)
            os.chown(self.data_dir.parent, user.pw_uid, user.pw_gid)
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)

    def _read_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def postmaster_pid(self) -> int | None:
        """PID of the running postmaster, from its ``postmaster.pid``."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        return None

    def is_running(self) -> bool:
        """Whether this cluster's server runs (``pg_ctl status``)."""
        if not self.data_dir.exists():
            return False
        return self._run(["pg_ctl", "-D", str(self.data_dir), "status"]).returncode == 0

    def stop(self) -> None:
        """Stop the server if it runs (fast shutdown); no error if it does not."""
        if (self.data_dir / "postmaster.pid").exists():
            self._run(
                ["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"],
                timeout=60,
            )

    def remove(self) -> None:
        """Stop the server and delete the cluster's files."""
        self.stop()
        shutil.rmtree(
            self.data_dir.parent if os.geteuid() == 0 else self.data_dir, ignore_errors=True
        )


def _tail(text: str, lines: int) -> str:
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
