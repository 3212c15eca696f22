"""Command groups that import a command's module only when that command is used.

Start-up is paid by every command: importing every command module to print ``--help`` meant
importing the atproto SDK, SQLAlchemy, Starlette and more (seconds). A :class:`LazyGroup`
knows its commands as data — name, where the command lives, its one-line help — and imports
a command's module only when the command is invoked or its own help is shown. The group's
help lists the commands in the order given (the user's journey, not the alphabet) with their
whole one-line help, from that data; ``tests/unit/test_cli_lazy.py`` checks that every
registered one-line help is the command's real docstring summary, so the two cannot drift.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Iterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """A command known by name before its module is imported.

    ``target`` is ``"package.module:attribute"``; ``short_help`` is what the group's help
    shows for it: the first sentence of the command's docstring, word for word.
    """

    name: str
    target: str
    short_help: str

    def load(self) -> click.Command:
        """Import the command's module and return the command."""
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # a registry typo, not a user error
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyCommands(MutableMapping[str, click.Command]):
    """A group's commands: loaded on first access, listed in registry order without loading.

    Commands added the usual way (``@group.command``, ``add_command``) are kept as given and
    listed after the registered ones, in the order they were added.
    """

    def __init__(self, registry: Iterable[LazyCommand]) -> None:
        self.registry = {entry.name: entry for entry in registry}
        self._loaded: dict[str, click.Command] = {}

    def is_loaded(self, name: str) -> bool:
        """Whether the command's module has been imported (or it was added directly)."""
        return name in self._loaded

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            entry = self.registry.get(name)
            if entry is None:
                raise KeyError(name)
            command = entry.load()
            # Importing the module may have registered the command already (``@group.command``).
            self._loaded.setdefault(name, command)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        found = self.registry.pop(name, None)
        if self._loaded.pop(name, None) is None and found is None:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self.registry
        yield from (name for name in self._loaded if name not in self.registry)

    def __len__(self) -> int:
        return len(self.registry) + sum(1 for name in self._loaded if name not in self.registry)

    def __contains__(self, name: object) -> bool:
        return name in self.registry or name in self._loaded


class LazyGroup(click.Group):
    """A click group whose registered commands are imported only when used.

    ``lazy`` lists the commands in the order the help shows them.
    """

    commands: LazyCommands

    def __init__(self, *args: Any, lazy: Iterable[LazyCommand] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        eager = self.commands
        self.commands = LazyCommands(lazy)
        for name, command in eager.items():
            self.commands[name] = command

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The commands in registry order (the journey), then any added directly."""
        return list(self.commands)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The ``Commands:`` section, from the registry's data: nothing is imported for it,
        and no help line is cut short."""
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            entry = self.commands.registry.get(name)
            if entry is not None:
                rows.append((name, entry.short_help))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=sys.maxsize)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def short_help_of(command: click.Command) -> str:
    """A command's one-line help as click derives it from the docstring, never cut short."""
    return command.get_short_help_str(limit=sys.maxsize)
