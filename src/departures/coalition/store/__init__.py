"""The coalition store layer: the only code that writes SQL against the coalition database.

Every table is declared once, in :mod:`.schema` (one ``MetaData``, the one Alembic's
environment sees); the engine, its URL and the migrations belong to
:mod:`departures.coalition.db`. Each module here is the repository of one part of the data:

* :mod:`.campaigns` — :class:`CoalitionStore`: coordinators, campaigns, invites,
  organisations, pledges, announcements and the outbox (every change checked by the pure
  rules first);
* :mod:`.accounts` — the rows of connected Bluesky accounts (owners' encrypted sessions and
  budget state) and of directory visitors' sessions; the encryption is
  :mod:`departures.coalition.vault`'s;
* :mod:`.write_journal` — the one writer's journals: :class:`CoalitionJournal` per
  connected account, :class:`VisitorJournal` per directory visitor following all;
* :mod:`.directory` — the directory's consented X id → DID pairs;
* :mod:`.departure` — members' welcome posts for the departure day;
* :mod:`.graph` — the campaign's list, starter pack and moderation list URIs;
* :mod:`.reconnect` — members' X following ids, proposals and their follow state;
* :mod:`.processes` — what several server processes decide through the store: whose turn the
  scheduler pass is (PostgreSQL's advisory lock, a lease row on SQLite) and stored rate counts.

Domain modules (departure day, list sync, reconnect, directory, follow all) call these
named functions and classes; a unit test fails if any other coalition module runs SQL.
"""

from __future__ import annotations

from departures.coalition.store.campaigns import (
    INVITE_TTL,
    Campaign,
    CoalitionStore,
    Invite,
    Organisation,
    OutboxMessage,
    check_timezone,
    slugify,
    utc_now,
)

__all__ = [
    "INVITE_TTL",
    "Campaign",
    "CoalitionStore",
    "Invite",
    "Organisation",
    "OutboxMessage",
    "check_timezone",
    "slugify",
    "utc_now",
]
