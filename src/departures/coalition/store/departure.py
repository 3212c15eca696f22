"""The departure day's rows: members' welcome posts and the campaign's Bluesky graph.

* ``departure_posts`` — a member's prepared welcome post, its opt-in, and (once published)
  the post's URI: written by :mod:`departures.coalition.departure`;
* ``campaign_graph`` — the coordinator's list, starter pack and moderation list of a
  campaign, once created: written by :mod:`departures.coalition.listsync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from departures.coalition.store.schema import campaign_graph, departure_posts

__all__ = [
    "CampaignGraph",
    "StoredWelcome",
    "campaign_graph_of",
    "clear_welcome_opt_in",
    "mark_welcome_published",
    "modlist_uri",
    "save_campaign_graph",
    "save_welcome",
    "stored_welcome",
]


@dataclass(frozen=True)
class StoredWelcome:
    """A member's welcome post as stored."""

    text: str
    opted_in: bool
    post_uri: str
    published_at: datetime | None


@dataclass(frozen=True)
class CampaignGraph:
    """The URIs of a campaign's first list and starter pack, and its moderation list."""

    list_uri: str
    starter_pack_uri: str
    modlist_uri: str


# --- welcome posts ------------------------------------------------------------------------


def stored_welcome(engine: Engine, organisation_id: int) -> StoredWelcome | None:
    """The member's welcome post, if it was ever prepared."""
    with engine.connect() as conn:
        row = conn.execute(
            select(departure_posts).where(departure_posts.c.organisation_id == organisation_id)
        ).first()
    if row is None:
        return None
    return StoredWelcome(row.text, row.opted_in, row.post_uri, row.published_at)


def save_welcome(
    engine: Engine, organisation_id: int, *, text: str, opted_in: bool, now: datetime
) -> None:
    """Store the welcome text and opt-in; a post already published is left as it is."""
    with engine.begin() as conn:
        found = conn.execute(
            select(departure_posts.c.organisation_id).where(
                departure_posts.c.organisation_id == organisation_id
            )
        ).first()
        values = {"text": text, "opted_in": opted_in, "updated_at": now}
        if found is None:
            conn.execute(
                insert(departure_posts).values(
                    organisation_id=organisation_id, post_uri="", **values
                )
            )
        else:
            conn.execute(
                update(departure_posts)
                .where(
                    departure_posts.c.organisation_id == organisation_id,
                    departure_posts.c.post_uri == "",
                )
                .values(**values)
            )


def clear_welcome_opt_in(engine: Engine, organisation_id: int, now: datetime) -> None:
    """The member's post is no longer to be published (its account was disconnected)."""
    with engine.begin() as conn:
        conn.execute(
            update(departure_posts)
            .where(departure_posts.c.organisation_id == organisation_id)
            .values(opted_in=False, updated_at=now)
        )


def mark_welcome_published(engine: Engine, organisation_id: int, uri: str, now: datetime) -> None:
    """Record the published post's URI."""
    with engine.begin() as conn:
        conn.execute(
            update(departure_posts)
            .where(departure_posts.c.organisation_id == organisation_id)
            .values(post_uri=uri, published_at=now)
        )


# --- the campaign's graph -----------------------------------------------------------------


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
