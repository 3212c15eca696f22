"""The member's departure checklist: what an organisation does to leave X well.

The items are fixed and ordered, ending with the X account left **dormant, not deleted** (a
deleted account's name can be taken by anyone after 30 days; a dormant one keeps it and
keeps pointing followers to Bluesky). A member ticks items on its page; the ticks are stored
(:mod:`departures.coalition.store.checklist`), so they are there on any device, and the
coordinator sees each member's progress.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from departures.coalition.errors import BadInput
from departures.coalition.i18n import _, lazy_gettext
from departures.coalition.store import checklist as rows
from departures.i18n import LazyString

__all__ = ["ITEMS", "Item", "items", "progress", "save", "ticked"]

ITEMS = ("archive", "profile", "welcome", "farewell", "bio", "links", "dormant")
"""The items' keys, in the order they are done."""


@dataclass(frozen=True)
class Item:
    """One checklist item as the member sees it."""

    key: str
    text: LazyString
    """Translated where it is shown, in the language of the page."""
    ticked_at: datetime | None


def _texts() -> dict[str, LazyString]:
    # Translated where they are shown (the page's language), not where they are listed.
    return {
        "archive": lazy_gettext(
            "We downloaded our X archive (Settings → Your account → Download an archive)."
        ),
        "profile": lazy_gettext("Our Bluesky profile has our name, logo and description."),
        "welcome": lazy_gettext(
            "Our welcome post on Bluesky is written (or we post it ourselves)."
        ),
        "farewell": lazy_gettext("The farewell post is on X, pinned to our profile."),
        "bio": lazy_gettext("Our X bio points to our Bluesky handle."),
        "links": lazy_gettext("Our website and newsletter link to Bluesky instead of X."),
        "dormant": lazy_gettext(
            "Our X account is dormant, not deleted: we signed out and turned notifications "
            "off, so nobody can take our name."
        ),
    }


def items(engine: Engine, organisation_id: int) -> list[Item]:
    """The checklist of an organisation, with what it ticked."""
    done = rows.ticks(engine, organisation_id)
    texts = _texts()
    return [Item(key, texts[key], done.get(key)) for key in ITEMS]


def ticked(engine: Engine, organisation_id: int) -> int:
    """How many items the organisation ticked."""
    return sum(1 for key in rows.ticks(engine, organisation_id) if key in ITEMS)


def save(engine: Engine, organisation_id: int, keys: Iterable[str], now: datetime) -> None:
    """Exactly ``keys`` are ticked; an unknown key is refused."""
    wanted = set(keys)
    unknown = wanted - set(ITEMS)
    if unknown:
        raise BadInput(
            _("%(item)s is not an item of the checklist") % {"item": sorted(unknown)[0][:40]},
            _("Reload the page and tick the items again"),
        )
    rows.save_ticks(engine, organisation_id, wanted, now)


def progress(engine: Engine, campaign_id: int) -> dict[int, int]:
    """How many items each member of the campaign ticked (organisation id → count)."""
    return rows.progress(engine, campaign_id, ITEMS)
