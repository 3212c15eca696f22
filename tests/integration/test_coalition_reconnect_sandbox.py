"""Reconnect against the local sandbox network: a member that asked the coalition to "follow
them for us" gets a late directory registrant followed from its own account exactly once —
whatever the scheduler does (two passes, a pass killed after the server wrote, a batch
journaled but never answered), an account it already followed by hand is not followed again,
and the daily cap holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from atproto import Client

from departures.bluesky.records import derived_rkey
from departures.coalition import reconnect as reconnects
from departures.coalition.departure import DepartureDay
from departures.coalition.directory import Directory
from departures.coalition.notify import Notifier
from departures.coalition.reconnect import Reconnect
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.vault import Vault
from departures.netguard import NetGuard
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import Clock
from helpers.coalition import join, open_campaign

pytestmark = pytest.mark.sandbox

FOLLOW = "app.bsky.graph.follow"
SECRET = b"a test secret that is long enough"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


# The registrants below are vouched for by a coordinator: only proven claims (verified,
# vouched) are followed for a member (tests/integration/test_claims_impostor_sandbox.py).


def connected_member(
    sandbox: TestSandbox, store: CoalitionStore, account: Account
) -> tuple[Organisation, Reconnect]:
    """A member that connected its account for the departure day and asked for follows."""
    coordinator, campaign = open_campaign(store)
    organisation, _key = join(
        store,
        campaign.slug,
        coordinator,
        "Oxfam",
        email="oxfam@example.org",
        bluesky_handle=account.handle,
        bluesky_did=account.did,
    )
    DepartureDay(store, Vault(SECRET), sandbox.pds_url).prepare(
        organisation, "", opted_in=False, app_password=account.app_password
    )
    # The sandbox's PDS is on loopback: trusted here as the operator's configured service.
    service = Reconnect(
        store,
        secrets=Vault(SECRET),
        daily_cap=100,
        guard=NetGuard.for_service(sandbox.pds_url),
    )
    service.set_auto_follow(organisation, True)
    return organisation, service


def follows_of(sandbox: TestSandbox, did: str) -> list[tuple[str, str]]:
    """(subject, rkey) of every follow record of ``did``."""
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": FOLLOW, "limit": 100}
        )
        return sorted((r.value.subject, r.uri.rsplit("/", 1)[-1]) for r in page.records)
    finally:
        client.request.close()


def test_a_late_registrant_is_followed_once_across_passes_and_interruptions(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    member, late, known = (sandbox.new_account(p) for p in ("rcmember", "rclate", "rcknown"))
    organisation, service = connected_member(sandbox, store, member)
    service.save_followings(organisation, ["400", "500", "600"])
    notifier = Notifier(store, base_url="http://coalition.test", reconnect=service)
    notifier.tick()
    assert follows_of(sandbox, member.did) == []

    # The member follows one account by hand; two register in the directory a month later.
    by_hand = Client(base_url=f"{sandbox.pds_url}/xrpc")
    by_hand.login(member.handle, member.app_password)
    by_hand.follow(known.did)
    by_hand.request.close()
    clock.now += timedelta(days=30)
    directory = Directory(store.engine, clock=clock)
    directory.register("400", "late_comer", late.did, late.handle, source="coordinator")
    directory.register("500", "known_one", known.did, known.handle, source="coordinator")

    # A pass killed after the server wrote the follow, before the store recorded it.
    settle = reconnects.Reconnect._settle

    def killed(self: Reconnect, org: Organisation, x_id: str, state: str, *args: str) -> None:
        if state == "followed":
            raise KeyboardInterrupt
        settle(self, org, x_id, state, *args)

    with monkeypatch.context() as patch:
        patch.setattr(reconnects.Reconnect, "_settle", killed)
        with pytest.raises(KeyboardInterrupt):
            service.run("http://coalition.test")
    assert late.did in [subject for subject, _ in follows_of(sandbox, member.did)]
    assert {p.handle: p.state for p in service.proposals(organisation)}[late.handle] == "proposed"
    for _ in range(2):
        report = notifier.tick()
        assert report.errors == []

    subjects = sorted([late.did, known.did])
    found = follows_of(sandbox, member.did)
    assert [subject for subject, _ in found] == subjects  # each once
    assert (late.did, derived_rkey(late.did)) in found
    states = {p.handle: p.state for p in service.proposals(organisation)}
    assert states == {late.handle: "followed", known.handle: "existing"}

    # Later still: the result of a batch is lost (journaled as sent, no answer recorded).
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM bluesky_records")
        conn.exec_driver_sql("UPDATE bluesky_batches SET state = 'sent'")
        conn.exec_driver_sql("UPDATE reconnect_proposals SET state = 'proposed'")
    notifier.tick()
    assert [s for s, _ in follows_of(sandbox, member.did)] == subjects
    states = {p.handle: p.state for p in service.proposals(organisation)}
    assert states == {late.handle: "followed", known.handle: "existing"}


def test_follows_stop_at_the_daily_cap_and_resume_the_next_day(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    member, first, second = (sandbox.new_account(p) for p in ("capmember", "capone", "captwo"))
    organisation, service = connected_member(sandbox, store, member)
    service.daily_cap = 1
    service.save_followings(organisation, ["700", "800"])
    directory = Directory(store.engine, clock=clock)
    directory.register("700", "cap_one", first.did, first.handle, source="coordinator")
    directory.register("800", "cap_two", second.did, second.handle, source="coordinator")

    assert service.run("http://coalition.test").followed == 1
    assert service.run("http://coalition.test").followed == 0
    assert len(follows_of(sandbox, member.did)) == 1
    clock.now += timedelta(days=1, minutes=1)
    assert service.run("http://coalition.test").followed == 1
    assert {s for s, _ in follows_of(sandbox, member.did)} == {first.did, second.did}


def test_without_follow_them_for_us_nothing_is_followed(
    sandbox: TestSandbox, store: CoalitionStore
) -> None:
    member, late = sandbox.new_account("offmember"), sandbox.new_account("offlate")
    organisation, service = connected_member(sandbox, store, member)
    service.set_auto_follow(organisation, False)
    service.save_followings(organisation, ["900"])
    Directory(store.engine).register("900", "off_late", late.did, late.handle, source="coordinator")

    report = service.run("http://coalition.test")

    assert (report.proposed, report.followed) == (1, 0)
    assert follows_of(sandbox, member.did) == []
