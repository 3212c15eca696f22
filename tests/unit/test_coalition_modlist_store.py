"""The moderation list's due process in the store, on SQLite and PostgreSQL: proposals with
reasons and evidence, a second person's decision (never the proposer's), appeals by the listed
account only, decided by someone who took no part, and an audit line for every step."""

from __future__ import annotations

from typing import ClassVar

import pytest

from departures.coalition import moderation
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.handles import HandleError
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore, Organisation, access
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from helpers.access import rows_naming
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.stores import ON_BOTH_STORES

pytestmark = ON_BOTH_STORES

HOSTILE = "did:plc:" + "h" * 24
OTHER = "did:plc:" + "q" * 24
POST = "https://bsky.app/profile/hostile.example/post/3kabc"


class Resolver:
    """Handles of the test (pure lookup: the real resolver is tested against the sandbox)."""

    known: ClassVar[dict[str, str]] = {"hostile.example": HOSTILE, "other.example": OTHER}

    def resolve(self, handle: str) -> str:
        if handle not in self.known:
            raise HandleError(f"the Bluesky handle {handle} does not exist")
        return self.known[handle]


Setup = tuple[Campaign, int, list[Organisation]]


@pytest.fixture
def setup(store: CoalitionStore) -> Setup:
    coordinator, campaign = open_campaign(store)
    members = [
        join(store, campaign.slug, coordinator, name, bluesky_did=did)[0]
        for name, did in (
            ("Proposing NGO", "did:plc:" + "a" * 24),
            ("Approving NGO", "did:plc:" + "b" * 24),
            ("Third NGO", "did:plc:" + "c" * 24),
            ("Fourth NGO", "did:plc:" + "d" * 24),
        )
    ]
    return campaign, coordinator, members


def proposed(store: CoalitionStore, setup: Setup, account: str = "hostile.example") -> int:
    campaign, _c, members = setup
    made = moderation.propose(
        store,
        Resolver(),
        campaign,
        Actor.member(members[0].id),
        account,
        "Threatens our staff in replies.",
        [POST, POST],
    )
    return made.id


def test_a_proposal_is_decided_by_a_second_member_and_never_by_its_proposer(
    store: CoalitionStore, setup: Setup, clock: Clock
) -> None:
    campaign, _coordinator, (first, second, *_rest) = setup
    made = rows.proposal(store.engine, proposed(store, setup))
    assert (made.subject_did, made.subject_handle, made.state) == (
        HOSTILE,
        "hostile.example",
        "proposed",
    )
    assert made.evidence == (POST,)  # duplicates dropped
    with pytest.raises(NotAllowed, match="nobody approves or rejects their own proposal"):
        moderation.decide(
            store, None, campaign, made.id, Actor.member(first.id), approve=True, reason=""
        )
    assert rows.to_list(store.engine, campaign.id) == []
    clock.advance(minutes=5)
    decided = moderation.decide(
        store, None, campaign, made.id, Actor.member(second.id), approve=True, reason="Seen it."
    )
    assert decided.state == "listed" and decided.decider == Actor.member(second.id)
    assert [p.id for p in rows.to_list(store.engine, campaign.id)] == [made.id]
    with pytest.raises(CoalitionError, match="decided already"):
        moderation.decide(
            store, None, campaign, made.id, Actor.member(second.id), approve=False, reason="No"
        )
    # The account cannot be proposed twice while it is on the list.
    with pytest.raises(CoalitionError, match="already proposed or on the list"):
        proposed(store, setup)
    log = rows.events(store.engine, campaign.id)
    assert [(e.action, e.actor_name) for e in reversed(log)] == [
        ("proposed", "Proposing NGO"),
        ("approved", "Approving NGO"),
    ]
    assert log[-1].reason == "Threatens our staff in replies."


def test_the_coordinator_may_reject_and_a_rejected_account_may_be_proposed_again(
    store: CoalitionStore, setup: Setup
) -> None:
    campaign, coordinator, _members = setup
    first = proposed(store, setup)
    with pytest.raises(BadInput, match="reason is required"):
        moderation.decide(
            store, None, campaign, first, Actor.coordinator(coordinator), approve=False, reason=""
        )
    moderation.decide(
        store,
        None,
        campaign,
        first,
        Actor.coordinator(coordinator),
        approve=False,
        reason="Disagreement is not harassment.",
    )
    assert rows.proposal(store.engine, first).state == "rejected"
    second = proposed(store, setup)
    assert second != first
    # The public log leaves out what was never approved; members see it all.
    assert rows.events(store.engine, campaign.id, listed_only=True) == []
    assert len(rows.events(store.engine, campaign.id)) == 3


