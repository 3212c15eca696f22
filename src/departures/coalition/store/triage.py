"""The triage queue's rows: members' reply controls and opt-in, the coalition's word lists
and threshold, every scored reply with its reasons, and the posts the pass had to skip.

Written by :mod:`departures.coalition.triage`. A reply is stored once per member (a unique
key), so a pass killed midway and run again scores only what it had not stored yet.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from departures.coalition.store.schema import (
    organisations,
    triage_items,
    triage_members,
    triage_notes,
    triage_settings,
    triage_words,
)
from departures.coalition.store.values import check_text

__all__ = [
    "DEFAULT_THRESHOLD",
    "MemberTriage",
    "Scored",
    "TriageItem",
    "add_note",
    "decide",
    "item",
    "known_subjects",
    "member",
    "members_with_choice",
    "notes",
    "opted_in_members",
    "queue",
    "record_scored",
    "save_member",
    "save_threshold",
    "save_words",
    "threshold",
    "touch_pass",
    "word_lists",
]

#: Percent: a reply scoring this much or more waits for a person (bench/bench_triage.py).
DEFAULT_THRESHOLD = 60
#: The states a person can still act on.
OPEN_STATES = ("queued", "hiding")


@dataclass(frozen=True)
class MemberTriage:
    """A member's settings: triage on or off, the reply controls of its welcome post."""

    organisation_id: int
    opted_in: bool
    gate_choice: str  # JSON of departures.migrate.gates.GateChoice ("" for the default)
    last_pass_at: datetime | None


@dataclass(frozen=True)
class Scored:
    """One reply, mention or quote as the pass scored it."""

    subject_uri: str
    kind: str  # reply, mention or quote
    post_uri: str  # the member's post it answers (the mentioning post itself for a mention)
    root_uri: str  # its thread's root (where a hide is written)
    author_did: str
    author_handle: str
    text: str
    score: int
    model_score: int
    reasons: Sequence[str]


@dataclass(frozen=True)
class TriageItem:
    """A stored, scored reply and what became of it."""

    id: int
    organisation_id: int
    subject_uri: str
    kind: str
    post_uri: str
    root_uri: str
    author_did: str
    author_handle: str
    text: str
    score: int
    model_score: int
    reasons: list[str]
    threshold: int
    state: str
    scored_at: datetime
    decided_by: str
    decided_at: datetime | None
    decision_note: str


def _item(row: object) -> TriageItem:
    fields = row._mapping  # type: ignore[attr-defined]
    return TriageItem(
        **{k: fields[k] for k in fields if k != "reasons"}, reasons=json.loads(fields["reasons"])
    )


# --- members ---------------------------------------------------------------------------------


def member(engine: Engine, organisation_id: int) -> MemberTriage:
    """The member's settings (off, default controls, when never saved)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(triage_members).where(triage_members.c.organisation_id == organisation_id)
        ).first()
    if row is None:
        return MemberTriage(organisation_id, False, "", None)
    return MemberTriage(organisation_id, row.opted_in, row.gate_choice, row.last_pass_at)


def save_member(
    engine: Engine,
    organisation_id: int,
    *,
    now: datetime,
    opted_in: bool | None = None,
    gate_choice: str | None = None,
) -> MemberTriage:
    """Change the member's opt-in and/or reply controls (what is None stays)."""
    values: dict[str, object] = {"updated_at": now}
    if opted_in is not None:
        values["opted_in"] = opted_in
    if gate_choice is not None:
        values["gate_choice"] = gate_choice
    with engine.begin() as conn:
        found = conn.execute(
            select(triage_members.c.organisation_id).where(
                triage_members.c.organisation_id == organisation_id
            )
        ).first()
        if found is None:
            conn.execute(
                insert(triage_members).values(
                    organisation_id=organisation_id,
                    opted_in=bool(opted_in),
                    gate_choice=gate_choice or "",
                    updated_at=now,
                )
            )
        else:
            conn.execute(
                update(triage_members)
                .where(triage_members.c.organisation_id == organisation_id)
                .values(**values)
            )
    return member(engine, organisation_id)


