"""Running the ``departures`` command line from tests.

In-process through click's ``CliRunner`` (:func:`run_cli`), or on pytest's ``capsys``
(:func:`run_main`): the console entry point
``departures.cli.main`` itself, so errors become the one ``Error: ...`` line and the exit code
a user sees, without the start-up of a new interpreter. A child process (:func:`cli_argv`)
only where the process is the point: kills, signals, a command that must run on its own.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import CliRunner

from departures.bluesky.session import SessionStore, login
from departures.cli import main
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox


@dataclass(frozen=True)
class CliResult:
    """What a run of the command line left: the fields of ``subprocess.CompletedProcess``
    that tests read, so a test reads an in-process run as it read a child process."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str, env: Mapping[str, str | None] | None = None, input: str | None = None
) -> CliResult:
    """``departures ARGS`` in-process, with ``env`` set (``None`` unsets) for the run only."""
    with CliRunner().isolation(input=input, env=env) as (out, err, _mixed):
        try:
            main(list(args))
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return CliResult(code, stdout, stderr)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``departures.cli.main(args)`` in this process, its output read from ``capsys``:
    (exit code, stdout, stderr); any exception escaping ``main`` fails the test."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def cli_argv(*args: str) -> list[str]:
    """The argv of ``departures ARGS`` in a child process of this interpreter."""
    return [sys.executable, "-m", "departures.cli", *args]


def cli_env(config: Path, plc_url: str, password: str | None = None) -> dict[str, str | None]:
    """The variables a user's shell gives the CLI: its own config directory, the sandbox's
    PLC directory, no debug mode, and an app password only when one is given."""
    return {
        "DEPARTURES_CONFIG_DIR": str(config),
        "DEPARTURES_PLC_URL": plc_url,
        "DEPARTURES_DEBUG": "",
        "DEPARTURES_APP_PASSWORD": password,
    }


def process_env(variables: Mapping[str, str | None]) -> dict[str, str]:
    """This process's environment with ``variables`` applied, for a child process."""
    env = {**os.environ}
    for name, value in variables.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@dataclass
class CliUser:
    """A sandbox account logged in with its own config directory and workspace: the CLI run
    on them as the account's owner would, and its repository read straight from the PDS."""

    account: Account
    config: Path
    workspace: Path
    sandbox: TestSandbox

    def variables(self) -> dict[str, str | None]:
        """The CLI's environment variables for this user."""
        return cli_env(self.config, self.sandbox.plc_url)

    def env(self) -> dict[str, str]:
        """The whole environment of a child process run for this user."""
        return process_env(self.variables())

    def argv(self, *args: str) -> list[str]:
        """``departures --workspace WS ARGS`` for a child process."""
        return cli_argv("--workspace", str(self.workspace), *args)

    def cli(self, *args: str) -> CliResult:
        """``departures --workspace WS ARGS``, in-process."""
        return run_cli("--workspace", str(self.workspace), *args, env=self.variables())

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Every record of ``collection`` in the account's repository (listRecords, paged)."""
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {
                "repo": self.account.did,
                "collection": collection,
                "limit": 100,
            }
            if cursor:
                params["cursor"] = cursor
            page = httpx.get(
                f"{self.sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
                params=params,
                timeout=30,
            ).json()
            out.extend(page["records"])
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return out


User = TypeVar("User", bound=CliUser)


def logged_in_user(sandbox: TestSandbox, tmp_path: Path, prefix: str, kind: type[User]) -> User:
    """A fresh sandbox account logged in (session in ``tmp_path/config``), workspace
    ``tmp_path/ws`` (not created); ``kind`` is :class:`CliUser` or the test's own subclass of it."""
    account = sandbox.new_account(prefix)
    config = tmp_path / "config"
    login(account.handle, account.app_password, sandbox.pds_url, store=SessionStore(config))
    return kind(account, config, tmp_path / "ws", sandbox)
