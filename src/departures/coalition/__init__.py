"""The coalition: a campaign to leave X together, its members' pledges, and the public board.

Modules, from pure to I/O:

* :mod:`.rules` — the campaign rules as pure functions (pledge resolution, states, events).
* :mod:`.forms`, :mod:`.security`, :mod:`.i18n` — untrusted input, tokens and signed
  cookies, translatable texts.
* :mod:`.schema`, :mod:`.db`, :mod:`.store` — the store (SQLAlchemy Core on SQLite or
  PostgreSQL, Alembic migrations in :mod:`.migrations`); :mod:`.db` owns the engine,
  :class:`.store.CoalitionStore` is the only code that queries it.
* :mod:`.handles` — Bluesky handle → DID, the verified-domain mark, landing checks.
* :mod:`.board` — the departures board as data, JSON and Atom.
* :mod:`.notify` and :mod:`.hooks` — the scheduler pass (announcements, reminders,
  follow-through, outbox delivery by SMTP/webhook) and the hooks for the Bluesky writes of the
  departure day and the list/starter-pack sync.
* :mod:`.departure`, :mod:`.listsync`, :mod:`.journal` — the departure day's welcome posts,
  the coalition's list, starter packs and moderation list, written through the one journaled
  writer with its journal and encrypted sessions in this store.
* :mod:`.web` — the ASGI app (Starlette + Jinja templates in ``templates/``).

The command line is ``departures coalition ...`` (:mod:`departures.commands.coalition`).
"""
