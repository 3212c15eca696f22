"""X claims with proof levels in the coalition store (SQLite and PostgreSQL): several claims on
one X id are kept, a stronger level wins, ties are disputes a coordinator decides (audited),
levels never go down, a DID holds only a few unproven claims, reconnect proposals follow the
claim that stands; and members' connections earn the verified-domain mark only through OAuth
with the website's own domain as handle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine

from departures.coalition.directory import Directory, DirectoryError
from departures.coalition.errors import BadInput, NotFound
from departures.coalition.reconnect import Reconnect
from departures.coalition.store import CoalitionStore
from departures.coalition.store import claims as claim_rows
from departures.coalition.store.claims import TooManyClaims
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.stores import ON_BOTH_STORES

pytestmark = ON_BOTH_STORES

ALICE = "did:plc:" + "a" * 24
OWNER = "did:plc:" + "o" * 24
BOB = "did:plc:" + "b" * 24
ORG = "did:plc:" + "c" * 24


@pytest.fixture
def directory(engine: Engine, clock: Clock) -> Directory:
    return Directory(engine, clock=clock, max_unverified=3)


def levels(directory: Directory, x_id: str) -> dict[str, tuple[str, str]]:
    found = directory.claims_on(x_id)
    assert found is not None
    return {c.did: (c.level, c.status) for c in found.claims}


def test_a_second_claimant_is_kept_and_the_stronger_proof_wins(
    directory: Directory, clock: Clock
) -> None:
    assert directory.register("783214", "XSquat", ALICE, "alice.test", source="declared") == (
        "declared"
    )
    clock.advance(minutes=1)
    assert directory.register("783214", "XSquat", OWNER, "owner.test", source="declared") == (
        "declared"
    )
    lookup = directory.lookup(["783214"])
    assert {(e["did"], e["disputed"]) for e in lookup} == {(ALICE, True), (OWNER, True)}
    assert [d.x_id for d in directory.disputes()] == ["783214"]

    clock.advance(minutes=1)
    assert directory.register("783214", "XSquat", OWNER, "owner.test", source="x") == "verified"
    assert directory.lookup(["783214"]) == [
        {
            "x_id": "783214",
            "did": OWNER,
            "handle": "owner.test",
            "level": "verified",
            "disputed": False,
        }
    ]
    assert directory.disputes() == []
    # Both claims are still kept: the weaker is outranked, not deleted.
    assert levels(directory, "783214") == {
        ALICE: ("declared", "active"),
        OWNER: ("verified", "active"),
    }
    [line] = directory.audit(["783214"])
    assert (line.did, line.action, line.actor) == (OWNER, "verified", OWNER)
    assert [e["standing"] for e in directory.entries_for(ALICE)] == ["outranked"]


def test_a_level_never_goes_down_by_registering_again(directory: Directory) -> None:
    directory.register("5", "five", BOB, "bob.test", source="x")
    assert directory.register("5", "five", BOB, "bob.test", source="declared") == "verified"
    assert directory.register("5", "five", BOB, "bob.test", source="self") == "verified"
    [entry] = directory.entries_for(BOB)
    assert (entry["level"], entry["source"]) == ("verified", "x")


def test_a_coordinator_decides_a_dispute_and_the_audit_says_who_when_why(
    directory: Directory, clock: Clock
) -> None:
    directory.register("55501", "bob_x", ALICE, "alice.test", source="self")
    directory.register("55501", "bob_x", BOB, "bob.test", source="self")
    [dispute] = directory.disputes()
    assert {c.did for c in dispute.contenders} == {ALICE, BOB}
    with pytest.raises(BadInput, match="say why"):
        directory.decide("55501", BOB, "Office", "  ")
    with pytest.raises(BadInput, match="is not one of the disputed claims"):
        directory.decide("55501", OWNER, "Office", "called them")
    clock.advance(hours=1)
    directory.decide("55501", BOB, "Office", "called Bob's office")
    assert directory.disputes() == []
    assert levels(directory, "55501") == {
        ALICE: ("archive", "rejected"),
        BOB: ("archive", "active"),
    }
    lines = {(a.did, a.action, a.actor, a.reason, a.at) for a in directory.audit(["55501"])}
    assert lines == {
        (ALICE, "rejected", "Office", "called Bob's office", clock.now),
        (BOB, "decided", "Office", "called Bob's office", clock.now),
    }
    with pytest.raises(BadInput, match="not disputed"):
        directory.decide("55501", BOB, "Office", "again")
    # The rejected claimant is not locked out: proving their claim makes it active and winning.
    assert directory.register("55501", "bob_x", ALICE, "alice.test", source="x") == "verified"
    assert directory.lookup(["55501"])[0]["did"] == ALICE


def test_vouching_raises_a_claim_with_an_audit_line_and_needs_a_claim_and_a_reason(
    directory: Directory,
) -> None:
    directory.register("12", "oxfam_be", ORG, "oxfam.test", source="declared")
    directory.register("12", "oxfam_be", ALICE, "alice.test", source="declared")
    with pytest.raises(BadInput, match="say why"):
        directory.vouch("12", ORG, "Office", "")
    with pytest.raises(NotFound, match="has no claim"):
        directory.vouch("12", BOB, "Office", "our member")
    with pytest.raises(DirectoryError, match="not a number"):
        directory.vouch("12; DROP", ORG, "Office", "our member")
    with pytest.raises(BadInput, match="control character"):
        directory.vouch("12", ORG, "Office", "our\x1b[2J member")
    assert directory.vouch("12", ORG, "Office", "our member since 2019") == "vouched"
    assert directory.lookup(["12"])[0] == {
        "x_id": "12",
        "did": ORG,
        "handle": "oxfam.test",
        "level": "vouched",
        "disputed": False,
    }
    [line] = directory.audit()
    assert (line.x_id, line.did, line.action, line.actor, line.reason) == (
        "12",
        ORG,
        "vouched",
        "Office",
        "our member since 2019",
    )


def test_a_did_holds_only_a_few_unproven_claims(engine: Engine, clock: Clock) -> None:
    directory = Directory(engine, clock=clock, max_unverified=2)
    directory.register("1", "one", ALICE, "alice.test", source="declared")
    directory.register("2", "two", ALICE, "alice.test", source="self")
    with pytest.raises(TooManyClaims, match="already claims 2 X accounts without proof") as err:
        directory.register("3", "three", ALICE, "alice.test", source="declared")
    assert "Sign in with X" in (err.value.hint or "")
    assert directory.claims_on("3") is None  # nothing stored
    # Registering an existing claim again, and proven claims, do not count against the limit.
    directory.register("1", "one", ALICE, "alice.test", source="self")
    assert directory.register("4", "four", ALICE, "alice.test", source="x") == "verified"
    assert len(directory.entries_for(ALICE)) == 3


def test_export_answers_each_x_id_once_unless_disputed(directory: Directory) -> None:
    directory.register("1", "one", ALICE, "alice.test", source="declared")
    directory.register("1", "one", BOB, "bob.test", source="self")
    directory.register("2", "two", ALICE, "alice.test", source="declared")
    directory.register("2", "two", BOB, "bob.test", source="declared")
    exported = [(e["x_id"], e["did"], e["level"], e["disputed"]) for e in directory.export()]
    assert exported == [
        ("1", BOB, "archive", False),
        ("2", ALICE, "declared", True),
        ("2", BOB, "declared", True),
    ]


def test_reconnect_proposes_the_claim_that_stands_and_follows_only_proven_ones(
    store: CoalitionStore, directory: Directory, clock: Clock
) -> None:
    coordinator, campaign = open_campaign(store)
    member, _key = join(store, campaign.slug, coordinator, "Oxfam", email="o@example.org")
    service = Reconnect(store)
    service.save_followings(member, ["783214"])
    directory.register("783214", "XSquat", ALICE, "alice.test", source="declared")
    service.run("http://coalition.test")
    assert [(p.did, p.state) for p in service.proposals(member)] == [(ALICE, "proposed")]
    assert service._pending(member) == []  # proposed, never followed for the member
    [mail] = [m for m in store.outbox() if m["message"].startswith("reconnect:")]
    assert "@alice.test" in mail["body"] and "not proven to be the same person" in mail["body"]
    # The owner proves it: the impostor's unfollowed proposal is withdrawn, the owner's made.
    clock.advance(days=1)
    directory.register("783214", "XSquat", OWNER, "owner.test", source="x")
    assert service.proposals(member) == []
    service.run("http://coalition.test")
    assert [(p.did, p.state) for p in service.proposals(member)] == [(OWNER, "proposed")]
    assert [p.did for p in service._pending(member)] == [OWNER]
    second = [m for m in store.outbox() if m["message"].startswith("reconnect:")][-1]
    assert "@owner.test" in second["body"] and "not proven" not in second["body"]


def test_a_dispute_is_proposed_to_nobody_until_decided(
    store: CoalitionStore, directory: Directory
) -> None:
    coordinator, campaign = open_campaign(store)
    member, _key = join(store, campaign.slug, coordinator, "Oxfam", email="o@example.org")
    service = Reconnect(store)
    service.save_followings(member, ["55501"])
    directory.register("55501", "bob_x", ALICE, "alice.test", source="self")
    directory.register("55501", "bob_x", BOB, "bob.test", source="self")
    service.run("http://coalition.test")
    assert service.proposals(member) == []
    directory.decide("55501", BOB, "Office", "called Bob")
    service.run("http://coalition.test")
    assert [p.did for p in service.proposals(member)] == [BOB]
    assert service._pending(member) == []  # decided, but still only from an archive


def test_the_verified_domain_mark_needs_an_oauth_connection_of_the_account_on_its_domain(
    store: CoalitionStore, engine: Engine, clock: Clock
) -> None:
    coordinator, campaign = open_campaign(store)
    org, _key = join(
        store,
        campaign.slug,
        coordinator,
        "Oxfam",
        website="https://www.oxfam.test/",
        bluesky_handle="oxfam.test",
        bluesky_did=ORG,
        public_name=True,
    )
    assert not store.organisation(org.id).verified_domain
    claim_rows.record_member_connection(engine, org.id, ORG, "oxfam.test", "app_password")
    assert not store.organisation(org.id).verified_domain
    claim_rows.record_member_connection(engine, org.id, ALICE, "oxfam.test", "oauth")
    assert not store.organisation(org.id).verified_domain  # another account than its own
    connected = claim_rows.record_member_connection(engine, org.id, ORG, "Oxfam.test", "oauth")
    assert connected.method == "oauth" and connected.handle == "oxfam.test"
    assert store.organisation(org.id).verified_domain
    # Its website moves elsewhere: the mark goes with the next change of details.
    store.update_organisation(org.id, website="https://oxfam-belgium.test")
    assert claim_rows.refresh_domain_mark(engine, org.id, clock.now) is False
    assert not store.organisation(org.id).verified_domain
    store.update_organisation(org.id, website="oxfam.test")
    assert claim_rows.refresh_domain_mark(engine, org.id, clock.now)
    claim_rows.forget_member_connection(engine, org.id, clock.now + timedelta(minutes=1))
    assert not store.organisation(org.id).verified_domain
    assert claim_rows.member_connection(engine, org.id) is None
    with pytest.raises(ValueError, match="not a connection method"):
        claim_rows.record_member_connection(engine, org.id, ORG, "oxfam.test", "password")


def test_withdrawal_erases_the_claims_audit_and_the_connection_that_name_the_did(
    store: CoalitionStore, engine: Engine, directory: Directory
) -> None:
    from sqlalchemy import select

    from departures.coalition.store.schema import directory_claim_audit, member_connections

    coordinator, campaign = open_campaign(store)
    org, _key = join(
        store,
        campaign.slug,
        coordinator,
        "Oxfam",
        website="https://oxfam.test",
        bluesky_handle="oxfam.test",
        bluesky_did=ORG,
    )
    directory.register("12", "oxfam_be", ORG, "oxfam.test", source="x")
    directory.register("13", "other", ALICE, "alice.test", source="declared")
    directory.vouch("13", ALICE, "Office", "known to us")
    claim_rows.record_member_connection(engine, org.id, ORG, "oxfam.test", "oauth")
    assert store.organisation(org.id).verified_domain
    assert directory.withdraw(ORG) == 1
    with engine.connect() as conn:
        audit = conn.execute(select(directory_claim_audit.c.did)).scalars().all()
        connections = conn.execute(select(member_connections.c.did)).scalars().all()
    assert audit == [ALICE] and connections == []
    assert not store.organisation(org.id).verified_domain