def opted_in_members(engine: Engine, campaign_id: int | None = None) -> list[int]:
    """Ids of the organisations whose replies the pass reads (of one campaign, or all)."""
    query = (
        select(triage_members.c.organisation_id)
        .join(organisations, organisations.c.id == triage_members.c.organisation_id)
        .where(triage_members.c.opted_in.is_(True))
        .order_by(triage_members.c.organisation_id)
    )
    if campaign_id is not None:
        query = query.where(organisations.c.campaign_id == campaign_id)
    with engine.connect() as conn:
        return [int(i) for i in conn.execute(query).scalars()]


def members_with_choice(engine: Engine) -> list[int]:
    """Ids of the organisations that chose reply controls (the pass keeps their gates)."""
    with engine.connect() as conn:
        return [
            int(i)
            for i in conn.execute(
                select(triage_members.c.organisation_id)
                .where(triage_members.c.gate_choice != "")
                .order_by(triage_members.c.organisation_id)
            ).scalars()
        ]


def touch_pass(engine: Engine, organisation_id: int, now: datetime) -> None:
    """Record that a pass read the member's replies."""
    with engine.begin() as conn:
        conn.execute(
            update(triage_members)
            .where(triage_members.c.organisation_id == organisation_id)
            .values(last_pass_at=now)
        )


# --- the coalition's word lists and threshold -----------------------------------------------


def word_lists(engine: Engine, campaign_id: int) -> dict[str, str]:
    """``{lang: words}`` as stored (one term or phrase a line)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(triage_words.c.lang, triage_words.c.words).where(
                triage_words.c.campaign_id == campaign_id
            )
        ).all()
    return {row.lang: row.words for row in rows}


def save_words(engine: Engine, campaign_id: int, lang: str, words: str, now: datetime) -> None:
    """Store the word list of ``lang`` (replacing it)."""
    words = check_text("triage_words", words)
    with engine.begin() as conn:
        conn.execute(
            delete(triage_words).where(
                triage_words.c.campaign_id == campaign_id, triage_words.c.lang == lang
            )
        )
        conn.execute(
            insert(triage_words).values(
                campaign_id=campaign_id, lang=lang, words=words, updated_at=now
            )
        )


def threshold(engine: Engine, campaign_id: int) -> int:
    """The campaign's threshold in percent (:data:`DEFAULT_THRESHOLD` unless changed)."""
    with engine.connect() as conn:
        found = conn.execute(
            select(triage_settings.c.threshold).where(triage_settings.c.campaign_id == campaign_id)
        ).scalar()
    return DEFAULT_THRESHOLD if found is None else int(found)


def save_threshold(engine: Engine, campaign_id: int, percent: int, now: datetime) -> None:
    """Change the campaign's threshold (1-100 percent)."""
    percent = max(1, min(100, int(percent)))
    with engine.begin() as conn:
        conn.execute(delete(triage_settings).where(triage_settings.c.campaign_id == campaign_id))
        conn.execute(
            insert(triage_settings).values(
                campaign_id=campaign_id, threshold=percent, updated_at=now
            )
        )


# --- scored replies ------------------------------------------------------------------------


def known_subjects(engine: Engine, organisation_id: int) -> set[str]:
    """The URIs already scored for the member (a resumed pass skips them)."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(triage_items.c.subject_uri).where(
                    triage_items.c.organisation_id == organisation_id
                )
            ).scalars()
        )


def record_scored(
    engine: Engine, organisation_id: int, scored: Scored, *, threshold: int, now: datetime
) -> bool:
    """Store one scored reply (queued when at or over ``threshold``); False if known already.

    Below the threshold only the score and reasons are kept, not the text: what nobody needs
    to read is not stored.
    """
    queued = scored.score >= threshold
    values = {
        "organisation_id": organisation_id,
        "subject_uri": scored.subject_uri,
        "kind": scored.kind,
        "post_uri": scored.post_uri,
        "root_uri": scored.root_uri,
        "author_did": scored.author_did,
        "author_handle": scored.author_handle[:253],
        "text": scored.text[:3000] if queued else "",
        "score": scored.score,
        "model_score": scored.model_score,
        "reasons": json.dumps(list(scored.reasons)),
        "threshold": threshold,
        "state": "queued" if queued else "below",
        "scored_at": now,
        "decided_by": "",
        "decision_note": "",
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(triage_items).values(**values))
    except IntegrityError:
        return False  # scored by an earlier (or concurrent) pass
    return True


def queue(
    engine: Engine, organisation_id: int, *, states: Sequence[str] = OPEN_STATES
) -> list[TriageItem]:
    """The member's items in ``states``, highest score first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(triage_items)
            .where(
                triage_items.c.organisation_id == organisation_id,
                triage_items.c.state.in_(list(states)),
            )
            .order_by(triage_items.c.score.desc(), triage_items.c.id)
        ).all()
    return [_item(row) for row in rows]


