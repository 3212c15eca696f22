"""``departures sandbox ...``: a real Bluesky network on this machine."""

from __future__ import annotations

import click


@click.group()
def sandbox() -> None:
    """Run a private Bluesky network on this machine for rehearsals and tests."""
