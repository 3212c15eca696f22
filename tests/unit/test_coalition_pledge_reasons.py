"""The resolver's reasons (rules.explain) and the check that a campaign's times are ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from departures.coalition.rules import (
    CoalitionError,
    Pledge,
    check_ahead,
    explain,
    resolve_pledges,
)

T = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


def _pledges(conditions: dict[str, int]) -> list[Pledge]:
    return [Pledge(name, n, T) for name, n in conditions.items()]


def test_these_twelve_go_because_these_nine_go() -> None:
    conditions = {f"u{i}": 0 for i in range(9)}
    conditions.update({f"c{i:02d}": 5 + i for i in range(12)})  # needs 5..16 others
    conditions["late"] = 40
    explanation = explain(resolve_pledges(_pledges(conditions)))
    assert explanation.going == 21
    assert len(explanation.unconditional) == 9
    assert [r.organisation for r in explanation.conditional] == [f"c{i:02d}" for i in range(12)]
    assert all(r.others == 20 for r in explanation.conditional)
    # The 9 unconditional pledges alone meet conditions up to 9 others: c00..c04.
    assert explanation.held_up_by_each_other == tuple(f"c{i:02d}" for i in range(5, 12))
    [late] = explanation.excluded
    assert (late.organisation, late.needs, late.has, late.short_by) == ("late", 40, 21, 19)


def test_conditional_pledges_can_hold_each_other_up_without_any_unconditional_one() -> None:
    explanation = explain(resolve_pledges(_pledges({"a": 1, "b": 1, "c": 3})))
    assert explanation.unconditional == ()
    assert [(r.organisation, r.needs, r.others) for r in explanation.conditional] == [
        ("a", 1, 1),
        ("b", 1, 1),
    ]
    assert explanation.held_up_by_each_other == ("a", "b")
    assert [x.organisation for x in explanation.excluded] == ["c"]


def test_nobody_goes_and_everyone_is_explained() -> None:
    explanation = explain(resolve_pledges(_pledges({"a": 2, "b": 3})))
    assert explanation.going == 0
    assert explanation.conditional == ()
    assert [(x.organisation, x.short_by) for x in explanation.excluded] == [("a", 2), ("b", 3)]


def test_withdrawn_pledges_give_no_reason() -> None:
    pledges = [Pledge("a", 0, T), Pledge("b", 0, T, withdrawn_at=T + timedelta(hours=1))]
    explanation = explain(resolve_pledges(pledges))
    assert explanation.unconditional == ("a",)
    assert explanation.excluded == ()


def test_a_departure_or_deadline_in_the_past_is_refused() -> None:
    now = T
    check_ahead(now + timedelta(days=1), now + timedelta(days=2), now)
    with pytest.raises(CoalitionError) as past:
        check_ahead(now + timedelta(days=1), now - timedelta(minutes=1), now)
    assert "departure time" in past.value.message and "in the past" in past.value.message
    with pytest.raises(CoalitionError) as deadline:
        check_ahead(now - timedelta(days=1), now + timedelta(days=2), now)
    assert "pledge deadline" in deadline.value.message
