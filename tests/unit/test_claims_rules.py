"""The pure rules of X claims: proof levels ranked, the standing of claims on one X id (a
winner, a tie for a coordinator, or nothing active), and the verified-domain mark's rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from departures.coalition import claims as rules
from departures.coalition.claims import Claim

ORG = "did:plc:" + "c" * 24
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def claim(did: str, level: str, status: str = "active", minutes: int = 0) -> Claim:
    return Claim("1", did, "h.test", "x", level, status, T0 + timedelta(minutes=minutes))


def test_the_pure_rules_rank_levels_and_find_ties() -> None:
    assert rules.LEVELS == ("verified", "vouched", "archive", "declared")
    assert [rules.rank(level) for level in rules.LEVELS] == [4, 3, 2, 1]
    assert rules.stronger("declared", "archive") == "archive"
    with pytest.raises(ValueError, match="not a proof level"):
        rules.rank("trusted-me")
    assert rules.standing("1", []).winner is None
    assert not rules.domain_mark_holds(
        method="oauth",
        connected_did=ORG,
        connected_handle="comms.oxfam.test",
        organisation_did=ORG,
        organisation_handle="comms.oxfam.test",
        website="https://oxfam.test",
    )


def test_the_strongest_active_level_stands_and_a_tie_at_the_top_is_a_dispute() -> None:
    a, b, c = "did:plc:a", "did:plc:b", "did:plc:c"
    won = rules.standing("1", [claim(a, "declared"), claim(b, "archive", minutes=5)])
    assert won.winner is not None and won.winner.did == b and not won.disputed
    tie = rules.standing("1", [claim(a, "archive"), claim(b, "archive"), claim(c, "declared")])
    assert tie.winner is None and {x.did for x in tie.contenders} == {a, b} and tie.disputed
    # A rejected claim takes no part; a tie below the top level is no dispute.
    decided = rules.standing("1", [claim(a, "archive", "rejected"), claim(b, "archive")])
    assert decided.winner is not None and decided.winner.did == b
    below = rules.standing("1", [claim(a, "vouched"), claim(b, "declared"), claim(c, "declared")])
    assert below.winner is not None and below.winner.did == a and not below.disputed
    assert below.winner.trusted and not claim(b, "archive").trusted


@pytest.mark.parametrize(
    ("method", "did", "handle", "website", "mark"),
    [
        ("oauth", ORG, "oxfam.test", "https://www.oxfam.test/", True),
        ("app_password", ORG, "oxfam.test", "https://oxfam.test", False),
        (None, ORG, "oxfam.test", "https://oxfam.test", False),
        ("oauth", "did:plc:other", "oxfam.test", "https://oxfam.test", False),
        ("oauth", ORG, "oxfam.test", "https://oxfam.org", False),
        ("oauth", ORG, "not a handle", "https://oxfam.test", False),
    ],
)
def test_the_mark_needs_oauth_the_same_account_and_the_websites_domain(
    method: str | None, did: str, handle: str, website: str, mark: bool
) -> None:
    assert (
        rules.domain_mark_holds(
            method=method,
            connected_did=did,
            connected_handle=handle,
            organisation_did=ORG,
            organisation_handle="oxfam.test" if handle != "not a handle" else handle,
            website=website,
        )
        is mark
    )