def item(engine: Engine, organisation_id: int, item_id: int) -> TriageItem | None:
    """One of the member's items (None when it is not the member's)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(triage_items).where(
                and_(
                    triage_items.c.id == item_id, triage_items.c.organisation_id == organisation_id
                )
            )
        ).first()
    return None if row is None else _item(row)


def decide(
    engine: Engine,
    organisation_id: int,
    item_id: int,
    *,
    state: str,
    by: str,
    note: str,
    now: datetime,
    from_states: Sequence[str] = OPEN_STATES,
) -> bool:
    """Record a person's decision on an open item; False when it was decided already.

    The text is dropped once the item is dismissed: its score and reasons stay for tuning.
    """
    values: dict[str, object] = {
        "state": state,
        "decided_by": check_text("decision_note", by)[:200],
        "decision_note": check_text("decision_note", note),
        "decided_at": now,
    }
    if state == "dismissed":
        values["text"] = ""
    with engine.begin() as conn:
        changed = conn.execute(
            update(triage_items)
            .where(
                triage_items.c.id == item_id,
                triage_items.c.organisation_id == organisation_id,
                triage_items.c.state.in_(list(from_states)),
            )
            .values(**values)
        ).rowcount
    return bool(changed)


def hidden_uris(engine: Engine, organisation_id: int, root_uri: str) -> list[str]:
    """The replies of the member's thread ``root_uri`` that a person chose to hide."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(triage_items.c.subject_uri)
                .where(
                    triage_items.c.organisation_id == organisation_id,
                    triage_items.c.root_uri == root_uri,
                    triage_items.c.state.in_(["hiding", "hidden"]),
                )
                .order_by(triage_items.c.id)
            ).scalars()
        )


def hiding(engine: Engine) -> list[tuple[int, str]]:
    """(organisation id, root URI) of hides decided but not yet written."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(triage_items.c.organisation_id, triage_items.c.root_uri)
            .where(triage_items.c.state == "hiding")
            .distinct()
        ).all()
    return [(int(row.organisation_id), str(row.root_uri)) for row in rows]


def mark_hidden(engine: Engine, organisation_id: int, root_uri: str, uris: Sequence[str]) -> None:
    """The thread gate on ``root_uri`` now hides ``uris``."""
    if not uris:
        return
    with engine.begin() as conn:
        conn.execute(
            update(triage_items)
            .where(
                triage_items.c.organisation_id == organisation_id,
                triage_items.c.root_uri == root_uri,
                triage_items.c.subject_uri.in_(list(uris)),
                triage_items.c.state == "hiding",
            )
            .values(state="hidden")
        )


def scores(engine: Engine, campaign_id: int) -> list[tuple[int, str, str]]:
    """(score, state, reasons JSON) of every item of the campaign's members (for tuning)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(triage_items.c.score, triage_items.c.state, triage_items.c.reasons)
            .join(organisations, organisations.c.id == triage_items.c.organisation_id)
            .where(organisations.c.campaign_id == campaign_id)
        ).all()
    return [(int(r.score), str(r.state), str(r.reasons)) for r in rows]


# --- notes -----------------------------------------------------------------------------------


def add_note(engine: Engine, organisation_id: int, post_uri: str, note: str, now: datetime) -> None:
    """Note a post the pass skipped, and why."""
    with engine.begin() as conn:
        conn.execute(
            insert(triage_notes).values(
                organisation_id=organisation_id,
                post_uri=post_uri[:600],
                note=note[:500],
                noted_at=now,
            )
        )


def notes(engine: Engine, organisation_id: int, limit: int = 20) -> list[tuple[datetime, str, str]]:
    """The member's latest notes: (when, post URI, why)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(triage_notes.c.noted_at, triage_notes.c.post_uri, triage_notes.c.note)
            .where(triage_notes.c.organisation_id == organisation_id)
            .order_by(triage_notes.c.id.desc())
            .limit(limit)
        ).all()
    return [(r.noted_at, r.post_uri, r.note) for r in rows]
