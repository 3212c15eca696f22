"""X claims and their proof levels, as pure rules: which claim on an X id stands.

Anyone can type an X id, and an archive's ``account.js`` is plain JSON that anyone can write;
so the directory keeps every claim on an X id and says how each one's X side is known:

``verified``
    its owner proved it: they signed in with X and X said this is their account.
``vouched``
    a coordinator of the coalition confirms it (a member organisation, a public figure they
    know), with an audit line saying who, when and why.
``archive``
    it came from an uploaded archive's ``account.js``: plausible, not proof.
``declared``
    the X handle and id were typed: the weakest.

Among the *active* claims on one X id (a coordinator may reject a claim when deciding a
dispute), the strongest level wins; two or more claims at the strongest level are a dispute
for a coordinator, and none of them is answered as the owner until it is decided
(:func:`standing`). Only ``verified`` and ``vouched`` claims are trusted enough for a machine
to act on (:data:`TRUSTED`): ``departures audience match`` accepts them without review and the
coalition's "follow them for us" follows only them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from departures.coalition.handles import HandleError, normalise_handle, verified_domain

__all__ = [
    "LEVELS",
    "TRUSTED",
    "UNVERIFIED",
    "Claim",
    "Standing",
    "domain_mark_holds",
    "rank",
    "standing",
    "stronger",
]

LEVELS = ("verified", "vouched", "archive", "declared")
"""The proof levels, strongest first."""
TRUSTED = frozenset({"verified", "vouched"})
"""The levels a machine may act on without a person's review."""
UNVERIFIED = frozenset({"archive", "declared"})
"""The levels a DID may hold only a few of (the ``max_unverified_claims`` setting)."""

_RANK = {level: len(LEVELS) - index for index, level in enumerate(LEVELS)}


def rank(level: str) -> int:
    """How strong ``level`` is (higher wins); a ``ValueError`` for an unknown level."""
    try:
        return _RANK[level]
    except KeyError:
        raise ValueError(f"not a proof level: {level!r}") from None


def stronger(a: str, b: str) -> str:
    """The stronger of two levels: a claim's level never goes down by registering again."""
    return a if rank(a) >= rank(b) else b


@dataclass(frozen=True)
class Claim:
    """One DID's claim on one X id."""

    x_id: str
    did: str
    handle: str
    x_username: str
    level: str
    status: str  # "active", or "rejected" by a coordinator's decision of a dispute
    level_at: datetime

    @property
    def trusted(self) -> bool:
        """Whether the claim's level lets a machine act on it without review."""
        return self.level in TRUSTED


@dataclass(frozen=True)
class Standing:
    """Where the claims on one X id stand: one winner, a dispute, or nothing active."""

    x_id: str
    winner: Claim | None
    contenders: tuple[Claim, ...]
    """The claims tied at the strongest level when disputed (empty otherwise)."""
    claims: tuple[Claim, ...]
    """Every claim on the X id, strongest first."""

    @property
    def disputed(self) -> bool:
        """Whether a coordinator has to decide between claims of the same level."""
        return len(self.contenders) > 1


def standing(x_id: str, claims: Iterable[Claim]) -> Standing:
    """The standing of the claims on ``x_id``: the strongest active level wins, ties dispute."""
    ordered = tuple(sorted(claims, key=lambda c: (-rank(c.level), c.level_at, c.did)))
    active = [c for c in ordered if c.status == "active"]
    if not active:
        return Standing(x_id, None, (), ordered)
    top = rank(active[0].level)
    at_top = tuple(c for c in active if rank(c.level) == top)
    if len(at_top) == 1:
        return Standing(x_id, at_top[0], (), ordered)
    return Standing(x_id, None, at_top, ordered)


def domain_mark_holds(
    *,
    method: str | None,
    connected_did: str,
    connected_handle: str,
    organisation_did: str,
    organisation_handle: str,
    website: str,
) -> bool:
    """Whether an organisation earns the board's "✓ verified domain" mark.

    Only when it connected *that very* Bluesky account through OAuth (an app password proves
    nothing the coalition can check about who typed it in) — the account its details name,
    by DID when known and by handle — and that account's handle is its website's own domain.
    """
    if method != "oauth" or not organisation_handle:
        return False
    try:
        handle = normalise_handle(organisation_handle)
        connected = normalise_handle(connected_handle)
    except HandleError:
        return False
    if organisation_did and organisation_did != connected_did:
        return False
    return handle == connected and verified_domain(handle, website)
