"""Start-up: lazy command groups, their registered help, and what a quick command imports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from departures import defaults
from departures.cli import COMMANDS, cli
from departures.commands.lazy import LazyCommand, LazyCommands, LazyGroup, short_help_of

# What a command that does not talk to Bluesky or the coalition store must not import: the
# atproto SDK, SQLAlchemy (and Alembic), the HTTP client, Pillow and the web stack.
HEAVY = ("atproto", "atproto_client", "sqlalchemy", "alembic", "httpx", "PIL", "starlette")

# Help screens and commands that start without them.
QUICK = [
    ["--help"],
    ["archive", "--help"],
    ["archive", "import", "--help"],
    ["archive", "stats", "--help"],
    ["migrate", "--help"],
    ["migrate", "plan", "--help"],
    ["migrate", "preview", "--help"],
    ["migrate", "alt-text", "--help"],
    ["audience", "--help"],
    ["audience", "review", "--help"],
    ["audience", "accept", "--help"],
    ["audience", "reject", "--help"],
    ["audience", "import-names", "--help"],
    ["audience", "follow", "--help"],
    ["audience", "match", "--help"],
]

_PROBE = """
import json, sys
from departures.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
found = [m for m in sys.modules if m in {heavy!r} or m.split(".")[0] in {heavy!r}]
print(json.dumps(sorted(found)), file=sys.stderr)
"""


def _lazy_groups(group: click.Group, path: str = "departures") -> Iterator[tuple[str, LazyGroup]]:
    if isinstance(group, LazyGroup):
        yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _lazy_groups(command, f"{path} {name}")


def test_every_registered_short_help_is_the_commands_docstring_summary() -> None:
    checked = 0
    for path, group in _lazy_groups(cli):
        for name, entry in group.commands.registry.items():
            command = entry.load()
            assert command.name == name, f"{path} {name}: the command calls itself {command.name}"
            assert entry.short_help == short_help_of(command), (
                f"'{path} {name}': the registry's short help differs from the docstring's "
                "first sentence; update the registry next to the group"
            )
            checked += 1
    assert checked >= len(COMMANDS) + 7  # the top level and migrate's seven at least


def test_the_top_level_help_follows_the_journey_and_cuts_nothing() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    assert result.exit_code == 0
    commands = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and
             not line.startswith("    ")]  # fmt: skip
    assert names == [
        "sandbox", "login", "whoami", "logout", "desk", "archive", "migrate", "audience",
        "coalition",
    ]  # fmt: skip
    flat = " ".join(commands.split())
    for entry in COMMANDS:
        assert f"{entry.name} {entry.short_help}" in flat
    assert "..." not in commands


def test_a_groups_help_lists_its_commands_in_the_order_of_the_work() -> None:
    result = CliRunner().invoke(cli, ["migrate", "--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in commands.splitlines() if line.startswith("  ") and
             not line.startswith("    ")]  # fmt: skip
    assert names == ["plan", "preview", "alt-text", "run", "status", "verify", "undo"]


@pytest.mark.parametrize("args", QUICK, ids=" ".join)
def test_quick_commands_import_neither_the_sdk_nor_sqlalchemy_nor_the_web_stack(
    args: list[str],
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Usage: departures" in result.stdout, result.stderr
    imported = json.loads(result.stderr.strip().splitlines()[-1])
    assert imported == [], f"departures {' '.join(args)} imported {imported}"


def test_the_publishers_commands_start_without_the_planner() -> None:
    planner = {
        "departures.migrate.plan",
        "departures.migrate.convert",
        "departures.migrate.preview",
    }
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=planner), "migrate", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Usage: departures migrate run" in result.stdout, result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_an_unknown_command_is_refused_without_loading_the_others() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(HEAVY)), "migrat"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "No such command 'migrat'" in result.stderr
    assert "Did you mean 'migrate'?" in result.stderr
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_lazy_commands_load_once_and_keep_commands_added_directly() -> None:
    loads: list[str] = []

    class Counting(LazyCommand):
        def load(self) -> click.Command:
            loads.append(self.name)
            return click.Command(self.name, help=self.short_help)

    commands = LazyCommands([Counting("b", "x:y", "B."), Counting("a", "x:y", "A.")])
    commands["z"] = click.Command("z")
    assert list(commands) == ["b", "a", "z"]
    assert len(commands) == 3 and "a" in commands and "q" not in commands
    assert loads == []
    assert commands["a"] is commands["a"]
    assert loads == ["a"]
    del commands["b"]
    assert list(commands) == ["a", "z"]
    with pytest.raises(KeyError):
        commands["b"]


def test_option_defaults_shown_before_import_equal_the_librarys() -> None:
    from departures.audience import appview, follow
    from departures.migrate import verify

    assert (defaults.APPVIEW_ENV, defaults.PUBLIC_APPVIEW) == (
        appview.APPVIEW_ENV,
        appview.PUBLIC_APPVIEW,
    )
    assert (defaults.APPVIEW_ENV, defaults.PUBLIC_APPVIEW) == (
        verify.APPVIEW_ENV,
        verify.PUBLIC_APPVIEW,
    )
    assert (defaults.FOLLOW_DAILY_CAP, defaults.FOLLOW_PER_HOUR, defaults.FOLLOW_MAX_WAIT) == (
        follow.DEFAULT_DAILY_CAP,
        follow.DEFAULT_PER_HOUR,
        follow.DEFAULT_MAX_WAIT,
    )
