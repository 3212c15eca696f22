"""pytest fixtures that run tests against a real local Bluesky network.

``sandbox`` (session-scoped) starts one network with an AppView on free ports the first time
a test asks for it, installing the runtime first if needed (cached afterwards), and stops it
at the end of the session, also when tests fail, on Ctrl-C and on SIGTERM; if the session is
killed outright, the network notices its parent is gone and stops itself.
``sandbox_rate_limited`` is a second, lighter network (no AppView) with the PDS's real rate
limits on, started only if a test asks for it. Mark such tests ``@pytest.mark.sandbox``.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import random
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest

from departures.errors import SandboxError
from departures.sandbox import Account, Sandbox
from departures.sandbox.install import cache_root, ensure_runtime, installed_runtime
from departures.sandbox.network import PORTS_USED
from departures.sandbox.processes import port_in_use

_ACTIVE: list[Sandbox] = []
_HANDLERS_INSTALLED = False


class TestSandbox:
    """What the fixtures yield: the network's URLs and a factory of fresh accounts."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, box: Sandbox) -> None:
        self.box = box
        self._counter = itertools.count(1)

    @property
    def pds_url(self) -> str:
        """The PDS's URL."""
        return self.box.pds_url

    @property
    def appview_url(self) -> str:
        """The AppView's URL (only on the ``sandbox`` fixture's network)."""
        return self.box.appview_url

    @property
    def plc_url(self) -> str:
        """The PLC directory's URL."""
        return self.box.plc_url

    @property
    def base_port(self) -> int:
        """The network's base port."""
        return self.box.base_port

    def new_account(self, prefix: str = "user") -> Account:
        """A fresh account with a unique handle starting with ``prefix`` (cut to 8 chars)."""
        clean = "".join(ch for ch in prefix.lower() if ch.isalnum())[:8] or "user"
        handle = f"{clean}{next(self._counter)}{secrets.token_hex(2)}"
        account = self.box.create_account(handle)
        if self.box.state.appview_url is not None:
            # The AppView learns of a new account from the firehose a moment later; a test that
            # logs in with the SDK (which reads the profile at once) must not race it.
            _wait_for_profile(self.box.state.appview_url, account.did)
        return account


def _wait_for_profile(appview_url: str, did: str, seconds: float = 30.0) -> None:
    """Until the AppView answers for ``did``'s profile (or ``seconds`` pass: the test says why)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=appview_url, timeout=10.0) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                answer = client.get("/xrpc/app.bsky.actor.getProfile", params={"actor": did})
                if answer.status_code == 200:
                    return
            time.sleep(0.1)


def free_base_port(attempts: int = 50) -> int:
    """A base port whose ``PORTS_USED`` ports are all free, away from the default 2580."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(20000, 40000, 10)
        if not any(port_in_use(base + offset) for offset in range(PORTS_USED)):
            return base
    raise SandboxError(
        "found no free ports for the test sandbox", "Free some ports between 20000 and 40000"
    )


def _stop_all() -> None:
    while _ACTIVE:
        box = _ACTIVE.pop()
        with contextlib.suppress(Exception):
            box.down()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_stop_all)
    with contextlib.suppress(ValueError):  # only possible in the main thread
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)


_INSTALL_ERROR: list[SandboxError] = []


def _install_runtime() -> None:
    if installed_runtime() is not None:
        return
    # pytest captures output: say why the session pauses for minutes.
    print(
        "\n[departures] installing the sandbox runtime (Node 22 and the Bluesky reference "
        f"servers) into {cache_root()}: a few minutes, once",
        file=sys.__stderr__,
        flush=True,
    )
    ensure_runtime()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Install the runtime before the first test if any sandbox test was collected.

    Done here, outside every test, so that the minutes of a first install never count
    against one test's timeout. A failure is kept and raised by the fixtures instead, so
    the tests that need the sandbox error with the clear message and the others still run.
    """
    if session.config.option.collectonly:
        return
    if not any(item.get_closest_marker("sandbox") for item in session.items):
        return
    try:
        _install_runtime()
    except SandboxError as exc:
        _INSTALL_ERROR.append(exc)


def start_test_sandbox(state_dir: Path, **options: Any) -> Sandbox:
    """Start a network on free ports for tests (retrying if a port gets taken meanwhile)."""
    _install_handlers()
    if _INSTALL_ERROR:
        raise _INSTALL_ERROR[0]
    _install_runtime()
    last: SandboxError | None = None
    for _ in range(3):
        box = Sandbox(free_base_port(), state_dir / "run")
        _ACTIVE.append(box)
        try:
            box.up(tie_to_this_process=True, **options)
            return box
        except SandboxError as exc:
            _ACTIVE.remove(box)
            last = exc
            if "in use" not in exc.message:
                raise
    assert last is not None
    raise last


def _session_sandbox(
    tmp_path_factory: pytest.TempPathFactory, name: str, **options: Any
) -> Iterator[TestSandbox]:
    box = start_test_sandbox(tmp_path_factory.mktemp(name), **options)
    try:
        yield TestSandbox(box)
    finally:
        with contextlib.suppress(ValueError):
            _ACTIVE.remove(box)
        box.down()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSandbox]:
    """A local Bluesky network (PLC, PDS, AppView) for the whole test session."""
    yield from _session_sandbox(tmp_path_factory, "sandbox", appview=True)


@pytest.fixture(scope="session")
def sandbox_rate_limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSandbox]:
    """A second network (PLC and PDS only) with the PDS's real rate limits and 429s."""
    yield from _session_sandbox(tmp_path_factory, "sandbox-rl", appview=False, rate_limits=True)
