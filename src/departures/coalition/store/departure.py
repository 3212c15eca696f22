"""The departure day's rows: members' welcome posts (``departure_posts``).

A member's prepared welcome post, its opt-in, and (once published) the post's URI, written
by :mod:`departures.coalition.departure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from departures.coalition.store.schema import departure_posts
from departures.coalition.store.values import check_text

__all__ = [
    "StoredWelcome",
    "clear_welcome_opt_in",
    "mark_welcome_published",
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
        values = {"text": check_text("welcome_text", text), "opted_in": opted_in, "updated_at": now}
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
