"""The reconnect pass over a real store (the store-level tests on SQLite and PostgreSQL):
late directory registrants are proposed to the members that followed them on X, once, with
one e-mail per round that a real SMTP receiver gets; a pass that dies half-way loses nothing;
withdrawal from the directory removes the proposals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from departures.coalition import reconnect as reconnects
from departures.coalition.directory import Directory
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.reconnect import Reconnect
from departures.coalition.store import CoalitionStore, Organisation
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.mail import Inbox
from helpers.stores import ON_BOTH_STORES

LATE = "did:plc:" + "l" * 24
EARLY = "did:plc:" + "e" * 24
STRANGER = "did:plc:" + "s" * 24
OURS = "did:plc:" + "o" * 24


def members(store: CoalitionStore, *names: str) -> list[Organisation]:
    coordinator, campaign = open_campaign(store)
    return [
        join(
            store,
            campaign.slug,
            coordinator,
            name,
            email=f"{name.lower()}@example.org",
            bluesky_did=OURS,
        )[0]
        for name in names
    ]


def reconnect_outbox(store: CoalitionStore) -> list[dict[str, Any]]:
    return [row for row in store.outbox() if str(row["message"]).startswith("reconnect:")]


@ON_BOTH_STORES
def test_a_late_registrant_is_proposed_once_in_its_own_round(
    store: CoalitionStore, clock: Clock
) -> None:
    (org,) = members(store, "Oxfam")
    directory = Directory(store.engine, clock=clock)
    directory.register("200", "early_bird", EARLY, "early.bsky.social")
    directory.register("999", "stranger", STRANGER, "stranger.bsky.social")
    directory.register("300", "ourselves", OURS, "oxfam.bsky.social")
    service = Reconnect(store)
    service.save_followings(org, ["100", "200", "300", "400"])

    first = service.run("http://coalition.test")
    assert (first.proposed, first.queued, first.errors) == (1, 1, [])
    clock.now += timedelta(days=30)  # the organisation left long ago; someone joins now
    directory.register("400", "late_comer", LATE, "late.bsky.social")
    second = service.run("http://coalition.test")
    third = service.run("http://coalition.test")

    assert (second.proposed, second.queued) == (1, 1)
    assert (third.proposed, third.queued) == (0, 0)
    proposals = service.proposals(org)
    assert [(p.handle, p.round, p.state) for p in proposals] == [
        ("late.bsky.social", 2, "proposed"),
        ("early.bsky.social", 1, "proposed"),
    ]
    mails = reconnect_outbox(store)
    assert [m["recipient"] for m in mails] == ["oxfam@example.org"] * 2
    assert "https://bsky.app/profile/late.bsky.social" in mails[1]["body"]
    assert "early.bsky.social" not in mails[1]["body"]
    assert "http://coalition.test/member" in mails[1]["body"]


@ON_BOTH_STORES
def test_each_member_is_proposed_the_accounts_it_followed(store: CoalitionStore) -> None:
    first, second = members(store, "First", "Second")
    service = Reconnect(store)
    service.save_followings(first, ["1", "2"])
    service.save_followings(second, ["2", "3"])
    directory = Directory(store.engine)
    directory.register("1", "one", "did:plc:" + "b" * 24, "one.test")
    directory.register("2", "two", "did:plc:" + "c" * 24, "two.test")
    directory.register("3", "three", "did:plc:" + "d" * 24, "three.test")

    report = service.run("http://coalition.test")

    assert report.proposed == 4 and report.members == 2
    assert sorted(p.handle for p in service.proposals(first)) == ["one.test", "two.test"]
    assert sorted(p.handle for p in service.proposals(second)) == ["three.test", "two.test"]


@ON_BOTH_STORES
def test_a_pass_that_dies_half_way_proposes_everything_later_and_once(
    store: CoalitionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    (org,) = members(store, "Oxfam")
    service = Reconnect(store)
    service.save_followings(org, ["400"])
    Directory(store.engine).register("400", "late_comer", LATE, "late.bsky.social")

    def dies(*args: object, **kwargs: object) -> tuple[str, str]:
        raise OSError("killed while writing the e-mail")

    monkeypatch.setattr(reconnects, "proposal_email", dies)
    broken = service.run("http://coalition.test")
    assert broken.errors and "killed" in broken.errors[0]
    assert service.proposals(org) == [] and reconnect_outbox(store) == []

    monkeypatch.undo()
    again = service.run("http://coalition.test")
    service.run("http://coalition.test")
    assert again.proposed == 1
    assert [p.handle for p in service.proposals(org)] == ["late.bsky.social"]
    assert len(reconnect_outbox(store)) == 1


@ON_BOTH_STORES
def test_withdrawal_removes_the_entrys_proposals(store: CoalitionStore) -> None:
    (org,) = members(store, "Oxfam")
    service = Reconnect(store)
    service.save_followings(org, ["200", "400"])
    directory = Directory(store.engine)
    directory.register("200", "early_bird", EARLY, "early.bsky.social")
    directory.register("400", "late_comer", LATE, "late.bsky.social")
    service.run("http://coalition.test")

    assert directory.withdraw(LATE) == 1
    assert [p.handle for p in service.proposals(org)] == ["early.bsky.social"]
    assert service.run("http://coalition.test").proposed == 0


@ON_BOTH_STORES
def test_a_new_upload_replaces_the_ids_and_deleting_stops_the_pass(store: CoalitionStore) -> None:
    (org,) = members(store, "Oxfam")
    service = Reconnect(store)
    assert service.save_followings(org, ["1", "2", "3"]) == 3
    assert service.save_followings(org, ["3", "4"]) == 2
    assert service.settings(org).following_count == 2
    Directory(store.engine).register("1", "one", "did:plc:" + "b" * 24, "one.test")
    assert service.run("http://coalition.test").proposed == 0  # "1" is no longer followed

    assert service.delete_followings(org) == 2
    Directory(store.engine).register("4", "four", "did:plc:" + "f" * 24, "four.test")
    report = service.run("http://coalition.test")
    assert (report.members, report.proposed) == (0, 0)
    assert service.settings(org).uploaded_at is None


@ON_BOTH_STORES
def test_the_scheduler_tick_proposes_and_a_member_without_email_sees_it_on_its_page(
    store: CoalitionStore,
) -> None:
    (org,) = members(store, "Oxfam")
    store.update_organisation(org.id, email="")
    Reconnect(store).save_followings(org, ["400"])
    Directory(store.engine).register("400", "late_comer", LATE, "late.bsky.social")

    report = Notifier(store, base_url="http://coalition.test").tick()

    assert report.proposed == 1 and report.errors == []
    assert reconnect_outbox(store) == []
    assert [p.url for p in Reconnect(store).proposals(org)] == [
        "https://bsky.app/profile/late.bsky.social"
    ]


# --- the e-mail, received by a real SMTP server -------------------------------------------------


def test_the_proposal_email_reaches_a_real_smtp_server_once(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    (org,) = members(store, "Oxfam")
    Reconnect(store).save_followings(org, ["400", "500"])
    notifier = Notifier(
        store,
        base_url="https://coalition.example",
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="office@coalition.example"),
    )
    notifier.tick()
    clock.now += timedelta(days=40)
    directory = Directory(store.engine, clock=clock)
    directory.register("400", "late_comer", LATE, "late.bsky.social")
    directory.register("500", "later_too", "did:plc:" + "t" * 24, "later.bsky.social")
    for _ in range(3):
        report = notifier.tick()
        assert report.errors == [] and report.failed == 0

    mails = [m for m in inbox.messages if "/reconnect:" in str(m["X-Departures-Message"])]
    assert len(mails) == 1 and mails[0]["To"] == "oxfam@example.org"
    assert mails[0]["Subject"] == "2 accounts you followed on X are now on Bluesky"
    body = mails[0].get_content()
    assert "https://bsky.app/profile/late.bsky.social" in body
    assert "https://bsky.app/profile/later.bsky.social" in body
    assert "https://coalition.example/member" in body
