"""Starting, finding and stopping one local Bluesky network.

A sandbox is identified by its base port: PLC on ``BASE``, PDS on ``BASE+1``, AppView on
``BASE+2``, ozone on ``BASE+3``, PostgreSQL on ``BASE+4``. Its state (``state.json`` with the
PIDs and start times, ports and URLs; the servers' log; their data) lives in a state
directory, by default ``<cache>/run/<BASE>``. The network is throwaway: every ``up`` starts a
fresh one (the PLC directory is in memory) and ``down`` deletes its data. Who the network
belongs to is also recorded under the system's temporary directory, so that the next start
cleans what a killed owner left (see :mod:`departures.sandbox.litter`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from departures.bluesky.appviews import forget_local, register_local
from departures.errors import SandboxError
from departures.sandbox import litter, tls
from departures.sandbox.install import ProgressCallback, cache_root, ensure_runtime
from departures.sandbox.postgres import Cluster, cluster_dir, find_bindir
from departures.sandbox.processes import (
    ProcessId,
    descendants,
    port_in_use,
    pss_bytes,
    stop_group,
)

DEFAULT_BASE_PORT = 2580
PORTS_USED = 5
START_TIMEOUT = 120.0
POSTGRES_SCHEMA = "departures"
STATE_FILE = "state.json"
LOG_FILE = "network.log"


def ports_for(base: int, appview: bool) -> dict[str, int]:
    """The ports a sandbox with this base uses, by service name."""
    ports = {"plc": base, "pds": base + 1}
    if appview:
        ports.update(appview=base + 2, ozone=base + 3, postgres=base + 4)
    return ports


def default_state_dir(base: int) -> Path:
    """The state directory of the sandbox on ``base`` in the user's cache."""
    return cache_root() / "run" / str(base)


@dataclass
class SandboxState:
    """What ``up`` recorded: enough for ``status`` and ``down`` in another process."""

    base_port: int
    appview: bool
    rate_limits: bool
    pid: int
    start_time: int
    plc_url: str
    pds_url: str
    appview_url: str | None
    ozone_url: str | None
    postgres_dir: str | None
    postgres_port: int | None
    started_at: float
    start_seconds: float = 0.0
    ready: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def process(self) -> ProcessId:
        """The node process running the network."""
        return ProcessId(self.pid, self.start_time)

    def cluster(self) -> Cluster | None:
        """The PostgreSQL cluster, when the network has an AppView."""
        if self.postgres_dir is None or self.postgres_port is None:
            return None
        return Cluster(Path(self.postgres_dir), self.postgres_port)


