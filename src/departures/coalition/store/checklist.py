"""The members' departure checklists (``checklist_ticks``): which items each one ticked.

The items themselves (their keys, texts and order) are :mod:`departures.coalition.checklist`'s;
this module keeps one row per ticked item, so a member finds its ticks again on any device
and the coordinator sees every member's progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select

from departures.coalition.store.schema import checklist_ticks, organisations

__all__ = ["progress", "save_ticks", "ticks"]


def ticks(engine: Engine, organisation_id: int) -> dict[str, datetime]:
    """The items the organisation ticked, with when."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(checklist_ticks.c.item, checklist_ticks.c.ticked_at).where(
                checklist_ticks.c.organisation_id == organisation_id
            )
        )
        return {str(row.item): row.ticked_at for row in rows}


def save_ticks(engine: Engine, organisation_id: int, items: Iterable[str], now: datetime) -> None:
    """Exactly ``items`` are ticked from now on (items ticked before keep their time)."""
    wanted = set(items)
    with engine.begin() as conn:
        had = set(
            conn.execute(
                select(checklist_ticks.c.item).where(
                    checklist_ticks.c.organisation_id == organisation_id
                )
            ).scalars()
        )
        gone = had - wanted
        if gone:
            conn.execute(
                delete(checklist_ticks).where(
                    checklist_ticks.c.organisation_id == organisation_id,
                    checklist_ticks.c.item.in_(sorted(gone)),
                )
            )
        for item in sorted(wanted - had):
            conn.execute(
                insert(checklist_ticks).values(
                    organisation_id=organisation_id, item=item, ticked_at=now
                )
            )


def progress(engine: Engine, campaign_id: int, items: Iterable[str]) -> dict[int, int]:
    """How many of ``items`` each member of the campaign ticked (members with none omitted)."""
    known = sorted(set(items))
    with engine.connect() as conn:
        rows = conn.execute(
            select(checklist_ticks.c.organisation_id, func.count())
            .select_from(
                checklist_ticks.join(
                    organisations, organisations.c.id == checklist_ticks.c.organisation_id
                )
            )
            .where(organisations.c.campaign_id == campaign_id, checklist_ticks.c.item.in_(known))
            .group_by(checklist_ticks.c.organisation_id)
        )
        return {int(row[0]): int(row[1]) for row in rows}
