"""X claims with proof levels (``directory_entries``, ``directory_claim_audit``) and members'
Bluesky connections (``member_connections``), the board's verified-domain mark resting on them.

Which claim on an X id stands is the pure :mod:`departures.coalition.claims`'s; this module
stores the claims, keeps every change to them in the audit (who, when, why), and in the same
transaction withdraws what reconnect proposed from a claim that no longer stands, so that the
next pass proposes the claim that does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, delete, func, insert, select, update

from departures.coalition.claims import (
    TRUSTED,
    UNVERIFIED,
    Claim,
    Standing,
    domain_mark_holds,
    rank,
    standing,
    stronger,
)
from departures.coalition.errors import BadInput, NotFound
from departures.coalition.i18n import _, ngettext
from departures.coalition.store.board_version import bump_board
from departures.coalition.store.schema import (
    directory_claim_audit,
    directory_entries,
    member_connections,
    organisations,
    reconnect_proposals,
)
from departures.coalition.store.values import check_text

__all__ = [
    "CONNECTION_METHODS",
    "AuditLine",
    "MemberConnection",
    "TooManyClaims",
    "audit_lines",
    "decide_dispute",
    "disputes",
    "forget_member_connection",
    "member_connection",
    "member_connections_of",
    "put_claim",
    "record_member_connection",
    "refresh_domain_mark",
    "standing_pairs",
    "standings",
    "standings_all",
    "trusted_pairs",
    "vouch",
]

CONNECTION_METHODS = ("oauth", "app_password")
# PostgreSQL and SQLite both cap the parameters of one statement: ask in slices.
_IN_SLICE = 500


class TooManyClaims(BadInput):
    """A DID already holds as many unproven claims as the coalition allows."""


@dataclass(frozen=True)
class AuditLine:
    """One change to a claim: who did what, when and why."""

    x_id: str
    did: str
    action: str  # "verified", "vouched", "decided", "rejected", "added"
    level: str
    actor: str
    reason: str
    at: datetime


# --- claims ---------------------------------------------------------------------------------


def _claim(row: Row[Any]) -> Claim:
    return Claim(row.x_id, row.did, row.handle, row.x_username, row.level, row.status, row.level_at)


def _claims_of(conn: Connection, x_ids: Sequence[str]) -> dict[str, list[Claim]]:
    found: dict[str, list[Claim]] = {}
    for start in range(0, len(x_ids), _IN_SLICE):
        query = select(directory_entries).where(
            directory_entries.c.x_id.in_(list(x_ids[start : start + _IN_SLICE]))
        )
        for row in conn.execute(query):
            found.setdefault(row.x_id, []).append(_claim(row))
    return found


def standings(engine: Engine, x_ids: Sequence[str]) -> dict[str, Standing]:
    """The standing of the claims on each of these X ids (ids nobody claims are absent)."""
    with engine.connect() as conn:
        claims = _claims_of(conn, list(dict.fromkeys(x_ids)))
    return {x_id: standing(x_id, found) for x_id, found in sorted(claims.items())}


def standings_all(engine: Engine) -> list[Standing]:
    """The standing of every claimed X id, in X id order (the directory's export)."""
    query = select(directory_entries).order_by(directory_entries.c.x_id)
    grouped: dict[str, list[Claim]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            grouped.setdefault(row.x_id, []).append(_claim(row))
    return [standing(x_id, claims) for x_id, claims in grouped.items()]


def _audit(
    conn: Connection,
    x_id: str,
    did: str,
    action: str,
    level: str,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    conn.execute(
        insert(directory_claim_audit).values(
            x_id=x_id,
            did=did,
            action=action,
            level=level,
            actor=check_text("name", actor),
            reason=check_text("reason", reason),
            at=at,
        )
    )


def _settle_proposals(conn: Connection, x_id: str) -> None:
    """Withdraw what reconnect proposed from a claim on ``x_id`` that no longer stands.

    Only proposals not yet acted on: a follow already made stays as it was (the member sees
    it on its page). The next reconnect pass proposes the claim that stands now, if any.
    """
    now_standing = standing(x_id, _claims_of(conn, [x_id]).get(x_id, []))
    keep = now_standing.winner.did if now_standing.winner is not None else None
    condition = and_(reconnect_proposals.c.x_id == x_id, reconnect_proposals.c.state == "proposed")
    if keep is not None:
        condition = and_(condition, reconnect_proposals.c.did != keep)
    conn.execute(delete(reconnect_proposals).where(condition))


def _unverified_count(conn: Connection, did: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(directory_entries)
            .where(directory_entries.c.did == did, directory_entries.c.level.in_(UNVERIFIED))
        ).scalar_one()
    )


def put_claim(
    engine: Engine,
    *,
    x_id: str,
    x_username: str,
    did: str,
    handle: str,
    source: str,
    level: str,
    now: datetime,
    max_unverified: int,
    actor: str = "",
    reason: str = "",
) -> Claim:
    """Store ``did``'s claim on ``x_id`` at ``level`` (never lowering a level it has).

    Other DIDs' claims on the same X id are kept: a second claimant is never locked out. A
    new unproven claim (``archive``, ``declared``) is refused with :class:`TooManyClaims`
    when the DID holds ``max_unverified`` of them already. A raised level makes a rejected
    claim active again and is written to the audit (``actor``, ``reason``).
    """
    rank(level)
    values: dict[str, Any] = {
        "x_username": check_text("x_username", x_username),
        "handle": check_text("handle", handle),
        "source": source,
    }
    key = and_(directory_entries.c.x_id == x_id, directory_entries.c.did == did)
    with engine.begin() as conn:
        row = conn.execute(select(directory_entries).where(key)).first()
        if row is None:
            if level in UNVERIFIED and _unverified_count(conn, did) >= max_unverified:
                raise TooManyClaims(
                    ngettext(
                        "this Bluesky account already claims %(n)d X account without proof",
                        "this Bluesky account already claims %(n)d X accounts without proof",
                        max_unverified,
                    )
                    % {"n": max_unverified},
                    _("Prove one with Sign in with X, or withdraw and register again"),
                )
            conn.execute(
                insert(directory_entries).values(
                    x_id=x_id,
                    did=check_text("did", did),
                    consented_at=now,
                    level=level,
                    status="active",
                    level_at=now,
                    **values,
                )
            )
            raised = True
        else:
            new_level = stronger(row.level, level)
            raised = rank(new_level) > rank(row.level)
            if raised:
                values.update(level=new_level, status="active", level_at=now)
            else:
                values.pop("source")  # the source says how the standing level was earned
            conn.execute(update(directory_entries).where(key).values(**values))
            level = new_level
        if raised and (level in TRUSTED or actor):
            _audit(conn, x_id, did, level, level, actor or did, reason, now)
        _settle_proposals(conn, x_id)
        found = conn.execute(select(directory_entries).where(key)).one()
    return _claim(found)


def vouch(engine: Engine, *, x_id: str, did: str, actor: str, reason: str, now: datetime) -> Claim:
    """A coordinator confirms ``did``'s claim on ``x_id``: it becomes ``vouched``.

    A verified claim stays verified (the vouch is still written to the audit). NotFound when
    the DID made no such claim: a coordinator vouches for a claim, never invents one.
    """
    if not reason.strip():
        raise BadInput(
            _("say why you vouch for this claim"), _("Write a short reason, e.g. “our member”")
        )
    key = and_(directory_entries.c.x_id == x_id, directory_entries.c.did == did)
    with engine.begin() as conn:
        row = conn.execute(select(directory_entries).where(key)).first()
        if row is None:
            raise NotFound(
                _("%(did)s has no claim on the X id %(x_id)s") % {"did": did, "x_id": x_id},
                _("See the claims with: departures coalition claims show X_ID"),
            )
        level = stronger(row.level, "vouched")
        conn.execute(
            update(directory_entries)
            .where(key)
            .values(
                level=level,
                status="active",
                level_at=now if level != row.level else row.level_at,
            )
        )
        _audit(conn, x_id, did, "vouched", level, actor, reason.strip(), now)
        _settle_proposals(conn, x_id)
        return _claim(conn.execute(select(directory_entries).where(key)).one())


def trusted_pairs(engine: Engine, x_ids: Sequence[str]) -> set[tuple[str, str]]:
    """(X id, DID) of the claims that stand on these X ids *and* are proven (verified or
    vouched): the only ones a machine may follow for someone."""
    return {
        (x_id, where.winner.did)
        for x_id, where in standings(engine, x_ids).items()
        if where.winner is not None and where.winner.trusted
    }


def standing_pairs(rows: Iterable[Row[Any]]) -> list[Row[Any]]:
    """Of ``rows`` (directory rows with their level, status and time), the standing claims."""
    grouped: dict[str, list[Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(row.x_id, []).append(row)
    out: list[Row[Any]] = []
    for x_id, found in grouped.items():
        where = standing(x_id, [_claim(row) for row in found])
        if where.winner is not None:
            out.extend(row for row in found if row.did == where.winner.did)
    return out


def disputes(engine: Engine) -> list[Standing]:
    """The coordinators' review queue: X ids claimed by several DIDs at the same top level."""
    crowded = (
        select(directory_entries.c.x_id)
        .where(directory_entries.c.status == "active")
        .group_by(directory_entries.c.x_id)
        .having(func.count() > 1)
        .order_by(directory_entries.c.x_id)
    )
    with engine.connect() as conn:
        x_ids = list(conn.execute(crowded).scalars())
        claims = _claims_of(conn, x_ids)
    found = [standing(x_id, claims.get(x_id, [])) for x_id in x_ids]
    return [s for s in found if s.disputed]


def decide_dispute(
    engine: Engine, *, x_id: str, winner_did: str, actor: str, reason: str, now: datetime
) -> Standing:
    """A coordinator decides a dispute for ``winner_did``: the other tied claims are rejected.

    Rejected claims are kept (their owner can still prove theirs, which makes it active
    again); each decision is written to the audit.
    """
    if not reason.strip():
        raise BadInput(_("say why you decide so"), _("Write a short reason for the audit"))
    with engine.begin() as conn:
        current = standing(x_id, _claims_of(conn, [x_id]).get(x_id, []))
        if not current.disputed:
            raise BadInput(
                _("the X id %(x_id)s is not disputed (any more)") % {"x_id": x_id},
                _("Reload the review queue"),
            )
        losers = [c for c in current.contenders if c.did != winner_did]
        if len(losers) == len(current.contenders):
            raise BadInput(
                _("%(did)s is not one of the disputed claims on %(x_id)s")
                % {"did": winner_did, "x_id": x_id},
                _("Choose one of the claims shown in the queue"),
            )
        for loser in losers:
            conn.execute(
                update(directory_entries)
                .where(directory_entries.c.x_id == x_id, directory_entries.c.did == loser.did)
                .values(status="rejected")
            )
            _audit(conn, x_id, loser.did, "rejected", loser.level, actor, reason.strip(), now)
        winner = next(c for c in current.contenders if c.did == winner_did)
        _audit(conn, x_id, winner_did, "decided", winner.level, actor, reason.strip(), now)
        _settle_proposals(conn, x_id)
        return standing(x_id, _claims_of(conn, [x_id]).get(x_id, []))


def audit_lines(
    engine: Engine, x_ids: Iterable[str] | None = None, limit: int = 200
) -> list[AuditLine]:
    """The latest audit lines (of these X ids, or all), newest first."""
    query = select(directory_claim_audit).order_by(
        directory_claim_audit.c.at.desc(), directory_claim_audit.c.id.desc()
    )
    if x_ids is not None:
        query = query.where(directory_claim_audit.c.x_id.in_(list(x_ids)[:_IN_SLICE]))
    with engine.connect() as conn:
        return [
            AuditLine(r.x_id, r.did, r.action, r.level, r.actor, r.reason, r.at)
            for r in conn.execute(query.limit(limit))
        ]


# --- members' Bluesky connections and the verified-domain mark ------------------------------


@dataclass(frozen=True)
class MemberConnection:
    """The Bluesky account a member organisation connected, and how."""

    organisation_id: int
    did: str
    handle: str
    method: str  # "oauth" or "app_password"
    connected_at: datetime


def _connection(row: Row[Any]) -> MemberConnection:
    return MemberConnection(row.organisation_id, row.did, row.handle, row.method, row.connected_at)


def _refresh_mark(
    conn: Connection, organisation_id: int, now: datetime, *, changed: bool = False
) -> bool:
    """Recompute the organisation's verified-domain mark in this transaction; the mark.

    The board is bumped when the mark changes, or when ``changed`` (the connection the mark
    rests on changed, and the board says how the mark was earned).
    """
    org = conn.execute(
        select(
            organisations.c.campaign_id,
            organisations.c.bluesky_did,
            organisations.c.bluesky_handle,
            organisations.c.website,
            organisations.c.verified_domain,
        ).where(organisations.c.id == organisation_id)
    ).first()
    if org is None:
        raise NotFound(f"no organisation {organisation_id}")
    row = conn.execute(
        select(member_connections).where(member_connections.c.organisation_id == organisation_id)
    ).first()
    mark = row is not None and domain_mark_holds(
        method=row.method,
        connected_did=row.did,
        connected_handle=row.handle,
        organisation_did=org.bluesky_did,
        organisation_handle=org.bluesky_handle,
        website=org.website,
    )
    if mark != org.verified_domain:
        conn.execute(
            update(organisations)
            .where(organisations.c.id == organisation_id)
            .values(verified_domain=mark)
        )
    if mark != org.verified_domain or changed:
        bump_board(conn, org.campaign_id, now)
    return mark


def record_member_connection(
    engine: Engine,
    organisation_id: int,
    did: str,
    handle: str,
    method: str,
    now: datetime | None = None,
) -> MemberConnection:
    """Record that the member connected Bluesky account ``did`` (``handle``) by ``method``.

    ``method`` is ``"oauth"`` (the account's own server signed it in) or ``"app_password"``.
    The board's verified-domain mark is recomputed in the same transaction: only an OAuth
    connection of the account the organisation names, whose handle is its website's domain,
    earns it (:func:`departures.coalition.claims.domain_mark_holds`).
    """
    from departures.coalition.store.campaigns import utc_now

    if method not in CONNECTION_METHODS:
        raise ValueError(f"not a connection method: {method!r}")
    at = now or utc_now()
    values = {
        "did": check_text("did", did),
        "handle": check_text("handle", handle.strip().lower()),
        "method": method,
        "connected_at": at,
    }
    with engine.begin() as conn:
        done = conn.execute(
            update(member_connections)
            .where(member_connections.c.organisation_id == organisation_id)
            .values(**values)
        ).rowcount
        if not done:
            conn.execute(
                insert(member_connections).values(organisation_id=organisation_id, **values)
            )
        _refresh_mark(conn, organisation_id, at, changed=True)
    return MemberConnection(organisation_id, **values)  # type: ignore[arg-type]


def forget_member_connection(engine: Engine, organisation_id: int, now: datetime) -> None:
    """The member disconnected its account: the connection and the mark it earned go."""
    with engine.begin() as conn:
        conn.execute(
            delete(member_connections).where(
                member_connections.c.organisation_id == organisation_id
            )
        )
        _refresh_mark(conn, organisation_id, now, changed=True)


def refresh_domain_mark(engine: Engine, organisation_id: int, now: datetime) -> bool:
    """Recompute the mark after the organisation's details changed; whether it holds."""
    with engine.begin() as conn:
        return _refresh_mark(conn, organisation_id, now)


def member_connection(engine: Engine, organisation_id: int) -> MemberConnection | None:
    """The member's recorded connection, if any."""
    with engine.connect() as conn:
        row = conn.execute(
            select(member_connections).where(
                member_connections.c.organisation_id == organisation_id
            )
        ).first()
    return _connection(row) if row is not None else None


def member_connections_of(
    engine: Engine, organisation_ids: Sequence[int]
) -> dict[int, MemberConnection]:
    """``{organisation id: connection}`` of those that connected an account (for the board)."""
    found: dict[int, MemberConnection] = {}
    with engine.connect() as conn:
        for start in range(0, len(organisation_ids), _IN_SLICE):
            query = select(member_connections).where(
                member_connections.c.organisation_id.in_(
                    list(organisation_ids[start : start + _IN_SLICE])
                )
            )
            for row in conn.execute(query):
                found[row.organisation_id] = _connection(row)
    return found
