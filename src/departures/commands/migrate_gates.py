"""``departures migrate gates``: who may reply to and quote the organisation's migrated posts.

Thin over :func:`departures.migrate.gates.apply_to_workspace`: the same library function the
coalition's member page and the desk call.
"""

from __future__ import annotations

import click

from departures.commands.context import AppContext, pass_app
from departures.commands.migrate_publish import _HANDLE, _MARGIN, _NO_BUDGET, open_pds
from departures.errors import DeparturesError, WorkspaceError
from departures.migrate import publish as publishing
from departures.migrate.gates import apply_to_workspace, parse_choice


@click.command("gates")
@_HANDLE
@click.option(
    "--replies",
    type=click.Choice(["everybody", "nobody", "some"]),
    default="everybody",
    show_default=True,
    help="Who may reply: everybody, nobody, or only those the --allow rules name.",
)
@click.option(
    "--allow",
    "allow",
    multiple=True,
    type=click.Choice(["mentioned", "followers", "following"]),
    help="With --replies some: people the post mentions, your followers, people you follow "
    "(repeat the option to combine).",
)
@click.option(
    "--list", "list_uri", default="", help="With --replies some: members of this list (at://...)."
)
@click.option("--no-quotes", is_flag=True, help="Nobody may quote the posts.")
@_MARGIN
@_NO_BUDGET
@pass_app
def gates_command(
    app: AppContext,
    handle: str | None,
    replies: str,
    allow: tuple[str, ...],
    list_uri: str,
    no_quotes: bool,
    margin: float,
    no_budget: bool,
) -> None:
    """Choose who may reply to and quote every post this workspace published.

    Writes a thread gate and a post gate beside each post, exactly once; running it again
    with another choice changes them (only what differs is written). Ctrl-C stops cleanly;
    run it again to resume.

    Example: departures migrate gates --replies some --allow followers --no-quotes
    """
    choice = parse_choice(
        replies if not (allow or list_uri) or replies != "everybody" else "some",
        allow,
        list_uri,
        quotes=not no_quotes,
    )
    workspace = app.workspace(create=False)
    if not workspace.conn.execute(
        "SELECT 1 FROM published WHERE deleted_at IS NULL LIMIT 1"
    ).fetchone():
        raise WorkspaceError("Nothing is published yet", "Run 'departures migrate run' first")
    pds = open_pds(handle)
    try:
        done = apply_to_workspace(
            workspace,
            pds,
            choice,
            publishing.budget_config(None, margin, unlimited=no_budget),
            notify=lambda message: click.echo(message, err=True),
        )
    except DeparturesError:
        raise
    click.echo(f"{choice.describe().capitalize()}.")
    click.echo(
        f"{done.posts} posts: {done.written} gate records written, "
        f"{done.unchanged} already as chosen."
    )
    for line in done.refused:
        click.echo(f"Refused: {line}", err=True)
