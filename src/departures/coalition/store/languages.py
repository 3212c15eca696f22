"""Languages in the store: each member organisation's own (its e-mails, its default welcome
post) and each campaign's (the languages its public board is published in)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Engine, update

from departures.coalition.errors import BadInput, NotFound
from departures.coalition.store.board_version import bump_board
from departures.coalition.store.schema import campaigns, organisations
from departures.i18n import LANGUAGES, _, normalise_language, split_languages

__all__ = [
    "join_languages",
    "set_campaign_languages",
    "set_organisation_language",
    "split_languages",
]


def join_languages(codes: Iterable[str]) -> str:
    """The stored form of a campaign's languages; at least one, each supported."""
    chosen: list[str] = []
    for code in codes:
        language = normalise_language(code)
        if language is None:
            raise BadInput(
                _("%(code)s is not a language of this service") % {"code": code[:20]},
                _("Choose among English, Dutch and French"),
            )
        if language not in chosen:
            chosen.append(language)
    if not chosen:
        raise BadInput(
            _("the board needs at least one language"),
            _("Tick one or more languages"),
        )
    return ",".join(chosen)


def _one_language(code: str) -> str:
    language = normalise_language(code)
    if language is None or language not in LANGUAGES:
        raise BadInput(
            _("%(code)s is not a language of this service") % {"code": code[:20]},
            _("Choose among English, Dutch and French"),
        )
    return language


def set_organisation_language(engine: Engine, organisation_id: int, code: str) -> str:
    """Set the language the organisation's e-mails are written in; returns it."""
    language = _one_language(code)
    with engine.begin() as conn:
        changed = conn.execute(
            update(organisations)
            .where(organisations.c.id == organisation_id)
            .values(language=language)
        )
    if changed.rowcount != 1:
        raise NotFound(_("there is no such organisation"))
    return language


def set_campaign_languages(
    engine: Engine, campaign_id: int, codes: Iterable[str], at: datetime
) -> tuple[str, ...]:
    """Set the languages the campaign's board is published in (the first is the one readers
    of other languages get); the board changes, so its version is bumped."""
    stored = join_languages(codes)
    with engine.begin() as conn:
        changed = conn.execute(
            update(campaigns).where(campaigns.c.id == campaign_id).values(languages=stored)
        )
        if changed.rowcount != 1:
            raise NotFound(_("there is no such campaign"))
        bump_board(conn, campaign_id, at)
    return split_languages(stored)