def test_bad_proposals_are_refused_with_one_line_and_nothing_stored(
    store: CoalitionStore, setup: Setup
) -> None:
    campaign, coordinator, members = setup
    member = Actor.member(members[0].id)

    def attempt(account: str, reasons: str, evidence: list[str]) -> None:
        moderation.propose(store, Resolver(), campaign, member, account, reasons, evidence)

    with pytest.raises(BadInput, match="no evidence"):
        attempt("hostile.example", "Insults.", [])
    with pytest.raises(BadInput, match="not a link to a post"):
        attempt("hostile.example", "Insults.", ["javascript:alert(1)"])
    with pytest.raises(BadInput, match="not a link to a post"):
        attempt("hostile.example", "Insults.", ["https://user:pw@bsky.app/x"])
    with pytest.raises(BadInput, match="reasons is required"):
        attempt("hostile.example", "  ", [POST])
    with pytest.raises(HandleError, match="does not exist"):
        attempt("nobody.example", "Insults.", [POST])
    with pytest.raises(BadInput, match="not a Bluesky DID"):
        attempt("did:plc:short", "Insults.", [POST])
    with pytest.raises(CoalitionError, match="member of the coalition"):
        attempt(members[1].bluesky_did, "Insults.", [POST])
    stranger = open_campaign(store, coordinator="Elsewhere")[1]
    outsider = join(store, stranger.slug, store.campaign(stranger.slug).coordinator_id, "Out")[0]
    with pytest.raises(NotAllowed, match="members and its coordinator"):
        moderation.propose(
            store, Resolver(), campaign, Actor.member(outsider.id), HOSTILE, "x", [POST]
        )
    with pytest.raises(NotAllowed, match="members and its coordinator"):
        moderation.propose(
            store, Resolver(), campaign, Actor.coordinator(coordinator + 1), HOSTILE, "x", [POST]
        )
    assert rows.proposals(store.engine, campaign.id) == []
    assert moderation.check_evidence(
        [f"at://{HOSTILE}/app.bsky.feed.post/3kabcdefghij2", POST]
    ) == [f"https://bsky.app/profile/{HOSTILE}/post/3kabcdefghij2", POST]
    # A DID is taken as given (no handle known).
    made = moderation.propose(store, Resolver(), campaign, member, HOSTILE, "Insults.", [POST])
    assert (made.subject_did, made.subject_handle) == (HOSTILE, "")


def test_an_appeal_comes_from_the_listed_account_and_is_decided_by_someone_uninvolved(
    store: CoalitionStore, setup: Setup
) -> None:
    campaign, coordinator, (first, second, third, fourth) = setup
    made = proposed(store, setup)
    with pytest.raises(CoalitionError, match="not on this coalition's list"):
        moderation.appeal(store, campaign, HOSTILE, "I was not listed yet")
    moderation.decide(
        store, None, campaign, made, Actor.member(second.id), approve=True, reason="Agreed."
    )
    with pytest.raises(CoalitionError, match="not on this coalition's list"):
        moderation.appeal(store, campaign, OTHER, "Someone else's appeal")
    with pytest.raises(NotAllowed, match="only the listed account"):
        rows.appeal(store.engine, campaign.id, made, OTHER, "Not me", store.clock())
    _entry, filed = moderation.appeal(store, campaign, HOSTILE, "The post was satire.")
    with pytest.raises(CoalitionError, match="open already"):
        moderation.appeal(store, campaign, HOSTILE, "Again")
    for involved in (first, second):
        with pytest.raises(NotAllowed, match="took part in this listing"):
            moderation.decide_appeal(
                store, None, campaign, filed.id, Actor.member(involved.id), uphold=True,
                reason="Mine.",
            )  # fmt: skip
    with pytest.raises(BadInput, match="reason is required"):
        moderation.decide_appeal(
            store, None, campaign, filed.id, Actor.member(fourth.id), uphold=True, reason=""
        )
    decided = moderation.decide_appeal(
        store, None, campaign, filed.id, Actor.member(fourth.id), uphold=True,
        reason="Satire, on reading the thread.",
    )  # fmt: skip
    assert decided.state == "upheld"
    assert rows.proposal(store.engine, made).state == "removed"
    assert rows.to_list(store.engine, campaign.id) == []
    assert [p.id for p in rows.to_unlist(store.engine, campaign.id)] == [made]
    # The service reports the deletion once; the account can then be proposed again.
    assert rows.mark_unlisted(store.engine, made, store.clock())
    assert not rows.mark_unlisted(store.engine, made, store.clock())
    assert rows.to_unlist(store.engine, campaign.id) == []
    actions = [
        (e.action, e.actor.kind if e.actor else None)
        for e in rows.events(store.engine, campaign.id)
    ]
    assert list(reversed(actions)) == [
        ("proposed", "member"),
        ("approved", "member"),
        ("appealed", "account"),
        ("appeal_upheld", "member"),
        ("unlisted", "service"),
    ]
    assert proposed(store, setup) != made
    del third, coordinator


