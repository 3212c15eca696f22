"""Only the campaign's own coordinator may disconnect the coalition's Bluesky account."""

from __future__ import annotations

from departures.coalition.oauth import OAuthService
from departures.coalition.store import CoalitionStore
from departures.coalition.store import oauth as oauth_rows
from departures.coalition.vault import Vault, campaign_owner
from helpers.coalition import open_campaign
from helpers.web import CLOSED_PORT, TEST_SERVER, InProcessBrowser, coalition_app


def test_another_coordinator_is_refused_and_nothing_is_forgotten(store: CoalitionStore) -> None:
    service = OAuthService(
        store.engine, Vault(b"test-key"), TEST_SERVER, service=CLOSED_PORT, plc=CLOSED_PORT
    )
    app = coalition_app(store, base_url=TEST_SERVER, oauth=service)
    _owner_id, campaign = open_campaign(store, coordinator="Office")
    owner = campaign_owner(campaign.id)
    oauth_rows.record_connection(
        store.engine, owner, "did:plc:coalition000000000000000", store.clock()
    )
    _other_id, other_token = store.create_coordinator("Another office")
    with InProcessBrowser(app) as browser:
        browser.submit("/login", {"token": other_token}, "/login")
        answer = browser.submit(
            f"/coordinator/campaigns/{campaign.slug}/bluesky/disconnect", {}, "/coordinator"
        )
        assert answer.status_code == 403
        assert "campaign&#39;s coordinator can manage it" in answer.text
    with InProcessBrowser(app) as visitor:
        answer = visitor.submit(
            f"/coordinator/campaigns/{campaign.slug}/bluesky/disconnect", {}, "/login"
        )
        assert answer.status_code == 403
    assert oauth_rows.connected_through_oauth(store.engine, owner) is not None
