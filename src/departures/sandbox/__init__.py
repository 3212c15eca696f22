"""The sandbox: a real Bluesky network (PLC + PDS + AppView) from the reference servers.

Use it from Python (the demo, tests, benchmarks)::

    from departures.sandbox import Sandbox

    sandbox = Sandbox()                 # base port 2580: PLC 2580, PDS 2581, AppView 2582
    sandbox.up()                        # installs Node 22 + servers on first use, then starts
    account = sandbox.create_account("ngo-demo")   # ngo-demo.test, with an app password
    print(sandbox.pds_url, sandbox.appview_url, account.did)
    sandbox.down()

The same network is what ``departures sandbox up|status|account|down`` manage, so a network
started from Python is seen by the CLI and the other way round (same base port, same cache).
"""

from __future__ import annotations

from pathlib import Path

from departures.errors import SandboxError
from departures.sandbox.accounts import Account, create_account
from departures.sandbox.install import ProgressCallback
from departures.sandbox.network import (
    DEFAULT_BASE_PORT,
    Network,
    SandboxState,
    SandboxStatus,
)

__all__ = ["DEFAULT_BASE_PORT", "Account", "Sandbox", "SandboxState", "SandboxStatus"]


class Sandbox:
    """One local Bluesky network on ``base_port`` (and the four ports after it)."""

    def __init__(self, base_port: int = DEFAULT_BASE_PORT, state_dir: Path | None = None):
        self.network = Network(base_port, state_dir)
        self._state: SandboxState | None = None

    @property
    def base_port(self) -> int:
        """PLC's port; the PDS, AppView, ozone and PostgreSQL use the next four."""
        return self.network.base_port

    def up(
        self,
        *,
        appview: bool = True,
        rate_limits: bool = False,
        timeout: float = 120.0,
        progress: ProgressCallback | None = None,
        tie_to_this_process: bool = False,
    ) -> bool:
        """Bring the network up (reusing it if it already runs); ``True`` if started now.

        ``tie_to_this_process``: the network stops itself if this Python process dies.
        """
        self._state, started = self.network.up(
            appview=appview,
            rate_limits=rate_limits,
            timeout=timeout,
            progress=progress,
            tie_to_this_process=tie_to_this_process,
        )
        return started

    def down(self) -> str:
        """Stop the network and PostgreSQL, delete their data; a short note of what was done."""
        self._state = None
        return self.network.down()

    def status(self) -> SandboxStatus:
        """What runs where."""
        return self.network.status()

    @property
    def state(self) -> SandboxState:
        """The running network's state; a clear error if it is not up."""
        if self._state is None or not self._state.process.is_running():
            self._state = self.network.running_state()
        if self._state is None:
            suffix = "" if self.base_port == DEFAULT_BASE_PORT else f" --ports {self.base_port}"
            raise SandboxError(
                f"no sandbox runs on ports {self.base_port}+",
                f"Start it with: departures sandbox up{suffix}",
            )
        return self._state

    @property
    def pds_url(self) -> str:
        """The PDS: point ``--service`` here."""
        return self.state.pds_url

    @property
    def appview_url(self) -> str:
        """The AppView (read ``app.bsky.*`` views here); an error if started without it."""
        url = self.state.appview_url
        if url is None:
            raise SandboxError(
                "this sandbox runs without an AppView",
                "Restart it with: departures sandbox down && departures sandbox up --appview",
            )
        return url

    @property
    def plc_url(self) -> str:
        """The PLC directory that resolves the sandbox's DIDs."""
        return self.state.plc_url

    def create_account(self, handle: str, *, password: str | None = None) -> Account:
        """Create ``handle.test`` with a password and an app password."""
        return create_account(self.pds_url, handle, password=password)

    def memory_bytes(self) -> int:
        """Resident memory of the running network (node tree and PostgreSQL)."""
        return Network.memory_bytes(self.state)
