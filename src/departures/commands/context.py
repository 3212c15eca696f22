"""The object every command receives: global options and lazily opened resources."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from departures.workspace.db import Workspace

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """Global options of the CLI and the workspace, opened on first use."""

    workspace_option: str | None = None
    _workspace: Workspace | None = field(default=None, repr=False)

    def workspace(self, *, create: bool = True) -> Workspace:
        """The workspace, opened (and migrated) the first time a command asks for it."""
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_option, create=create)
        return self._workspace


_pass_context = click.make_pass_decorator(AppContext, ensure=True)


def _set_workspace(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    # Given after the command, --workspace overrides the one before it and the variable.
    if value is not None:
        ctx.ensure_object(AppContext).workspace_option = value


_workspace_after = click.option(
    "--workspace",
    type=click.Path(file_okay=False),
    default=None,
    expose_value=False,
    callback=_set_workspace,
    help="Workspace directory (may also come before the command).",
)


INTERRUPTED = "Interrupted. Everything saved so far is kept; run the command again to resume."


def interruptible(f: F) -> F:
    """Ctrl-C inside the command: one line on stderr and exit 130, no traceback.

    Caught here, before click turns the interrupt into "Aborted." after an empty line.
    ``DEPARTURES_DEBUG=1`` lets it through, traceback and all.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except KeyboardInterrupt:
            if os.environ.get("DEPARTURES_DEBUG", "") not in ("", "0", "false", "no"):
                raise
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def pass_app(f: F) -> F:
    """Pass the :class:`AppContext` as first argument, and accept ``--workspace DIR`` here too.

    People type ``departures archive import x.zip --workspace ws`` as often as the form with
    the option first; both mean the same. Ctrl-C in the command is one line
    (:func:`interruptible`).
    """
    return _workspace_after(_pass_context(interruptible(f)))  # type: ignore[return-value]
