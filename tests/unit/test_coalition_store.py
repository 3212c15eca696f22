"""The coalition store on SQLite and on a real PostgreSQL (every test runs on both through
the ``engine`` fixture): schema, campaigns, invites, pledges, outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, text

from departures.coalition import rules
from departures.coalition.db import current_revision, head_revision, migrate
from departures.coalition.errors import BadInput, NotAllowed, NotFound
from departures.coalition.rules import CoalitionError, State
from departures.coalition.store import CoalitionStore
from departures.coalition.store.schema import metadata
from helpers import coalition
from helpers.clock import START, Clock
from helpers.stores import ON_BOTH_STORES

pytestmark = ON_BOTH_STORES


def make_campaign(store: CoalitionStore, coordinator: int, threshold: int = 2, **terms: object):
    values: dict[str, object] = {
        "title": "Leave X together",
        "threshold": threshold,
        "deadline": START + timedelta(days=10),
        "departure_at": START + timedelta(days=14),
        "timezone": "Europe/Brussels",
    }
    values.update(terms)
    return store.create_campaign(coordinator, **values)  # type: ignore[arg-type]


def join(store: CoalitionStore, slug: str, coordinator: int, name: str, **details: object):
    return coalition.join(store, slug, coordinator, name, **details)[0]


def test_migrating_a_blank_store_creates_every_table_of_the_schema(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name


def test_migrating_twice_is_harmless(engine: Engine) -> None:
    assert migrate(engine) == head_revision()


def test_campaign_slugs_are_unique_and_readable(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    first = make_campaign(store, coordinator, title="Leave X — together!")
    second = make_campaign(store, coordinator, title="Leave X — together!")
    assert first.slug == "leave-x-together"
    assert second.slug == "leave-x-together-2"


def test_times_come_back_aware_and_equal(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    from zoneinfo import ZoneInfo

    deadline = datetime(2025, 1, 13, 12, 0, tzinfo=ZoneInfo("Europe/Brussels"))
    campaign = make_campaign(store, coordinator, deadline=deadline)
    again = store.campaign(campaign.slug)
    assert again.deadline == deadline
    assert again.local(again.deadline).hour == 12


def test_invalid_terms_are_refused_with_the_rules_message(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    with pytest.raises(CoalitionError, match="must come after the pledge deadline"):
        make_campaign(store, coordinator, departure_at=START + timedelta(days=5))
    with pytest.raises(BadInput, match="not a timezone"):
        make_campaign(store, coordinator, timezone="Mars/Olympus")
    assert store.campaigns() == []


def test_secrets_are_stored_only_as_hashes(store: CoalitionStore, engine: Engine) -> None:
    coordinator, coordinator_token = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    invite_token = store.create_invite(campaign.slug, coordinator)
    _org, member_key = store.accept_invite(invite_token, name="Oxfam")
    with engine.connect() as conn:
        dump = " ".join(
            repr(tuple(row))
            for table in metadata.sorted_tables
            for row in conn.execute(text(f"SELECT * FROM {table.name}"))
        )
    for secret in (coordinator_token, invite_token, member_key):
        assert secret not in dump
    assert store.coordinator_by_token(coordinator_token) == coordinator
    assert store.coordinator_by_token(coordinator_token + "x") is None
    assert store.organisation_by_key(member_key) is not None


def test_an_invite_admits_one_organisation_only(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    token = store.create_invite(campaign.slug, coordinator)
    store.accept_invite(token, name="Oxfam")
    with pytest.raises(CoalitionError, match="already used"):
        store.accept_invite(token, name="Intruder")
    assert [org.name for org in store.organisations(campaign.id)] == ["Oxfam"]


def test_an_expired_invite_is_refused(store: CoalitionStore, clock: Clock) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    token = store.create_invite(campaign.slug, coordinator, ttl=timedelta(days=1))
    clock.advance(days=1)
    with pytest.raises(CoalitionError, match="expired"):
        store.accept_invite(token, name="Late")
    with pytest.raises(NotFound, match="not valid"):
        store.check_invite("no-such-token")


def test_only_the_campaigns_coordinator_may_change_it(store: CoalitionStore) -> None:
    owner, _ = store.create_coordinator("Office")
    other, _ = store.create_coordinator("Someone else")
    campaign = make_campaign(store, owner)
    with pytest.raises(NotAllowed):
        store.update_campaign(campaign.slug, other, description="hijacked")
    with pytest.raises(NotAllowed):
        store.open_campaign(campaign.slug, other)
    with pytest.raises(NotAllowed):
        store.create_invite(campaign.slug, other)


def test_terms_lock_when_the_campaign_opens(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    store.update_campaign(campaign.slug, coordinator, threshold=3)
    store.open_campaign(campaign.slug, coordinator)
    with pytest.raises(CoalitionError, match="locked"):
        store.update_campaign(campaign.slug, coordinator, threshold=2)
    with pytest.raises(CoalitionError, match="timezone is locked"):
        store.update_campaign(campaign.slug, coordinator, timezone="UTC")
    changed = store.update_campaign(campaign.slug, coordinator, description="See our statement")
    assert (changed.threshold, changed.description) == (3, "See our statement")


def test_pledges_are_an_append_only_history_the_rules_resolve(
    store: CoalitionStore, clock: Clock, engine: Engine
) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator, threshold=3)
    store.open_campaign(campaign.slug, coordinator)
    a = join(store, campaign.slug, coordinator, "A")
    b = join(store, campaign.slug, coordinator, "B")
    c = join(store, campaign.slug, coordinator, "C")
    clock.advance(hours=1)
    store.pledge(a.id, 0)
    store.pledge(b.id, 2)  # goes if 2 others go
    assert store.status(store.campaign(campaign.slug)).state == State.OPEN
    clock.advance(hours=1)
    store.pledge(c.id, 1)
    status = store.status(store.campaign(campaign.slug))
    assert status.state == State.ON
    assert status.resolution.members == {a.key, b.key, c.key}
    clock.advance(hours=1)
    store.withdraw(a.id)
    clock.advance(hours=1)
    store.pledge(c.id, 0)  # c changes its condition: supersedes, never deletes
    status = store.status(store.campaign(campaign.slug))
    assert status.state == State.OPEN
    assert status.resolution.members == {c.key}  # b still needs 2 others
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT organisation_id, min_others, withdrawn_at IS NOT NULL "
                "FROM pledges ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (a.id, 0, True),
        (b.id, 2, False),
        (c.id, 1, False),
        (c.id, 0, False),
    ]
    assert store.status(store.campaign(campaign.slug)) == rules.campaign_status(
        store.campaign(campaign.slug).terms, store.pledges(campaign.id), clock.now
    )


def test_pledges_are_refused_before_opening_and_after_the_deadline(
    store: CoalitionStore, clock: Clock
) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    a = join(store, campaign.slug, coordinator, "A")
    with pytest.raises(CoalitionError, match="not open"):
        store.pledge(a.id, 0)
    store.open_campaign(campaign.slug, coordinator)
    store.pledge(a.id, 0)
    clock.advance(days=10)
    with pytest.raises(CoalitionError, match="deadline passed"):
        store.withdraw(a.id)
    with pytest.raises(BadInput):
        store.pledge(a.id, -1)
    assert len(store.pledges(campaign.id)) == 1


def test_withdrawing_twice_is_refused(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    store.open_campaign(campaign.slug, coordinator)
    a = join(store, campaign.slug, coordinator, "A")
    store.pledge(a.id, 0)
    store.withdraw(a.id)
    with pytest.raises(CoalitionError, match="no pledge to withdraw"):
        store.withdraw(a.id)


def test_the_outbox_queues_each_message_once_per_recipient(store: CoalitionStore) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    entries = [("a@example.org", "email", "S", "B"), ("b@example.org", "email", "S", "B")]
    assert store.queue(campaign.id, "campaign_on#1", entries) == 2
    assert store.queue(campaign.id, "campaign_on#1", entries) == 0
    assert store.queue(campaign.id, "campaign_on#2", entries[:1]) == 1
    assert len(store.outbox(campaign.id)) == 3


def test_a_claimed_message_is_not_claimed_again_until_released(
    store: CoalitionStore, clock: Clock
) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    store.queue(campaign.id, "m", [("a@example.org", "email", "S", "B")])
    (claimed,) = store.claim_unsent()
    assert store.claim_unsent() == []
    store.mark_failed(claimed.id, "SMTP down")
    (again,) = store.claim_unsent()
    assert again.attempts == 2
    store.mark_sent(again.id)
    clock.advance(hours=1)
    assert store.claim_unsent() == []


def test_an_announcement_is_recorded_by_one_of_two_racing_schedulers(
    store: CoalitionStore,
) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    seen = store.campaign(campaign.slug)
    first = store.record_announcement(seen, State.ON, [rules.Event.CAMPAIGN_ON], START)
    second = store.record_announcement(seen, State.ON, [rules.Event.CAMPAIGN_ON], START)
    assert first == [(1, rules.Event.CAMPAIGN_ON)]
    assert second == []
    assert store.campaign(campaign.slug).announced_state == State.ON


def test_an_organisation_lands_once_and_only_after_the_departure(
    store: CoalitionStore, clock: Clock
) -> None:
    coordinator, _ = store.create_coordinator("Office")
    campaign = make_campaign(store, coordinator)
    a = join(store, campaign.slug, coordinator, "A", bluesky_handle="a.example.org")
    with pytest.raises(CoalitionError, match="after the departure time"):
        store.mark_landed(a.id)
    clock.advance(days=14)
    first = store.mark_landed(a.id).landed_at
    clock.advance(hours=2)
    assert store.mark_landed(a.id).landed_at == first == clock.now - timedelta(hours=2)
