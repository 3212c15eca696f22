"""A member organisation connects its Bluesky account for the departure day through OAuth
(headless Chromium on the sandbox PDS's own pages), the departure day's writer posts with
that DPoP-bound session, and the member page's sign-in with Bluesky finds the organisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from departures.bluesky.pds import Pds
from departures.bluesky.records import CURATELIST, LIST, POST
from departures.bluesky.writer import Write
from departures.coalition.departure import DepartureDay, account_writer
from departures.coalition.oauth import OAuthService, load_secret
from departures.coalition.store import CoalitionStore, accounts
from departures.coalition.store import oauth as oauth_rows
from departures.coalition.store.campaigns import utc_now
from departures.coalition.vault import AccountSessions, Vault, campaign_owner, organisation_owner
from departures.errors import BlueskyError
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.coalition import join, open_campaign
from helpers.oauth import follow_write, serve_tls, sign_in_at_the_pds, tls_browser

__all__ = ["tls_browser"]  # the fixture, imported for this module's tests


@pytest.fixture
def member_site(
    engine: Engine, sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, CoalitionStore, OAuthService, DepartureDay]]:
    """The coalition app with OAuth and the departure day on the sandbox, over HTTPS."""
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    store = CoalitionStore(engine)
    vault = Vault(b"test-key")  # the app's secret key: one vault for every session
    departure = DepartureDay(store, vault, sandbox.pds_url)
    made: list[OAuthService] = []

    def make(base: str) -> Any:
        made.append(OAuthService(engine, vault, base, service=sandbox.pds_url, plc=sandbox.plc_url))
        return web.coalition_app(
            store,
            base_url=base,
            oauth=made[0],
            departure=departure,
            **web.on_sandbox(sandbox.pds_url),
        )

    with serve_tls(make, tmp_path / "tls") as base:
        yield base, store, made[0], departure


@pytest.mark.sandbox
def test_member_connects_through_oauth_and_the_departure_day_writes(
    tls_browser: Any,
    member_site: tuple[str, CoalitionStore, OAuthService, DepartureDay],
    sandbox: TestSandbox,
) -> None:
    base, store, service, departure = member_site
    account = sandbox.new_account("oamember")
    coordinator, campaign = open_campaign(store, start=utc_now())
    organisation, key = join(
        store, campaign.slug, coordinator, "Oxfam test", bluesky_handle=account.handle
    )

    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/member/sign-in")
    page.get_by_label("Member key").fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#welcome")
    assert page.locator("#app_password").count() == 0  # no app password asked for
    assert page.locator("#oauth-handle-member").input_value() == account.handle
    page.locator("#oauth-member button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, account.password)
    page.wait_for_selector("#welcome-account")
    assert account.handle in page.inner_text("#welcome-account")
    context.close()

    # Recorded as connected *through OAuth*, as this DID (what the verified-domain mark needs).
    owner = organisation_owner(organisation.id)
    assert oauth_rows.connected_through_oauth(store.engine, owner) == account.did

    # The departure day's one writer, unchanged, on the DPoP-bound session.
    opened = account_writer(departure.sessions(organisation), guard=service.guard)
    assert opened is not None
    writer, _journal = opened
    record = {"$type": POST, "text": "We have landed.", "createdAt": "2026-12-07T05:00:00.000Z"}
    sent = writer.send_isolating([Write.create("welcome:test", POST, "3kaaaaaaaab22", record)])
    assert not sent.refused and sent.results
    got = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": account.did, "collection": POST, "rkey": "3kaaaaaaaab22"},
    ).json()
    assert got["value"]["text"] == "We have landed."
    writer.pds.close()

    # The member page's sign-in with Bluesky opens this organisation's page.
    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/member/sign-in")
    page.locator("#oauth-handle-sign-in").fill(account.handle)
    page.locator("#oauth-sign-in button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, account.password)
    page.wait_for_selector("#welcome")
    assert "Oxfam test" in page.inner_text("main")
    context.close()

    # Leaving (disconnect, as the member's deletion does first) revokes the grant at the
    # PDS: the session as it was kept no longer writes.
    secret = accounts.account_secret(store.engine, owner)
    kept, _client_id = load_secret(Vault(b"test-key").decrypt(secret))
    departure.disconnect(organisation)
    assert oauth_rows.connected_through_oauth(store.engine, owner) is None
    client = service.client()
    pds = Pds(client.sdk_client(kept, lambda changed: None), kept.did, kept.handle)
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        pds.apply_writes([follow_write(account.did, "3kaaaaaaaad22")])
    pds.close()


@pytest.mark.sandbox
def test_the_coordinator_connects_the_coalitions_own_account_through_oauth(
    tls_browser: Any,
    member_site: tuple[str, CoalitionStore, OAuthService, DepartureDay],
    sandbox: TestSandbox,
) -> None:
    base, store, service, _departure = member_site
    account = sandbox.new_account("oacoal")
    coordinator, token = store.create_coordinator("Coalition office")
    campaign = store.create_campaign(
        coordinator,
        title="Leave X",
        threshold=1,
        deadline=utc_now() + timedelta(days=7),
        departure_at=utc_now() + timedelta(days=14),
    )
    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/login")
    page.get_by_label("Coordinator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/coordinator/campaigns/{campaign.slug}")
    page.locator("#oauth-handle-coalition").fill(account.handle)
    page.locator("#oauth-coalition button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, account.password)
    page.wait_for_selector("#coalition-account-handle")
    assert account.handle in page.inner_text("#coalition-account-handle")
    assert "through Bluesky's own sign-in" in page.inner_text("#coalition-account-handle")
    context.close()

    owner = campaign_owner(campaign.id)
    assert oauth_rows.connected_through_oauth(store.engine, owner) == account.did
    sessions = AccountSessions(
        store.engine, Vault(b"test-key"), owner, campaign_id=campaign.id, clock=store.clock
    )
    opened = account_writer(sessions, guard=service.guard)
    assert opened is not None
    writer, _journal = opened
    record = {
        "$type": LIST,
        "purpose": CURATELIST,
        "name": "Leave X",
        "createdAt": "2026-12-07T05:00:00.000Z",
    }
    sent = writer.send_isolating([Write.create("list:test", LIST, "3kaaaaaaaac22", record)])
    assert not sent.refused and sent.results
    writer.pds.close()

    # Disconnecting revokes the grant at the PDS and forgets the session and the mark.
    assert service.disconnect(sessions)
    assert oauth_rows.connected_through_oauth(store.engine, owner) is None
    assert account_writer(sessions, guard=service.guard) is None