@dataclass(frozen=True)
class SandboxStatus:
    """What runs where, for ``sandbox status``."""

    base_port: int
    state_dir: Path
    running: bool
    stale: bool
    state: SandboxState | None
    healthy: dict[str, bool]
    memory_bytes: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary (no secrets: the sandbox has none worth hiding)."""
        state = self.state
        return {
            "base_port": self.base_port,
            "state_dir": str(self.state_dir),
            "running": self.running,
            "ready": bool(state and state.ready and self.running),
            "stale": self.stale,
            "pid": state.pid if state else None,
            "appview": state.appview if state else None,
            "rate_limits": state.rate_limits if state else None,
            "plc_url": state.plc_url if state else None,
            "pds_url": state.pds_url if state else None,
            "appview_url": state.appview_url if state else None,
            "ozone_url": state.ozone_url if state else None,
            "postgres_port": state.postgres_port if state else None,
            "healthy": self.healthy,
            "memory_bytes": self.memory_bytes,
        }


class Network:
    """One sandbox network on ``base_port``, whose state lives in ``state_dir``."""

    def __init__(self, base_port: int = DEFAULT_BASE_PORT, state_dir: Path | None = None):
        self.base_port = base_port
        self.state_dir = state_dir or default_state_dir(base_port)

    # -- state ---------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        """``state.json``: written once the network answers, removed by ``down``."""
        return self.state_dir / STATE_FILE

    @property
    def log_file(self) -> Path:
        """The servers' combined stdout and stderr."""
        return self.state_dir / LOG_FILE

    def load_state(self) -> SandboxState | None:
        """The recorded state, or ``None`` if nothing was started here."""
        try:
            data = json.loads(self.state_file.read_text())
            return SandboxState(**data)
        except (OSError, ValueError, TypeError):
            return None

    def _save_state(self, state: SandboxState) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=2))
        tmp.replace(self.state_file)
        if state.appview_url:  # so that `migrate verify` asks this network's AppView
            register_local(state.pds_url, state.appview_url)

    # -- up ------------------------------------------------------------------------------
    def running_state(self) -> SandboxState | None:
        """The state of a network that is up (its node process is the one we started)."""
        state = self.load_state()
        if state is not None and state.process.is_running():
            return state
        return None

    def up(
        self,
        *,
        appview: bool = True,
        rate_limits: bool = False,
        timeout: float = START_TIMEOUT,
        progress: ProgressCallback | None = None,
        tie_to_this_process: bool = False,
    ) -> tuple[SandboxState, bool]:
        """Start the network (installing the runtime first if needed) and wait until it answers.

        Returns the state and whether it was started now (``False``: it was already up and is
        reused). On any failure, everything started here is stopped before the error. With
        ``tie_to_this_process`` the network also stops itself when this process dies (tests).
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with _locked(self.state_dir):  # two `up`s at once: the second waits, then reuses
            state = self.running_state()
            if state is not None:
                self._check_reuse(state, appview=appview, rate_limits=rate_limits)
                if not state.ready:  # its `up` was killed while waiting: wait in its place
                    self._wait_healthy(state, timeout)
                    state.ready = True
                    self._save_state(state)
                return state, False
            self.cleanup_stale()
            # What killed test sessions left (folders, clusters, networks of dead owners).
            litter.sweep()
            return self._start(appview, rate_limits, timeout, progress, tie_to_this_process), True

    def _start(
        self,
        appview: bool,
        rate_limits: bool,
        timeout: float,
        progress: ProgressCallback | None,
        tie_to_this_process: bool,
    ) -> SandboxState:
        if appview:
            find_bindir()  # a clear error before minutes of installing
        runtime = ensure_runtime(progress)
        ports = ports_for(self.base_port, appview)
        for name, port in ports.items():
            if port_in_use(port):
                raise SandboxError(
                    f"port {port} (for the sandbox's {name}) is already in use",
                    f"Stop what uses it, or choose other ports with --ports BASE (the sandbox "
                    f"uses BASE to BASE+{PORTS_USED - 1}; now {self.base_port})",
                )
        tmpdir = self.state_dir / "data"
        shutil.rmtree(tmpdir, ignore_errors=True)
        tmpdir.mkdir()
        started = time.monotonic()
        cluster = (
            Cluster(cluster_dir(self.state_dir, self.base_port), ports["postgres"])
            if appview
            else None
        )
        # Recorded before anything starts, so that whatever a killed `up` leaves behind is
        # found and stopped by the next `down` or `up` (PID 0: the network not started yet).
        state = SandboxState(
            base_port=self.base_port,
            appview=appview,
            rate_limits=rate_limits,
            pid=0,
            start_time=0,
            plc_url=f"http://localhost:{ports['plc']}",
            pds_url=f"http://localhost:{ports['pds']}",
            appview_url=f"http://localhost:{ports['appview']}" if appview else None,
            ozone_url=f"http://localhost:{ports['ozone']}" if appview else None,
            postgres_dir=str(cluster.data_dir) if cluster else None,
            postgres_port=cluster.port if cluster else None,
            started_at=time.time(),
            ready=False,
        )
        self._save_state(state)
        this_process = ProcessId.of(os.getpid())
        assert this_process is not None  # this very process runs
        proc: ProcessId | None = None
        try:
            self._claim(this_process, None, cluster)
            if cluster is not None:
                cluster.start()
            ready_file = self.state_dir / "ready.json"
            ready_file.unlink(missing_ok=True)
            proc = self._launch(
                runtime.node,
                runtime.start_script(),
                tmpdir,
                {
                    "base": self.base_port,
                    "appview": appview,
                    "rateLimits": rate_limits,
                    "postgresUrl": cluster.url if cluster else None,
                    "postgresSchema": POSTGRES_SCHEMA,
                    "readyFile": str(ready_file),
                    "watchPid": os.getpid() if tie_to_this_process else None,
                    "onOrphan": cluster.stop_command() if cluster else None,
                    # OAuth clients are https:// on a non-local name: see sandbox/tls.py.
                    "localDomain": tls.LOCAL_DOMAIN,
                },
            )
            state.pid, state.start_time = proc.pid, proc.start_time
            self._save_state(state)
            # Tied to this process: litter once it dies. Otherwise the network owns itself.
            self._claim(this_process if tie_to_this_process else proc, proc, cluster)
            self._wait_ready(proc, ready_file, state, timeout)
            state.ready = True
            state.start_seconds = time.monotonic() - started
            self._save_state(state)
            return state
        except BaseException:
            if proc is not None:
                stop_group(proc)
                self._forget_child()
            if cluster is not None:
                cluster.remove()
            self._remove_files()
            litter.forget(self.base_port)
            raise

    def _claim(self, owner: ProcessId, network: ProcessId | None, cluster: Cluster | None) -> None:
        litter.claim(
            self.base_port,
            owner,
            network=network,
            postgres_dir=cluster.data_dir if cluster else None,
            postgres_port=cluster.port if cluster else None,
        )

    def _check_reuse(self, state: SandboxState, *, appview: bool, rate_limits: bool) -> None:
        if state.appview != appview or state.rate_limits != rate_limits:
            have = (
                f"{'with' if state.appview else 'without'} AppView, rate limits "
                f"{'on' if state.rate_limits else 'off'}"
            )
            raise SandboxError(
                f"a sandbox already runs on ports {self.base_port}+ ({have})",
                "Stop it first with: departures sandbox down"
                + (f" --ports {self.base_port}" if self.base_port != DEFAULT_BASE_PORT else ""),
            )

    def _launch(self, node: Path, script: Path, tmpdir: Path, config: dict[str, Any]) -> ProcessId:
        env = dict(os.environ)
        env.update(
            TMPDIR=str(tmpdir),  # dev-env writes every server's data under os.tmpdir()
            REDIS_HOST="127.0.0.1:1",  # TestNetwork asserts it is set; nothing connects
            NODE_ENV="development",
            # The PDS fetches OAuth client metadata from services served with this CA.
            NODE_EXTRA_CA_CERTS=str(tls.ca_file()),
        )
        # Our own Node 22 first, so that nothing the servers spawn picks the machine's node.
        env["PATH"] = f"{node.parent}{os.pathsep}{env.get('PATH', '')}"
        with self.log_file.open("wb") as log:  # one start per log: its tail is this start's
            log.write(f"\n=== departures sandbox up {time.ctime()} ===\n".encode())
            log.flush()
            popen = subprocess.Popen(
                [str(node), str(script), json.dumps(config)],
                cwd=script.parent,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = ProcessId.of(popen.pid)
        if proc is None:
            popen.wait()
            raise SandboxError(
                "the sandbox's Node process exited at once", f"See its log: {self.log_file}"
            )
        # Kept only to reap it if this process stops it; the state file is the record.
        self._popen: subprocess.Popen[bytes] | None = popen
        return proc

    def _forget_child(self) -> None:
        # When this process started the network, let Popen see its exit (no zombie, no
        # "subprocess still running" warning).
        popen: subprocess.Popen[bytes] | None = getattr(self, "_popen", None)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
            self._popen = None

    def _wait_ready(
        self, proc: ProcessId, ready_file: Path, state: SandboxState, timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.is_running():
                raise self._start_failure()
            if ready_file.exists() and _all_healthy(state):
                return
            time.sleep(0.2)
        raise self._timeout(timeout)

    def _wait_healthy(self, state: SandboxState, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _all_healthy(state):
                return
            time.sleep(0.2)
        raise self._timeout(timeout)

    def _timeout(self, timeout: float) -> SandboxError:
        return SandboxError(
            f"the sandbox did not answer within {timeout:.0f} seconds: {self.log_tail()}",
            f"Everything was stopped; see the full log: {self.log_file}",
        )

    def _start_failure(self) -> SandboxError:
        tail = self.log_tail()
        if "EADDRINUSE" in tail:
            return SandboxError(
                f"a port of the sandbox (base {self.base_port}) is already in use: {tail}",
                "Choose other ports with --ports BASE",
            )
        return SandboxError(
            f"the sandbox's servers stopped while starting: {tail}",
            f"Everything was stopped; see the full log: {self.log_file}",
        )

    def log_tail(self, lines: int = 3) -> str:
        """The last meaningful lines of the servers' log, joined on one line."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        kept = [
            line.strip()
            for line in text.splitlines()
            if line.strip()
            and "DeprecationWarning" not in line
            and "--trace-deprecation" not in line
        ]
        failed = [line for line in kept if line.startswith("departures-sandbox: start failed")]
        return " | ".join(failed[-1:] or kept[-lines:])[:600]

    # -- down / status -------------------------------------------------------------------
    def down(self) -> str:
        """Stop the network and PostgreSQL and delete their data; say what was done.

        Only the process recorded at ``up`` (same PID and start time) is signalled.
        """
        if not self.state_dir.exists():
            return "nothing runs"
        with _locked(self.state_dir):
            return self._down()

    def _down(self) -> str:
        state = self.load_state()
        if state is None:
            self._remove_files()
            return "nothing runs"
        stopped = stop_group(state.process)
        self._forget_child()
        cluster = state.cluster()
        if cluster is not None:
            cluster.remove()
        self._remove_files()
        litter.forget(self.base_port)
        return "stopped" if stopped else "cleaned up after a sandbox that had already stopped"

    def cleanup_stale(self) -> bool:
        """Remove what a crashed sandbox left (its node process is gone); ``True`` if any."""
        state = self.load_state()
        if state is None or state.process.is_running():
            return False
        cluster = state.cluster()
        if cluster is not None:
            cluster.remove()
        self._remove_files()
        litter.forget(self.base_port)
        return True

    def _remove_files(self) -> None:
        state = self.load_state()
        if state is not None:
            forget_local(state.pds_url)
        for name in (STATE_FILE, "ready.json"):
            with contextlib.suppress(OSError):
                (self.state_dir / name).unlink()
        shutil.rmtree(self.state_dir / "data", ignore_errors=True)

    def status(self) -> SandboxStatus:
        """What runs where (health of each server and memory of the whole network)."""
        state = self.load_state()
        running = state is not None and state.process.is_running()
        healthy: dict[str, bool] = {}
        memory = 0
        if state is not None and running:
            healthy["pds"] = _healthy(state.pds_url)
            if state.appview_url:
                healthy["appview"] = _healthy(state.appview_url)
            memory = self.memory_bytes(state)
        return SandboxStatus(
            self.base_port,
            self.state_dir,
            running,
            stale=state is not None and not running,
            state=state,
            healthy=healthy,
            memory_bytes=memory,
        )

    @staticmethod
    def memory_bytes(state: SandboxState) -> int:
        """Memory (PSS) of the node process tree plus PostgreSQL's processes."""
        pids = descendants(state.pid) if state.process.is_running() else []
        cluster = state.cluster()
        if cluster is not None:
            postmaster = cluster.postmaster_pid()
            if postmaster is not None:
                pids += descendants(postmaster)
        return pss_bytes(pids)


def _all_healthy(state: SandboxState) -> bool:
    urls = [state.pds_url] + ([state.appview_url] if state.appview_url else [])
    return all(_healthy(url) for url in urls)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/xrpc/_health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    with (state_dir / "lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def known_networks() -> list[Network]:
    """Every sandbox with a state directory in the user's cache, by base port."""
    run = cache_root() / "run"
    bases = sorted(int(p.name) for p in run.glob("*") if p.name.isdigit()) if run.exists() else []
    return [Network(base) for base in bases]
