"""The CLI shell: errors as one line, debug mode, every command documented."""

from __future__ import annotations

import click

from departures.cli import cli
from helpers.cli import run_cli


def _all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, full + " "))
    return found


def test_every_command_has_help_text() -> None:
    for name, command in _all_commands(cli):
        assert command.help and command.help.strip(), f"'{name}' has no help text"


def test_user_error_is_one_line_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "ws"
    bad.mkdir()
    (bad / "workspace.db").write_bytes(b"garbage" * 1000)
    result = run_cli("--workspace", str(bad), "archive", "stats")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_archive_stats_without_a_workspace_says_to_import_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--workspace", str(tmp_path / "none"), "archive", "stats", "--json")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: No workspace at ")
    assert "departures archive import PATH" in result.stderr
    assert not (tmp_path / "none").exists()
