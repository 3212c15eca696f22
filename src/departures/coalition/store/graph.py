"""The campaign's Bluesky graph (``campaign_graph``): the URIs of the coordinator's list,
starter pack and shared moderation list, once :mod:`departures.coalition.listsync` created
them; the departure day reads the moderation list's URI to subscribe members to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from departures.coalition.store.schema import campaign_graph

__all__ = ["CampaignGraph", "campaign_graph_of", "modlist_uri", "save_campaign_graph"]


@dataclass(frozen=True)
class CampaignGraph:
    """The URIs of a campaign's first list and starter pack, and its moderation list."""

    list_uri: str
    starter_pack_uri: str
    modlist_uri: str


def campaign_graph_of(engine: Engine, campaign_id: int) -> CampaignGraph | None:
    """The campaign's graph URIs, once a list sync recorded them."""
    with engine.connect() as conn:
        row = conn.execute(
            select(campaign_graph).where(campaign_graph.c.campaign_id == campaign_id)
        ).first()
    if row is None:
        return None
    return CampaignGraph(row.list_uri, row.starter_pack_uri, row.modlist_uri)


def modlist_uri(engine: Engine, campaign_id: int) -> str:
    """The campaign's shared moderation list ("" before a list sync created it)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(campaign_graph.c.modlist_uri).where(campaign_graph.c.campaign_id == campaign_id)
        ).scalar()
    return str(found or "")


def save_campaign_graph(
    engine: Engine,
    campaign_id: int,
    *,
    list_uri: str,
    starter_pack_uri: str,
    modlist_uri: str,
    synced_at: datetime,
    may_be_new: bool,
) -> None:
    """Record the campaign's graph URIs (``may_be_new``: the row may not exist yet)."""
    values = {
        "list_uri": list_uri,
        "starter_pack_uri": starter_pack_uri,
        "modlist_uri": modlist_uri,
        "synced_at": synced_at,
    }
    with engine.begin() as conn:
        if may_be_new:
            exists = conn.execute(
                select(campaign_graph.c.campaign_id).where(
                    campaign_graph.c.campaign_id == campaign_id
                )
            ).first()
            if exists is None:
                conn.execute(insert(campaign_graph).values(campaign_id=campaign_id, **values))
        conn.execute(
            update(campaign_graph)
            .where(campaign_graph.c.campaign_id == campaign_id)
            .values(**values)
        )