def test_a_dismissed_appeal_keeps_the_entry_and_listing_is_recorded_once(
    store: CoalitionStore, setup: Setup
) -> None:
    campaign, coordinator, (_first, second, *_rest) = setup
    made = proposed(store, setup)
    moderation.decide(store, None, campaign, made, Actor.member(second.id), approve=True, reason="")
    uri = "at://did:plc:office/app.bsky.graph.listitem/3kxyz"
    assert rows.mark_listed(store.engine, made, uri, store.clock())
    assert not rows.mark_listed(store.engine, made, uri, store.clock())
    _entry, filed = moderation.appeal(store, campaign, HOSTILE, "Please remove me.")
    moderation.decide_appeal(
        store, None, campaign, filed.id, Actor.coordinator(coordinator), uphold=False,
        reason="The evidence stands.",
    )  # fmt: skip
    assert rows.proposal(store.engine, made).state == "listed"
    public = rows.events(store.engine, campaign.id, listed_only=True)
    assert [e.action for e in public] == [
        "appeal_dismissed", "appealed", "listed", "approved", "proposed",
    ]  # fmt: skip


def test_erasure_forgets_the_listed_account_and_anonymises_a_departed_member(
    store: CoalitionStore, setup: Setup
) -> None:
    campaign, _coordinator, (first, second, *_rest) = setup
    made = proposed(store, setup)
    moderation.decide(
        store, None, campaign, made, Actor.member(second.id), approve=True, reason="Agreed."
    )
    moderation.appeal(store, campaign, HOSTILE, "hostile.example appeals")
    rows.set_choice(store.engine, first.id, "mute", store.clock())
    exported = access.organisation_export(store.engine, first.id)
    assert [p["subject_did"] for p in exported["modlist_proposals"]] == [HOSTILE]
    assert [e["action"] for e in exported["modlist_steps"]] == ["proposed"]
    assert exported["modlist_choice"][0]["choice"] == "mute"
    # The proposing member deletes its data: its steps stay, by "a former member".
    assert access.erase_organisation(store.engine, first.id)
    assert rows_naming(store.engine, "Proposing NGO", first.id, id_columns=(
        "organisation_id", "proposer_organisation_id", "actor_organisation_id",
    )) == []  # fmt: skip
    entry = rows.proposal(store.engine, made)
    assert entry.proposer is None and entry.decider == Actor.member(second.id)
    assert rows.events(store.engine, campaign.id)[-1].actor is None
    # The listed account withdraws: nothing names it any more.
    assert rows_naming(store.engine, HOSTILE, "hostile.example")
    access.erase_did(store.engine, HOSTILE)
    assert rows_naming(store.engine, HOSTILE, "hostile.example") == []
    assert rows.proposals(store.engine, campaign.id) == []


def test_a_members_choice_is_block_mute_or_neither(store: CoalitionStore, setup: Setup) -> None:
    _campaign, _coordinator, (first, *_rest) = setup
    assert rows.choice_of(store.engine, first.id) == "none"
    rows.set_choice(store.engine, first.id, "mute", store.clock())
    rows.set_choice(store.engine, first.id, "block", store.clock())
    assert rows.choice_of(store.engine, first.id) == "block"
    with pytest.raises(BadInput):
        rows.set_choice(store.engine, first.id, "report", store.clock())
