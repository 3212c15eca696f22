"""The directory's rows: consented X id → Bluesky DID pairs (``directory_entries``).

Checking what is registered (well-formed ids, consent sources) is
:mod:`departures.coalition.directory`'s; this module only stores and finds the pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from departures.coalition.store.schema import directory_entries, reconnect_proposals
from departures.coalition.store.values import check_text

__all__ = [
    "delete_did",
    "entries_of_did",
    "export_pairs",
    "handles_of",
    "lookup_pairs",
    "upsert_entry",
]

# PostgreSQL and SQLite both cap the parameters of one statement: ask in slices.
_IN_SLICE = 500


def upsert_entry(
    engine: Engine,
    *,
    x_id: str,
    x_username: str,
    did: str,
    handle: str,
    source: str,
    consented_at: datetime,
) -> None:
    """Store the pair of ``x_id``, replacing whatever the X id was paired with before."""
    values: dict[str, Any] = {
        "x_id": x_id,
        "x_username": check_text("x_username", x_username),
        "did": check_text("did", did),
        "handle": check_text("handle", handle),
        "source": source,
        "consented_at": consented_at,
    }
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    statement = insert(directory_entries).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["x_id"], set_={k: v for k, v in values.items() if k != "x_id"}
    )
    with engine.begin() as conn:
        conn.execute(statement)


def delete_did(engine: Engine, did: str) -> int:
    """Delete every pair of ``did`` and what was proposed to members from them; how many pairs.

    One transaction: the member pages stop listing the account and no follow is made for it.
    """
    with engine.begin() as conn:
        conn.execute(delete(reconnect_proposals).where(reconnect_proposals.c.did == did))
        return conn.execute(
            delete(directory_entries).where(directory_entries.c.did == did)
        ).rowcount


def entries_of_did(engine: Engine, did: str) -> list[dict[str, Any]]:
    """The full rows of one DID's pairs, in X id order."""
    query = (
        select(directory_entries)
        .where(directory_entries.c.did == did)
        .order_by(directory_entries.c.x_id)
    )
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def lookup_pairs(engine: Engine, x_ids: Sequence[str]) -> list[dict[str, str]]:
    """``{"x_id", "did", "handle"}`` of the pairs of these X ids, in X id order."""
    query = (
        select(directory_entries.c.x_id, directory_entries.c.did, directory_entries.c.handle)
        .where(directory_entries.c.x_id.in_(list(x_ids)))
        .order_by(directory_entries.c.x_id)
    )
    with engine.connect() as conn:
        return [
            {"x_id": row.x_id, "did": row.did, "handle": row.handle} for row in conn.execute(query)
        ]


def export_pairs(engine: Engine) -> list[dict[str, str]]:
    """Every pair as ``{"x_id", "did", "handle"}``, in X id order."""
    query = select(
        directory_entries.c.x_id, directory_entries.c.did, directory_entries.c.handle
    ).order_by(directory_entries.c.x_id)
    with engine.connect() as conn:
        return [{"x_id": r.x_id, "did": r.did, "handle": r.handle} for r in conn.execute(query)]


def handles_of(engine: Engine, dids: Sequence[str]) -> dict[str, str]:
    """``{did: handle}`` of the DIDs that are in the directory now (others are absent)."""
    handles: dict[str, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(dids), _IN_SLICE):
            for row in conn.execute(
                select(directory_entries.c.did, directory_entries.c.handle).where(
                    directory_entries.c.did.in_(list(dids[start : start + _IN_SLICE]))
                )
            ):
                handles.setdefault(row.did, row.handle)
    return handles
