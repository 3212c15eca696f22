"""Bluesky identities of member organisations, against the local sandbox network: handles
resolve to their DIDs, the verified-domain mark, and landings seen through the AppView."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from departures.coalition.board import board_json, load_board
from departures.coalition.handles import HandleError, XrpcHandleResolver, verified_domain
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore
from departures.coalition.store.claims import record_member_connection
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import START, Clock
from helpers.coalition import join, open_campaign

pytestmark = pytest.mark.sandbox


def test_a_real_handle_resolves_to_its_did_and_an_unknown_one_is_refused(
    sandbox: TestSandbox,
) -> None:
    account = sandbox.new_account("org")
    assert XrpcHandleResolver(sandbox.pds_url).resolve(account.handle) == account.did
    with pytest.raises(HandleError, match="does not exist"):
        XrpcHandleResolver(sandbox.pds_url).resolve("nobody-here.test")


def test_the_verified_domain_mark_needs_the_websites_own_domain(sandbox: TestSandbox) -> None:
    account = sandbox.new_account("site")
    assert verified_domain(account.handle, f"https://www.{account.handle}/about")
    assert not verified_domain(account.handle, "https://example.org")
    assert not verified_domain(f"press.{account.handle}", f"https://{account.handle}")


def _post(sandbox: TestSandbox, handle: str, password: str) -> None:
    from atproto import Client

    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    client.login(handle, password)
    try:
        client.send_post("We have landed.")
    finally:
        client.request.close()


def test_the_follow_through_marks_members_whose_account_posted_as_landed(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    resolver = XrpcHandleResolver(sandbox.pds_url)
    appview = XrpcHandleResolver(sandbox.appview_url)  # counts posts, like production
    poster = sandbox.new_account("poster")
    silent = sandbox.new_account("silent")
    coordinator, campaign = open_campaign(store, threshold=2, deadline=START + timedelta(days=10))
    members = []
    for account in (poster, silent):
        org, _ = join(
            store,
            campaign.slug,
            coordinator,
            account.handle,
            website=f"https://{account.handle}",
            bluesky_handle=account.handle,
            bluesky_did=resolver.resolve(account.handle),
            public_name=True,
        )
        # The mark is earned by connecting the account through OAuth (test_claims_badge_*).
        record_member_connection(store.engine, org.id, account.did, account.handle, "oauth")
        store.pledge(org.id, 0)
        members.append(org)
    assert not appview.has_posted(poster.did)
    _post(sandbox, poster.handle, poster.app_password)
    deadline = time.monotonic() + 30
    while not appview.has_posted(poster.did):  # the AppView indexes asynchronously
        assert time.monotonic() < deadline, "the AppView never counted the post"
        time.sleep(0.5)
    clock.now = START + timedelta(days=15, hours=1)
    report = Notifier(store, base_url="http://coalition.test", landing=appview).tick()
    assert report.landed == 1
    data = board_json(load_board(store, campaign.slug))
    by_handle = {o["bluesky_handle"]: o for o in data["organisations"]}
    assert by_handle[poster.handle]["status"] == "landed"
    assert by_handle[poster.handle]["bluesky_did"] == poster.did
    assert by_handle[poster.handle]["verified_domain"] is True
    assert by_handle[silent.handle]["status"] == "departed"
    follow_ups = [row for row in store.outbox() if row["message"] == "follow-through"]
    assert follow_ups == []  # no e-mail addresses given: nothing to send, nothing queued
