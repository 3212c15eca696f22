"""The ``departures migrate`` group: its subcommands known by name, imported when used.

plan, preview and alt-text live in :mod:`departures.commands.migrate`; run, status, verify
and undo in :mod:`departures.commands.migrate_publish`, which needs the Bluesky client. This
module imports neither, so ``migrate run`` does not load the planner and ``migrate plan``
does not load the atproto SDK.
"""

from __future__ import annotations

import click

from departures.commands.lazy import LazyCommand, LazyGroup

#: The subcommands in the order of the work, with the one-line help ``migrate --help`` shows.
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "plan",
        "departures.commands.migrate:plan_command",
        "Choose the tweets to migrate and store the posts they become.",
    ),
    LazyCommand(
        "preview",
        "departures.commands.migrate:preview_command",
        "Write an HTML page showing every planned post as it will look, with its warnings.",
    ),
    LazyCommand(
        "alt-text",
        "departures.commands.migrate:alt_text",
        "Write alt text for your images in a spreadsheet (the X archive has none).",
    ),
    LazyCommand(
        "run",
        "departures.commands.migrate_publish:run_command",
        "Publish the plan to Bluesky, exactly once, within the account's write budget.",
    ),
    LazyCommand(
        "status",
        "departures.commands.migrate_publish:status_command",
        "Planned, published, pending and failed posts, with the reasons and the time left.",
    ),
    LazyCommand(
        "verify",
        "departures.commands.migrate_publish:verify_command",
        "Check that people can see the published posts on Bluesky.",
    ),
    LazyCommand(
        "gates",
        "departures.commands.migrate_gates:gates_command",
        "Choose who may reply to and quote every post this workspace published.",
    ),
    LazyCommand(
        "undo",
        "departures.commands.migrate_publish:undo_command",
        "Delete from Bluesky every post this workspace published (replies first).",
    ),
)


@click.group(cls=LazyGroup, lazy=COMMANDS)
def migrate() -> None:
    """Turn your tweets into Bluesky posts: plan, preview, then publish.

    Start with: departures migrate plan, then departures migrate preview
    """
