"""No traceback anywhere in the CLI: every command with bad input, and with Ctrl-C.

Each command is run in this process through :func:`departures.cli.main`, the console
script's entry point: a user error must end in a one-line ``Error: ...`` and an exit code,
Ctrl-C (a ``KeyboardInterrupt`` raised inside the command) in one line and exit 130. An
exception escaping ``main`` would be the traceback a user sees, and fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from departures.cli import cli
from departures.commands.context import INTERRUPTED, AppContext
from helpers.cli import run_main as run

# Bad input per command, besides an unknown option (which every command gets). Only input
# that fails before anything is started or written: no sandbox, server or network.
BAD_INPUT: dict[str, list[list[str]]] = {
    "archive import": [["nothere.zip"], ["."]],
    "archive stats": [[]],
    "migrate plan": [["--since", "31/02/2025"], ["--min-likes", "many"], []],
    "migrate preview": [[]],
    "migrate alt-text export": [[], ["--separator", "pipe"]],
    "migrate alt-text import": [["nothere.csv"]],
    "migrate run": [["--pace", "fast"], []],
    "migrate status": [[]],
    "migrate verify": [[], ["--appview", "ftp://x"]],
    "migrate undo": [["--yes"]],
    "migrate gates": [["--replies", "some"], ["--list", "not-a-list"], []],
    "login": [["--handle", "our-ngo.org", "--service", "not a server"], []],
    "logout": [["--handle", "nobody.test"]],
    "audience import-directory": [["nothere.json"]],
    "audience import-names": [["nothere.csv"]],
    "audience match": [[], ["--directory", "ftp://x"]],
    "audience review": [[]],
    "audience accept": [[], ["abc"]],
    "audience reject": [["abc"], []],
    "audience follow": [[]],
    "audience sync": [[]],
    "coalition campaign create": [["--title", "T", "--threshold", "many"]],
    "coalition directory bulk-add": [["slug", "nothere.csv"]],
    "sandbox account": [[]],
}


def _leaves(
    group: click.Group, ctx: click.Context, prefix: str = ""
) -> Iterator[tuple[str, click.Command]]:
    # list_commands/get_command rather than .commands: groups may load their commands lazily.
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _leaves(command, ctx, full + " ")
        else:
            yield full, command


def all_commands() -> list[tuple[str, click.Command]]:
    """Every leaf command of the CLI, by its full name (``migrate alt-text import``)."""
    with click.Context(cli) as ctx:
        return list(_leaves(cli, ctx))


COMMANDS = all_commands()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No workspace, no session, no reachable server; the current folder is empty."""
    monkeypatch.chdir(tmp_path)
    for name in ("DEPARTURES_DEBUG", "DEPARTURES_APP_PASSWORD", "DEPARTURES_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("DEPARTURES_WORKSPACE", str(tmp_path / "no-workspace"))
    monkeypatch.setenv("DEPARTURES_COALITION_DB", str(tmp_path / "coalition.db"))
    for name in ("DEPARTURES_SERVICE", "DEPARTURES_APPVIEW", "DEPARTURES_PLC_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")


def test_the_bad_input_table_names_real_commands() -> None:
    names = {name for name, _ in COMMANDS}
    assert set(BAD_INPUT) <= names
    assert len(names) > 30  # the lazy groups were walked, not skipped
    assert len(WORKSPACE_COMMANDS) == 17


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_bad_input_is_one_error_line_without_traceback(
    name: str, command: click.Command, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in [["--no-such-option"], *BAD_INPUT.get(name, [])]:
        code, out, err = run([*name.split(), *extra], capsys)
        assert "Traceback" not in out + err, (name, extra)
        assert not err.startswith("\n"), (name, extra, err)
        if name in ("logout",) and extra != ["--no-such-option"]:
            continue  # nobody to log out is not an error
        assert code in (1, 2), (name, extra, code, out, err)
        assert err.splitlines()[-1].startswith("Error: "), (name, extra, err)


def _value(param: click.Parameter, tmp_path: Path) -> str:
    """A value the parser accepts for ``param`` (the command never runs with it)."""
    kind = param.type
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.IntRange | click.FloatRange):
        return str(kind.min if kind.min is not None else 1)
    if isinstance(kind, click.types.IntParamType | click.types.FloatParamType):
        return "1"
    if isinstance(kind, click.Path):
        existing = tmp_path / "input.txt"
        existing.write_text("x\n", encoding="utf-8")
        return str(existing)
    return "x"


def _required_args(command: click.Command, tmp_path: Path) -> list[str]:
    args: list[str] = []
    for param in command.params:
        if not param.required:
            continue
        if isinstance(param, click.Option) and param.is_flag:
            args.append(param.opts[0])  # a required --this/--that flag takes no value
        elif isinstance(param, click.Option):
            args.extend([param.opts[0], _value(param, tmp_path)])
        else:
            args.append(_value(param, tmp_path))
    return args


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_ctrl_c_inside_any_command_is_one_line_without_traceback(
    name: str,
    command: click.Command,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "callback", interrupted)
    code, out, err = run([*name.split(), *_required_args(command, tmp_path)], capsys)
    assert code == 130, (name, out, err)
    assert "Traceback" not in out + err
    # Click itself ends the line the terminal's "^C" is on: hence strip().
    assert err.strip() == INTERRUPTED


def _uses_the_workspace(command: click.Command) -> bool:
    return any(p.name == "workspace" for p in command.params)


# These read their input file before the workspace (Ctrl-C in an import has its own test in
# test_cli_newcomer.py).
_FILE_FIRST = ("archive import", "audience import-directory")
# The desk opens the workspace per request, not when it starts (a new workspace is made by
# its first import), and serves until stopped: its Ctrl-C is the server's graceful stop.
_SERVERS = ("desk",)
WORKSPACE_COMMANDS = [
    (n, c)
    for n, c in COMMANDS
    if _uses_the_workspace(c) and n not in _FILE_FIRST and n not in _SERVERS
]


@pytest.mark.parametrize(
    ("name", "command"), WORKSPACE_COMMANDS, ids=[n for n, _ in WORKSPACE_COMMANDS]
)
def test_ctrl_c_deep_inside_a_workspace_command_is_exactly_one_line(
    name: str,
    command: click.Command,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    from departures.workspace import Workspace

    Workspace.open(tmp_path / "no-workspace").close()  # there is one, this time
    # Wherever the command is when Ctrl-C comes: here, opening the workspace.
    monkeypatch.setattr(AppContext, "workspace", interrupted)
    args = _required_args(command, tmp_path)
    if name == "audience sync":
        args += ["--directory", "https://coalition.example.org"]
    if name == "audience accept":
        args += ["1"]
    if name == "audience import-names":
        names = tmp_path / "names.csv"
        names.write_text("id,handle,name\n301,fair_friend,Fair Friend\n", encoding="utf-8")
        args = [str(names)]
    code, out, err = run([*name.split(), *args], capsys)
    assert (code, err) == (130, INTERRUPTED + "\n"), (name, out, err)


class _InterruptingFinder:
    """A module finder that behaves as Ctrl-C does while the CLI is being imported."""

    def find_spec(self, name: str, *_args: Any) -> None:
        if name == "departures.cli":
            raise KeyboardInterrupt


def test_ctrl_c_during_start_up_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from departures import entry

    monkeypatch.delitem(sys.modules, "departures.cli")
    monkeypatch.setattr(sys, "meta_path", [_InterruptingFinder(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["archive", "stats"])
    assert exit_info.value.code == 130
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "Interrupted before anything was done.\n")


def test_the_console_script_runs_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from departures import entry

    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--version"])
        raise SystemExit(0)
    assert exit_info.value.code in (0, None)
    assert capsys.readouterr().out.startswith("departures, version ")
