"""``departures archive ...``: read the X archive into the workspace."""

from __future__ import annotations

import click


@click.group()
def archive() -> None:
    """Read your X archive into the local workspace."""
