"""The coalition's campaign rules: pledge resolution (checked exhaustively against brute force
over all subsets), the tipping point, the campaign's states, transitions and events."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from departures.coalition.rules import (
    CampaignTerms,
    CoalitionError,
    Event,
    Exclusion,
    Pledge,
    State,
    amend_terms,
    campaign_state,
    campaign_status,
    check_can_change_pledges,
    close_campaign,
    events_between,
    events_since,
    largest_consistent_set,
    make_pledge,
    open_campaign,
    pledges_in_force,
    resolve_pledges,
    tipping,
    withdraw_pledge,
)
from departures.errors import DeparturesError

T0 = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)
BRUSSELS = ZoneInfo("Europe/Brussels")


def pledge(org: str, min_others: int = 0, minute: int = 0, withdrawn: int | None = None) -> Pledge:
    """A pledge made ``minute`` minutes after T0, optionally withdrawn at minute ``withdrawn``."""
    return Pledge(
        organisation=org,
        min_others=min_others,
        pledged_at=T0 + timedelta(minutes=minute),
        withdrawn_at=None if withdrawn is None else T0 + timedelta(minutes=withdrawn),
    )


def pledges_of(conditions: Mapping[str, int]) -> list[Pledge]:
    return [pledge(org, n) for org, n in conditions.items()]


# --- independent oracles ----------------------------------------------------------------------


def is_consistent(members: Iterable[str], conditions: Mapping[str, int]) -> bool:
    """The definition: every member has at least its N *other* members in the set."""
    chosen = list(members)
    return all(conditions[x] <= sum(1 for y in chosen if y != x) for x in chosen)


def brute_force_maximum(conditions: Mapping[str, int]) -> list[frozenset[str]]:
    """Every consistent subset of the largest size, by trying all 2^n subsets."""
    orgs = sorted(conditions)
    for size in range(len(orgs), -1, -1):
        found = [
            frozenset(subset)
            for subset in itertools.combinations(orgs, size)
            if is_consistent(subset, conditions)
        ]
        if found:
            return found
    raise AssertionError("the empty set is always consistent")


def remove_all_unmet(conditions: Mapping[str, int]) -> frozenset[str]:
    """The greatest fixed point the naive way: drop every unmet pledge per round, repeat."""
    remaining = set(conditions)
    while True:
        unmet = {x for x in remaining if conditions[x] > len(remaining) - 1}
        if not unmet:
            return frozenset(remaining)
        remaining -= unmet


def fewest_new_unconditional(conditions: Mapping[str, int], threshold: int) -> int:
    """Add new unconditional pledges one at a time until the campaign is on."""
    for more in range(threshold + 1):
        extended = dict(conditions) | {f"new{i}": 0 for i in range(more)}
        if len(remove_all_unmet(extended)) >= threshold:
            return more
    raise AssertionError("threshold new unconditional pledges always suffice")


def condition_multisets(n: int) -> Iterable[tuple[int, ...]]:
    """Every multiset of n conditions drawn from 0..n (n itself is impossible to meet)."""
    return itertools.combinations_with_replacement(range(n + 1), n)


# --- resolution: exhaustive ---------------------------------------------------------------------


def check_against_brute_force(conditions: Mapping[str, int]) -> None:
    got = largest_consistent_set(conditions)
    maxima = brute_force_maximum(conditions)
    # The union argument says the maximum is unique; the brute force confirms it.
    assert maxima == [got], (conditions, got, maxima)
    assert remove_all_unmet(conditions) == got


def test_every_labelled_configuration_up_to_five_organisations_matches_brute_force() -> None:
    cases = 0
    for n in range(6):
        orgs = [chr(ord("a") + i) for i in range(n)]
        for conds in itertools.product(range(n + 1), repeat=n):
            check_against_brute_force(dict(zip(orgs, conds, strict=True)))
            cases += 1
    assert cases == sum((n + 1) ** n for n in range(6))  # 1 + 2 + 9 + 64 + 625 + 7776


def test_every_configuration_of_six_and_seven_organisations_matches_brute_force() -> None:
    # Conditions only count members, so organisations are interchangeable: up to renaming, a
    # configuration is the multiset of its conditions (the labelled test above shows names and
    # order do not matter). That covers all 7^6 and 8^7 configurations in 924 + 3432 cases.
    cases = 0
    for n in (6, 7):
        orgs = [chr(ord("a") + i) for i in range(n)]
        for conds in condition_multisets(n):
            check_against_brute_force(dict(zip(orgs, conds, strict=True)))
            cases += 1
    assert cases == 924 + 3432


def test_tipping_point_matches_adding_pledges_one_by_one_for_every_configuration() -> None:
    for n in range(7):
        orgs = [chr(ord("a") + i) for i in range(n)]
        for conds in condition_multisets(n):
            conditions = dict(zip(orgs, conds, strict=True))
            resolution = resolve_pledges(pledges_of(conditions))
            for threshold in range(1, n + 3):
                result = tipping(resolution, threshold)
                assert result.more_needed == fewest_new_unconditional(conditions, threshold), (
                    conditions,
                    threshold,
                )
                assert result.is_on == (result.more_needed == 0)
                assert result.going == len(remove_all_unmet(conditions))


# --- resolution: the shapes people ask about ----------------------------------------------------


def test_nobody_pledged_means_nobody_goes() -> None:
    resolution = resolve_pledges([])
    assert resolution.members == frozenset()
    assert resolution.excluded == ()


def test_unconditional_pledges_always_go() -> None:
    assert largest_consistent_set({"a": 0, "b": 0}) == {"a", "b"}


def test_a_lone_conditional_pledge_does_not_go() -> None:
    resolution = resolve_pledges([pledge("a", 1)])
    assert resolution.members == frozenset()
    assert resolution.excluded == (Exclusion("a", needs=1, has=0),)


def test_two_organisations_each_needing_one_other_both_go() -> None:
    assert largest_consistent_set({"a": 1, "b": 1}) == {"a", "b"}


def test_an_all_conditional_cycle_that_is_consistent_goes_entirely() -> None:
    # Nobody wants to go first: five organisations that each need four others all go together.
    conditions = {org: 4 for org in "abcde"}
    assert largest_consistent_set(conditions) == set("abcde")
    # ... but if one of them asks for a fifth other, the whole cycle collapses.
    assert largest_consistent_set(conditions | {"e": 5}) == frozenset()


def test_a_chain_of_rising_conditions_goes_as_far_as_it_is_met() -> None:
    # a needs 0, b needs 1, c needs 2, ...: each is met by those before it.
    chain = {org: i for i, org in enumerate("abcdefg")}
    assert largest_consistent_set(chain) == set(chain)
    # One broken link stops the chain there: without d, e (needing 4 others) has only 3.
    broken = chain | {"d": 10}
    resolution = resolve_pledges(pledges_of(broken))
    assert resolution.members == {"a", "b", "c"}
    # e needs 4 others, only 3 go; everything above is out too, by how much it is short.
    assert [(x.organisation, x.needs, x.has, x.short_by) for x in resolution.excluded] == [
        ("e", 4, 3, 1),
        ("f", 5, 3, 2),
        ("g", 6, 3, 3),
        ("d", 10, 3, 7),
    ]


def test_a_chain_that_starts_without_an_unconditional_pledge_never_starts() -> None:
    assert largest_consistent_set({"a": 1, "b": 2, "c": 3}) == frozenset()


def test_conditional_pledges_go_once_enough_others_do() -> None:
    conditions = {"a": 0, "b": 0, "c": 3, "d": 3}
    assert largest_consistent_set(conditions) == {"a", "b", "c", "d"}
    assert largest_consistent_set(conditions | {"b": 4}) == {"a"}


def test_a_condition_no_coalition_this_size_can_meet_is_excluded() -> None:
    resolution = resolve_pledges(pledges_of({"a": 0, "b": 0, "c": 3}))
    assert resolution.members == {"a", "b"}
    assert resolution.excluded == (Exclusion("c", needs=3, has=2),)


def test_withdrawn_pledges_are_ignored() -> None:
    pledges = [pledge("a"), pledge("b", 1, withdrawn=5), pledge("c", 1)]
    resolution = resolve_pledges(pledges)
    assert resolution.members == {"a", "c"}
    assert [p.organisation for p in resolution.pledges] == ["a", "c"]


def test_an_organisation_pledging_again_counts_once_with_its_latest_condition() -> None:
    pledges = [pledge("a", 0, minute=1), pledge("a", 3, minute=2), pledge("b", 1, minute=1)]
    resolution = resolve_pledges(pledges)
    assert resolution.members == frozenset()
    assert [(p.organisation, p.min_others) for p in resolution.pledges] == [("a", 3), ("b", 1)]
    # Pledging again, unconditionally, brings both back.
    resolution = resolve_pledges([*pledges, pledge("a", 0, minute=3)])
    assert resolution.members == {"a", "b"}


def test_withdrawing_the_latest_pledge_does_not_bring_back_a_superseded_one() -> None:
    pledges = [pledge("a", 0, minute=1), pledge("a", 2, minute=2, withdrawn=3)]
    assert pledges_in_force(pledges) == {}
    assert pledges_in_force(pledges, T0 + timedelta(minutes=1))["a"].min_others == 0
    assert pledges_in_force(pledges, T0 + timedelta(minutes=2))["a"].min_others == 2


def test_pledging_again_after_a_withdrawal_counts() -> None:
    pledges = [pledge("a", 0, minute=1, withdrawn=2), pledge("a", 1, minute=3)]
    assert pledges_in_force(pledges)["a"].min_others == 1
    assert pledges_in_force(pledges, T0 + timedelta(minutes=2)) == {}


def test_of_two_pledges_made_at_the_same_time_the_later_one_given_counts() -> None:
    # The store returns pledges in the order they were recorded.
    first, second = pledge("a", 0, minute=1), pledge("a", 3, minute=1)
    assert pledges_in_force([first, second])["a"] is second
    assert pledges_in_force([second, first])["a"] is first


def test_pledges_in_force_at_a_moment_ignore_later_facts() -> None:
    pledges = [pledge("a", minute=10, withdrawn=30), pledge("b", minute=20)]
    at = T0 + timedelta(minutes=15)
    assert set(pledges_in_force(pledges, at)) == {"a"}
    assert set(pledges_in_force(pledges, T0 + timedelta(minutes=30))) == {"b"}
    assert set(pledges_in_force(pledges, T0 + timedelta(minutes=29))) == {"a", "b"}


def test_ten_thousand_conditional_pledges_resolve_quickly() -> None:
    conditions = {f"org{i}": (i * 7919) % 12_000 for i in range(10_000)}
    members = largest_consistent_set(conditions)
    size = len(members)
    assert all(conditions[x] <= size - 1 for x in members)
    assert all(conditions[x] > size for x in conditions if x not in members)


def test_tipping_counts_how_many_more_unconditional_pledges_are_needed() -> None:
    resolution = resolve_pledges(pledges_of({"a": 0, "b": 0}))
    assert tipping(resolution, 5).more_needed == 3
    # c and d wait for 4 others, e for 5: the next unconditional pledge brings all three along.
    resolution = resolve_pledges(pledges_of({"a": 0, "b": 0, "c": 4, "d": 4, "e": 5}))
    assert resolution.size == 2
    result = tipping(resolution, 5)
    assert (result.is_on, result.going, result.more_needed) == (False, 2, 1)
    assert tipping(resolution, 6).more_needed == 1
    assert tipping(resolution, 7).more_needed == 2
    assert tipping(resolution, 2).is_on


def test_tipping_refuses_a_threshold_below_one() -> None:
    with pytest.raises(CoalitionError, match="threshold of 0"):
        tipping(resolve_pledges([]), 0)


# --- resolution: properties ---------------------------------------------------------------------

# No per-example deadline: CI machines are shared, and a slow example is not a wrong one.
NO_DEADLINE = settings(deadline=None)
ORGS = st.sampled_from([f"org{i}" for i in range(12)])
CONDITIONS = st.dictionaries(ORGS, st.integers(0, 14), max_size=12)


@NO_DEADLINE
@given(CONDITIONS)
def test_resolution_is_consistent_and_maximal(conditions: dict[str, int]) -> None:
    members = largest_consistent_set(conditions)
    assert is_consistent(members, conditions)
    # Nobody left out could join, alone or with the others left out who need as little.
    for x in set(conditions) - members:
        assert not is_consistent(members | {x}, conditions)
    assert members == remove_all_unmet(conditions)


@NO_DEADLINE
@given(CONDITIONS, ORGS)
def test_another_unconditional_pledge_never_makes_fewer_go(
    conditions: dict[str, int], org: str
) -> None:
    before = largest_consistent_set(conditions)
    after = largest_consistent_set(conditions | {org: 0})
    assert before - {org} <= after


@NO_DEADLINE
@given(CONDITIONS, st.data())
def test_relaxing_a_condition_never_makes_fewer_go(
    conditions: dict[str, int], data: st.DataObject
) -> None:
    if not conditions:
        return
    org = data.draw(st.sampled_from(sorted(conditions)))
    relaxed = conditions | {org: data.draw(st.integers(0, conditions[org]))}
    assert largest_consistent_set(conditions) <= largest_consistent_set(relaxed)


@NO_DEADLINE
@given(
    st.lists(
        st.tuples(ORGS, st.integers(0, 8), st.integers(0, 50), st.none() | st.integers(0, 60)),
        max_size=25,
    ),
    st.integers(0, 70),
)
def test_resolving_pledges_equals_resolving_each_organisations_latest_pledge_if_not_withdrawn(
    facts: list[tuple[str, int, int, int | None]], minute: int
) -> None:
    pledges = [
        pledge(org, n, made, None if gone is None else max(made, gone))
        for org, n, made, gone in facts
    ]
    at = T0 + timedelta(minutes=minute)
    expected: dict[str, Pledge] = {}
    for org in {p.organisation for p in pledges}:  # its latest pledge, unless withdrawn by then
        made = [p for p in pledges if p.organisation == org and p.pledged_at <= at]
        if made:
            last = max(made, key=lambda p: p.pledged_at)  # max keeps the first of equals...
            last = [p for p in made if p.pledged_at == last.pledged_at][-1]  # ...we want the last
            if last.withdrawn_at is None or last.withdrawn_at > at:
                expected[org] = last
    resolution = resolve_pledges(pledges, at)
    conditions = {org: p.min_others for org, p in expected.items()}
    assert resolution.members == remove_all_unmet(conditions)
    assert set(resolution.pledges) == set(expected.values())
    assert {x.organisation for x in resolution.excluded} == set(expected) - resolution.members
    assert all(x.needs > x.has == resolution.size for x in resolution.excluded)


@NO_DEADLINE
@given(CONDITIONS, st.integers(1, 16))
def test_the_tipping_point_is_exactly_enough(conditions: dict[str, int], threshold: int) -> None:
    result = tipping(resolve_pledges(pledges_of(conditions)), threshold)
    more = result.more_needed

    def going_with(extra: int) -> int:
        return len(largest_consistent_set(conditions | {f"new{i}": 0 for i in range(extra)}))

    assert going_with(more) >= threshold
    assert more <= max(threshold - result.going, 0)
    if more > 0:
        assert going_with(more - 1) < threshold


def test_pledge_refuses_negative_conditions_and_naive_times() -> None:
    with pytest.raises(CoalitionError, match="cannot require -1 other"):
        pledge("a", -1)
    with pytest.raises(CoalitionError, match="has no timezone"):
        Pledge("a", 0, datetime(2025, 1, 1, 9, 0))
    with pytest.raises(CoalitionError, match="withdrawn before it was made"):
        pledge("a", 0, minute=5, withdrawn=4)


# --- the campaign -------------------------------------------------------------------------------

DEADLINE = datetime(2025, 1, 15, 23, 59, tzinfo=BRUSSELS)
DEPARTURE = datetime(2025, 1, 20, 12, 0, tzinfo=BRUSSELS)
OPENED = datetime(2025, 1, 2, 9, 0, tzinfo=UTC)


def terms(**changes: object) -> CampaignTerms:
    """A draft campaign (threshold 3) with ``changes`` applied, each validated by construction."""
    draft = CampaignTerms(
        title="Leave X together",
        threshold=3,
        deadline=DEADLINE,
        departure_at=DEPARTURE,
        description="On 20 January we go.",
    )
    # Bypasses amend_terms on purpose: these tests are about construction and the states.
    return dataclasses.replace(draft, **changes)  # type: ignore[arg-type]


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2025, 1, day, hour, 0, tzinfo=BRUSSELS)


def pledged(org: str, n: int = 0, when: datetime | None = None) -> Pledge:
    return Pledge(org, n, when or at(3))


def test_a_campaign_not_yet_opened_is_a_draft() -> None:
    assert campaign_state(terms(), [], at(3)) == State.DRAFT


def test_an_opened_campaign_below_its_threshold_is_open() -> None:
    campaign = open_campaign(terms(), OPENED)
    assert campaign.opened_at == OPENED
    assert campaign_state(campaign, [pledged("a"), pledged("b")], at(4)) == State.OPEN


def test_the_campaign_is_on_when_the_consistent_set_reaches_the_threshold() -> None:
    campaign = open_campaign(terms(threshold=3), OPENED)
    pledges = [pledged("a"), pledged("b"), pledged("c", 2)]
    status = campaign_status(campaign, pledges, at(4))
    assert status.state == State.ON
    assert status.resolution.members == {"a", "b", "c"}
    assert status.tipping.more_needed == 0


def test_conditional_pledges_that_are_not_met_do_not_count_toward_the_threshold() -> None:
    campaign = open_campaign(terms(threshold=3), OPENED)
    pledges = [pledged("a"), pledged("b"), pledged("c", 3)]
    status = campaign_status(campaign, pledges, at(4))
    assert status.state == State.OPEN
    assert status.tipping.more_needed == 1  # one more unconditional brings c along


def test_withdrawals_before_the_deadline_take_an_on_campaign_back_to_open() -> None:
    campaign = open_campaign(terms(threshold=2), OPENED)
    a, b = pledged("a"), pledged("b", 1)
    assert campaign_state(campaign, [a, b], at(5)) == State.ON
    a_gone = withdraw_pledge(campaign, a, at(6))
    assert a_gone.withdrawn_at == at(6)
    assert campaign_state(campaign, [a_gone, b], at(7)) == State.OPEN
    # ... and the state at an earlier moment is still computed from the facts of then.
    assert campaign_state(campaign, [a_gone, b], at(5)) == State.ON


def test_after_the_deadline_an_on_campaign_stays_on_until_it_departs() -> None:
    campaign = open_campaign(terms(threshold=2), OPENED)
    pledges = [pledged("a"), pledged("b")]
    assert campaign_state(campaign, pledges, at(17)) == State.ON
    assert campaign_state(campaign, pledges, DEPARTURE - timedelta(seconds=1)) == State.ON
    assert campaign_state(campaign, pledges, DEPARTURE) == State.DEPARTED
    assert campaign_state(campaign, pledges, at(25)) == State.DEPARTED


def test_after_the_deadline_the_pledges_are_frozen() -> None:
    campaign = open_campaign(terms(threshold=2), OPENED)
    # Facts that slipped past the checks after the deadline change nothing.
    late_withdrawal = Pledge("a", 0, at(3), withdrawn_at=at(17))
    late_pledge = Pledge("c", 0, at(18))
    status = campaign_status(campaign, [late_withdrawal, pledged("b"), late_pledge], at(19))
    assert status.state == State.ON
    assert status.resolution.members == {"a", "b"}


def test_a_campaign_below_its_threshold_at_the_deadline_is_off() -> None:
    campaign = open_campaign(terms(threshold=3), OPENED)
    pledges = [pledged("a"), pledged("b")]
    assert campaign_state(campaign, pledges, DEADLINE - timedelta(minutes=1)) == State.OPEN
    assert campaign_state(campaign, pledges, DEADLINE) == State.OFF
    assert campaign_state(campaign, pledges, at(25)) == State.OFF


def test_the_deadline_is_compared_as_an_instant_whatever_the_timezone() -> None:
    campaign = open_campaign(terms(threshold=1), OPENED)
    # 23:59 in Brussels (UTC+1 in January) is 22:59 UTC.
    just_before = datetime(2025, 1, 15, 22, 58, tzinfo=UTC)
    late = Pledge("a", 0, datetime(2025, 1, 15, 23, 30, tzinfo=UTC))
    assert campaign_state(campaign, [late], just_before) == State.OPEN
    assert campaign_state(campaign, [late], at(16)) == State.OFF
    with pytest.raises(CoalitionError, match="deadline passed"):
        make_pledge(campaign, "a", 0, datetime(2025, 1, 15, 23, 0, tzinfo=UTC))


def test_closing_a_departed_or_off_campaign_archives_it() -> None:
    campaign = open_campaign(terms(threshold=1), OPENED)
    pledges = [pledged("a")]
    closed = close_campaign(campaign, pledges, at(22))
    assert campaign_state(closed, pledges, at(23)) == State.CLOSED
    off = close_campaign(campaign, [], at(22))
    assert campaign_state(off, [], at(22)) == State.CLOSED
    with pytest.raises(CoalitionError, match="already closed"):
        close_campaign(closed, pledges, at(23))


@pytest.mark.parametrize(("pledges", "when", "state"), [([], at(4), "open"), ([0], at(4), "on")])
def test_an_open_or_on_campaign_cannot_be_closed(
    pledges: list[int], when: datetime, state: str
) -> None:
    campaign = open_campaign(terms(threshold=1), OPENED)
    with pytest.raises(CoalitionError, match=f"that is {state} cannot be closed"):
        close_campaign(campaign, [pledged(f"o{i}", n) for i, n in enumerate(pledges)], when)


def test_a_draft_cannot_be_closed() -> None:
    with pytest.raises(CoalitionError, match="that is draft cannot be closed"):
        close_campaign(terms(), [], at(25))


# --- terms and transitions ------------------------------------------------------------------


def test_terms_can_change_freely_in_draft() -> None:
    campaign = amend_terms(
        terms(),
        title="Leave X, land on Bluesky",
        threshold=10,
        deadline=at(10),
        departure_at=at(11),
    )
    assert (campaign.title, campaign.threshold, campaign.deadline) == (
        "Leave X, land on Bluesky",
        10,
        at(10),
    )
    assert campaign.description == "On 20 January we go."


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"title": "Another"}, "title"),
        ({"threshold": 2}, "threshold"),
        ({"deadline": at(14)}, "pledge deadline"),
        ({"departure_at": at(21)}, "departure time"),
        ({"threshold": 0}, "threshold"),  # locked is the answer, not "invalid"
    ],
)
def test_terms_lock_when_the_campaign_opens(change: dict[str, object], named: str) -> None:
    campaign = open_campaign(terms(), OPENED)
    with pytest.raises(CoalitionError, match=f"terms are locked since it opened.*{named}") as err:
        amend_terms(campaign, **change)  # type: ignore[arg-type]
    assert err.value.hint is not None and "new campaign" in err.value.hint


def test_after_opening_the_description_can_still_change_and_same_values_are_no_change() -> None:
    campaign = open_campaign(terms(), OPENED)
    amended = amend_terms(
        campaign,
        description="Now with a link.",
        title=campaign.title,
        deadline=DEADLINE.astimezone(UTC),  # the same instant, written in another zone
    )
    assert amended.description == "Now with a link."
    assert amended.opened_at == OPENED


def test_a_campaign_opens_once_and_only_before_its_deadline() -> None:
    campaign = open_campaign(terms(), OPENED)
    with pytest.raises(CoalitionError, match="already open"):
        open_campaign(campaign, at(4))
    with pytest.raises(CoalitionError, match=r"deadline .* has already passed") as err:
        open_campaign(terms(), at(16))
    assert err.value.one_line().startswith("The pledge deadline (15 January 2025, 23:59 CET)")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"threshold": 0}, "threshold of 0 is not allowed"),
        ({"threshold": -3}, "threshold of -3 is not allowed"),
        ({"title": "   "}, "needs a title"),
        ({"departure_at": DEADLINE}, "departure time .* must come after the pledge deadline"),
        ({"departure_at": at(10)}, "must come after"),
        ({"deadline": datetime(2025, 1, 15, 23, 59)}, "pledge deadline .* has no timezone"),
        ({"closed_at": at(20)}, "cannot be closed before it was opened"),
    ],
)
def test_invalid_terms_are_refused_with_a_clear_message(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(CoalitionError, match=message) as err:
        terms(**fields)
    assert isinstance(err.value, DeparturesError)


def test_pledges_and_withdrawals_only_while_open_and_before_the_deadline() -> None:
    with pytest.raises(CoalitionError, match="not open for pledges yet"):
        make_pledge(terms(), "a", 0, at(3))
    campaign = open_campaign(terms(), OPENED)
    made = make_pledge(campaign, "a", 2, at(3))
    assert made == Pledge("a", 2, at(3))
    with pytest.raises(
        CoalitionError, match="deadline passed on 15 January 2025, 23:59 CET"
    ) as err:
        make_pledge(campaign, "b", 0, at(16))
    assert err.value.one_line().endswith("Ask the coordinator if something is wrong.")
    with pytest.raises(CoalitionError, match="deadline passed"):
        withdraw_pledge(campaign, made, at(16))
    with pytest.raises(CoalitionError, match="cannot require -1"):
        make_pledge(campaign, "a", -1, at(3))


def test_a_pledge_is_withdrawn_only_once() -> None:
    campaign = open_campaign(terms(), OPENED)
    gone = withdraw_pledge(campaign, pledged("a"), at(4))
    with pytest.raises(CoalitionError, match="already withdrawn"):
        withdraw_pledge(campaign, gone, at(5))


def test_nothing_changes_in_a_closed_campaign() -> None:
    campaign = close_campaign(open_campaign(terms(threshold=1), OPENED), [], at(21))
    with pytest.raises(CoalitionError, match="closed"):
        check_can_change_pledges(campaign, at(22))


def test_the_current_time_must_have_a_timezone() -> None:
    with pytest.raises(CoalitionError, match=r"current time .* has no timezone"):
        campaign_state(terms(), [], datetime(2025, 1, 3, 12, 0))


# --- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "events"),
    [
        (State.DRAFT, State.OPEN, ()),
        (State.OPEN, State.ON, (Event.CAMPAIGN_ON,)),
        (State.ON, State.OPEN, (Event.BACK_TO_OPEN,)),
        (State.OPEN, State.OFF, (Event.CAMPAIGN_OFF,)),
        (State.ON, State.OFF, (Event.CAMPAIGN_OFF,)),
        (State.ON, State.DEPARTED, (Event.DEPARTED,)),
        (State.OPEN, State.DEPARTED, (Event.CAMPAIGN_ON, Event.DEPARTED)),
        (State.DRAFT, State.ON, (Event.CAMPAIGN_ON,)),
        (State.DEPARTED, State.CLOSED, ()),
        (State.OFF, State.CLOSED, ()),
        (State.ON, State.ON, ()),
    ],
)
def test_events_name_what_everyone_must_be_told(
    old: State, new: State, events: tuple[Event, ...]
) -> None:
    assert events_between(old, new) == events


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (State.DEPARTED, State.OPEN),
        (State.OFF, State.ON),
        (State.CLOSED, State.OPEN),
        (State.OPEN, State.CLOSED),
        (State.OPEN, State.DRAFT),
    ],
)
def test_moves_the_rules_never_make_are_reported_as_bugs(old: State, new: State) -> None:
    with pytest.raises(ValueError, match=f"never moves from {old} to {new}"):
        events_between(old, new)


# A random campaign history: pledges and withdrawals at random hours, observed at random times.
HOURS = st.integers(0, 24 * 30)


@st.composite
def histories(draw: st.DrawFn) -> tuple[CampaignTerms, list[Pledge], list[datetime]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    campaign = open_campaign(
        CampaignTerms(
            "Leave X",
            threshold=draw(st.integers(1, 6)),
            deadline=start + timedelta(days=15),
            departure_at=start + timedelta(days=20),
        ),
        start,
    )
    pledges = []
    for _ in range(draw(st.integers(0, 10))):
        made = start + timedelta(hours=draw(HOURS))
        gone = draw(st.none() | HOURS)
        pledges.append(
            Pledge(
                draw(st.sampled_from("abcdefgh")),
                draw(st.integers(0, 7)),
                made,
                None if gone is None else max(made, start + timedelta(hours=gone)),
            )
        )
    moments = sorted(start + timedelta(hours=h) for h in draw(st.lists(HOURS, max_size=12)))
    return campaign, pledges, moments


@settings(max_examples=100, deadline=None)
@given(histories())
def test_states_over_time_follow_the_rules_and_every_move_has_its_events(
    history: tuple[CampaignTerms, list[Pledge], list[datetime]],
) -> None:
    campaign, pledges, moments = history
    previous = State.DRAFT
    for now in moments:
        state = campaign_state(campaign, pledges, now)
        going = resolve_pledges(pledges, min(now, campaign.deadline)).size
        if now < campaign.deadline:
            assert state == (State.ON if going >= campaign.threshold else State.OPEN)
        elif going < campaign.threshold:
            assert state == State.OFF
        else:
            assert state == (State.DEPARTED if now >= campaign.departure_at else State.ON)
        events_between(previous, state)  # every observed move is one the rules make
        previous = state


def sequence_of_states(states: Sequence[State]) -> list[Event]:
    return [e for old, new in itertools.pairwise(states) for e in events_between(old, new)]


def test_a_whole_campaign_tells_everyone_each_turn() -> None:
    campaign = open_campaign(terms(threshold=2), OPENED)
    a = make_pledge(campaign, "a", 0, at(3))
    b = make_pledge(campaign, "b", 1, at(4))
    a_gone = withdraw_pledge(campaign, a, at(5))
    a_again = make_pledge(campaign, "a", 0, at(6))
    pledges = [a_gone, b, a_again]
    moments = [at(2, 8), at(3), at(4), at(5), at(6), at(16), at(21)]
    states = [campaign_state(campaign, pledges, now) for now in moments]
    assert states == ["draft", "open", "on", "open", "on", "on", "departed"]
    assert sequence_of_states(states) == [
        Event.CAMPAIGN_ON,
        Event.BACK_TO_OPEN,
        Event.CAMPAIGN_ON,
        Event.DEPARTED,
    ]


def test_the_notification_loop_announces_a_departure_it_missed_before_the_closure() -> None:
    campaign = open_campaign(terms(threshold=1), OPENED)
    pledges = [pledged("a")]
    closed = close_campaign(campaign, pledges, at(22))
    announced = events_since(closed, pledges, State.ON, at(23))
    assert (announced.state, announced.events) == (State.CLOSED, (Event.DEPARTED,))
    assert events_since(closed, pledges, State.DEPARTED, at(23)).events == ()
    assert events_since(closed, pledges, State.CLOSED, at(23)).events == ()


def test_the_notification_loop_announces_a_campaign_that_went_off_and_was_closed() -> None:
    pledges = [pledged("a")]
    campaign = close_campaign(open_campaign(terms(threshold=2), OPENED), pledges, at(17))
    announced = events_since(campaign, pledges, State.OPEN, at(18))
    assert (announced.state, announced.events) == (State.CLOSED, (Event.CAMPAIGN_OFF,))


def test_the_notification_loop_announces_the_move_it_sees() -> None:
    campaign = open_campaign(terms(threshold=1), OPENED)
    announced = events_since(campaign, [pledged("a")], State.OPEN, at(4))
    assert (announced.state, announced.events) == (State.ON, (Event.CAMPAIGN_ON,))
    assert events_since(campaign, [pledged("a")], State.ON, at(4)).events == ()
