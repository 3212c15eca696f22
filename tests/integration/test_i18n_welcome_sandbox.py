"""A welcome post in the member's chosen language, published on the local Bluesky sandbox:
the suggested French text goes out as written, its record tagged ``langs: ["fr"]``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from atproto import Client

from departures.coalition.departure import DepartureDay, welcome_suggestion
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore
from departures.coalition.store import languages as stored_languages
from departures.coalition.vault import Vault
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import Clock
from helpers.coalition import join, open_campaign

pytestmark = pytest.mark.sandbox


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def test_the_welcome_post_goes_out_in_the_members_language(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    account = sandbox.new_account("cncd")
    coordinator, campaign = open_campaign(store, title="Ensemble hors de X")
    org, _key = join(
        store,
        campaign.slug,
        coordinator,
        "CNCD-11.11.11",
        bluesky_handle=account.handle,
        bluesky_did=account.did,
    )
    stored_languages.set_organisation_language(store.engine, org.id, "fr")
    org = store.organisation(org.id)
    store.pledge(org.id, 0)
    text = welcome_suggestion(store.campaign(campaign.slug), org)
    assert text.startswith("Bonjour Bluesky ! Aujourd'hui, CNCD-11.11.11 quitte X")
    day = DepartureDay(store, Vault(b"a test secret that is long enough"), sandbox.pds_url)
    day.prepare(org, text, opted_in=True, app_password=account.app_password)
    clock.now = campaign.departure_at + timedelta(minutes=1)
    report = Notifier(store, base_url="http://coalition.test", departure_hook=day).tick()
    assert report.errors == []
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": account.did, "collection": "app.bsky.feed.post", "limit": 10}
        )
    finally:
        client.request.close()
    (record,) = [r.value for r in page.records]
    assert record.text == text
    assert record.langs == ["fr"]
