"""The object every command receives: global options and lazily opened resources."""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from departures.workspace.db import Workspace


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


pass_app = click.make_pass_decorator(AppContext)
