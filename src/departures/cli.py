"""The ``departures`` command line: thin click commands over the library.

Each part of the product has its command group in :mod:`departures.commands`; this module only
builds the top-level group, carries the global options, and turns a
:class:`~departures.errors.DeparturesError` into a one-line ``Error: ...`` and a non-zero exit.
Set ``DEPARTURES_DEBUG=1`` to see the full traceback instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from departures import __version__
from departures.commands import archive as archive_commands
from departures.commands import audience as audience_commands
from departures.commands import coalition as coalition_commands
from departures.commands import login as login_commands
from departures.commands import migrate as migrate_commands
from departures.commands import sandbox as sandbox_commands
from departures.commands.context import AppContext
from departures.errors import DeparturesError
from departures.workspace.db import WORKSPACE_ENV

DEBUG_ENV = "DEPARTURES_DEBUG"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="departures")
@click.option(
    "--workspace",
    "workspace",
    type=click.Path(file_okay=False),
    envvar=WORKSPACE_ENV,
    default=None,
    help="Workspace directory [env DEPARTURES_WORKSPACE; default ./departures-workspace].",
)
@click.pass_context
def cli(ctx: click.Context, workspace: str | None) -> None:
    """Leave X together and land on Bluesky with your history, audience and coalition.

    Start with: departures archive import twitter-archive.zip
    """
    ctx.obj = AppContext(workspace_option=workspace)


cli.add_command(archive_commands.archive)
cli.add_command(sandbox_commands.sandbox)
cli.add_command(coalition_commands.coalition)
cli.add_command(migrate_commands.migrate)
cli.add_command(login_commands.login)
cli.add_command(login_commands.logout)
cli.add_command(login_commands.whoami)
cli.add_command(audience_commands.audience)


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0", "false", "no")


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``departures`` console script."""
    try:
        return cli.main(args=argv, prog_name="departures", standalone_mode=False)
    except DeparturesError as exc:
        if _debug():
            raise
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            # Click turns Ctrl-C inside a command into Abort: it is still an interruption.
            if _debug():
                raise
            click.echo(
                "Interrupted. Everything saved so far is kept; run the command again to resume.",
                err=True,
            )
            sys.exit(130)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        if _debug():
            raise
        click.echo(
            "Interrupted. Everything saved so far is kept; run the command again to resume.",
            err=True,
        )
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
