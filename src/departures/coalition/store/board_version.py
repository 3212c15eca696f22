"""The public board's version: one small row per campaign, bumped in the same transaction as
every change the board shows, read once per request by the board's cache.

The cache of rendered boards (:mod:`departures.coalition.web.board`) lives in each server
process; this row is what makes it right when several processes share one database: a process
re-renders when the version it reads differs from the one it rendered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from departures.coalition.store.schema import board_versions, campaigns
from departures.i18n import split_languages

__all__ = ["BoardVersion", "board_version", "bump_board"]


@dataclass(frozen=True)
class BoardVersion:
    """The board's version number and when it last changed."""

    campaign_id: int
    version: int
    changed_at: datetime
    deadline: datetime
    """The pledge deadline: the board's state can change when it passes, with no write."""
    departure_at: datetime
    """The departure: the countdown ends then."""
    languages: tuple[str, ...] = ("en",)
    """The languages the board is published in (the first for readers of any other)."""


def bump_board(conn: Connection, campaign_id: int, at: datetime) -> None:
    """Mark campaign ``campaign_id``'s board as changed, inside the caller's transaction."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(board_versions).values(
        campaign_id=campaign_id, version=1, changed_at=at
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[board_versions.c.campaign_id],
            set_={"version": board_versions.c.version + 1, "changed_at": at},
        )
    )


def board_version(engine: Engine, slug: str) -> BoardVersion | None:
    """The version of campaign ``slug``'s board (0 before any change); None if no campaign."""
    query = (
        select(
            campaigns.c.id,
            campaigns.c.created_at,
            campaigns.c.deadline,
            campaigns.c.departure_at,
            campaigns.c.languages,
            board_versions.c.version,
            board_versions.c.changed_at,
        )
        .select_from(campaigns.outerjoin(board_versions))
        .where(campaigns.c.slug == slug)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    languages = split_languages(row.languages)
    if row.version is None:
        return BoardVersion(row.id, 0, row.created_at, row.deadline, row.departure_at, languages)
    return BoardVersion(
        row.id, row.version, row.changed_at, row.deadline, row.departure_at, languages
    )
