"""The ``departures`` command line: thin click commands over the library.

Each part of the product has its command group in :mod:`departures.commands`; this module only
builds the top-level group, carries the global options, and turns a
:class:`~departures.errors.DeparturesError` into a one-line ``Error: ...`` and a non-zero exit.
Set ``DEPARTURES_DEBUG=1`` to see the full traceback instead.

The groups are registered lazily (:mod:`departures.commands.lazy`): a command's module is
imported only when it is used, so ``departures --help`` and the commands that work on the
workspace alone (archive, migrate plan/preview/alt-text, audience review/accept/reject...)
start without the atproto SDK, SQLAlchemy or the web stack (``tests/unit/test_cli_lazy.py``).
The help lists the commands in the order of an organisation's journey, from rehearsing in
the sandbox to the coalition's departure day.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from departures import __version__
from departures.commands.context import AppContext
from departures.commands.lazy import LazyCommand, LazyGroup
from departures.errors import DeparturesError, debugging
from departures.workspace.db import WORKSPACE_ENV

#: The top-level commands in the order of the journey, with the one-line help the top-level
#: ``--help`` shows without importing them (a test checks it against each docstring).
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "sandbox",
        "departures.commands.sandbox:sandbox",
        "Run a private Bluesky network on this machine for rehearsals and tests.",
    ),
    LazyCommand(
        "login",
        "departures.commands.login:login",
        "Log in to Bluesky with an app password and keep the session for later commands.",
    ),
    LazyCommand(
        "whoami",
        "departures.commands.login:whoami",
        "Show the account later commands act as.",
    ),
    LazyCommand(
        "logout",
        "departures.commands.login:logout",
        "Forget the stored session of an account.",
    ),
    LazyCommand(
        "desk",
        "departures.commands.desk:desk",
        "Open the desk: the whole journey in your browser, on this computer only.",
    ),
    LazyCommand(
        "archive",
        "departures.commands.archive:archive",
        "Read your X archive into the local workspace.",
    ),
    LazyCommand(
        "migrate",
        "departures.commands.migrate_group:migrate",
        "Turn your tweets into Bluesky posts: plan, preview, then publish.",
    ),
    LazyCommand(
        "audience",
        "departures.commands.audience:audience",
        "Find the accounts you followed (and your followers) on Bluesky, and follow them again.",
    ),
    LazyCommand(
        "coalition",
        "departures.commands.coalition:coalition",
        "Run a coalition campaign: pledges, notifications and the public departures board.",
    ),
)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``departures`` console script."""
    try:
        return cli.main(args=argv, prog_name="departures", standalone_mode=False)
    except DeparturesError as exc:
        if debugging():
            raise
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            # Click turns Ctrl-C inside a command into Abort: it is still an interruption.
            if debugging():
                raise
            click.echo(
                "Interrupted. Everything saved so far is kept; run the command again to resume.",
                err=True,
            )
            sys.exit(130)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        if debugging():
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
