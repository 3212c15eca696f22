"""``departures login / whoami / logout`` against the real sandbox, as a user runs them."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import httpx
import pytest

from departures.bluesky.session import SessionStore, open_client
from departures.errors import BlueskyError
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.cli import CliResult, cli_env, run_cli

pytestmark = pytest.mark.sandbox


def cli(config: Path, plc: str, *args: str, password: str | None = None) -> CliResult:
    """The CLI (in-process) with its own config directory, as a user's shell runs it."""
    return run_cli(*args, env=cli_env(config, plc, password))


def login_cli(config: Path, plc: str, handle: str, service: str, password: str) -> CliResult:
    """``departures login --handle HANDLE --service SERVICE``, the app password given."""
    return cli(config, plc, "login", "--handle", handle, "--service", service, password=password)


def test_login_with_the_app_password_stores_a_private_session(
    sandbox: TestSandbox, tmp_path: Path
) -> None:
    account = sandbox.new_account("login")
    config = tmp_path / "config"
    result = login_cli(
        config, sandbox.plc_url, account.handle, sandbox.pds_url, account.app_password
    )
    assert result.returncode == 0, result.stderr
    assert account.did in result.stdout
    sessions = config / "sessions.json"
    assert stat.S_IMODE(sessions.stat().st_mode) == 0o600
    text = sessions.read_text()
    assert account.app_password not in text  # the password is never stored
    assert account.app_password not in result.stdout + result.stderr
    saved = json.loads(text)["accounts"][account.did]
    assert saved["pds"] == sandbox.pds_url and saved["refresh_jwt"]
    who = cli(config, sandbox.plc_url, "whoami")
    assert who.returncode == 0 and account.handle in who.stdout
    out = cli(config, sandbox.plc_url, "logout")
    assert out.returncode == 0 and "Logged out" in out.stdout
    assert "Nobody is logged in" in cli(config, sandbox.plc_url, "whoami").stdout


def test_login_works_without_the_plc_directory_through_describe_repo(
    sandbox: TestSandbox, tmp_path: Path
) -> None:
    account = sandbox.new_account("noplc")
    result = login_cli(
        tmp_path, "http://127.0.0.1:9", account.handle, sandbox.pds_url, account.app_password
    )
    assert result.returncode == 0, result.stderr
    assert sandbox.pds_url in result.stdout


def test_wrong_password_is_one_clear_line(sandbox: TestSandbox, tmp_path: Path) -> None:
    account = sandbox.new_account("wrongpw")
    result = login_cli(
        tmp_path, sandbox.plc_url, account.handle, sandbox.pds_url, "not-the-password"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: The server refused the password")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "sessions.json").exists()


def test_unknown_handle_is_one_clear_line(sandbox: TestSandbox, tmp_path: Path) -> None:
    result = login_cli(tmp_path, sandbox.plc_url, "nobody-here.test", sandbox.pds_url, "x")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: The handle nobody-here.test is not known")
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_server_is_one_clear_line(tmp_path: Path) -> None:
    result = login_cli(tmp_path, "http://127.0.0.1:9", "a.test", "http://127.0.0.1:9", "x")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: Cannot reach the Bluesky server at http://127.0.0.1:9")


def _expired_access_token(did: str) -> str:
    """A JWT whose ``exp`` has passed: the client must refresh before any request."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'at+jwt'})}.{part({'sub': did, 'exp': 1})}.sig"


def test_a_revoked_session_asks_to_log_in_again(sandbox: TestSandbox, tmp_path: Path) -> None:
    account = sandbox.new_account("revoked")
    result = login_cli(
        tmp_path, sandbox.plc_url, account.handle, sandbox.pds_url, account.app_password
    )
    assert result.returncode == 0, result.stderr
    store = SessionStore(tmp_path)
    saved = store.get()
    assert saved is not None
    revoked = httpx.post(
        f"{sandbox.pds_url}/xrpc/com.atproto.server.deleteSession",
        headers={"Authorization": f"Bearer {saved.refresh_jwt}"},
        timeout=30,
    )
    assert revoked.status_code == 200, revoked.text
    saved.access_jwt = _expired_access_token(saved.did)
    store.put(saved)
    with pytest.raises(BlueskyError, match="expired or was revoked") as caught:
        open_client(store=store)
    assert "departures login --handle" in caught.value.one_line()


def test_an_expired_access_token_is_refreshed_and_stored(
    sandbox: TestSandbox, tmp_path: Path
) -> None:
    account = sandbox.new_account("refresh")
    result = login_cli(
        tmp_path, sandbox.plc_url, account.handle, sandbox.pds_url, account.app_password
    )
    assert result.returncode == 0, result.stderr
    store = SessionStore(tmp_path)
    saved = store.get()
    assert saved is not None
    old_refresh = saved.refresh_jwt
    saved.access_jwt = _expired_access_token(saved.did)
    store.put(saved)
    open_client(store=store).request.close()
    again = store.get()
    assert again is not None
    assert again.refresh_jwt != old_refresh and again.access_jwt != saved.access_jwt
