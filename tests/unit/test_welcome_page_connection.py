"""The departure page's welcome-post form where the coalition connects Bluesky accounts through
OAuth: no app password is asked for (unless the operator kept it as a fallback), one typed
anyway is refused with the member page's line and nothing is saved, and the page offers
Continue with Bluesky and says no password is given to the coalition."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from departures.coalition.departure import DepartureDay
from departures.coalition.oauth import APP_PASSWORDS_ENV, OAuthService
from departures.coalition.store import CoalitionStore, Organisation, accounts
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import oauth as oauth_rows
from departures.coalition.vault import Vault, organisation_owner
from helpers.coalition import join, open_campaign
from helpers.web import CLOSED_PORT, TEST_SERVER, InProcessBrowser, coalition_app


@pytest.fixture
def signed_in(
    store: CoalitionStore, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[InProcessBrowser, DepartureDay, Organisation]]:
    monkeypatch.delenv(APP_PASSWORDS_ENV, raising=False)
    vault = Vault(b"test-key")
    # Nothing here reaches a Bluesky server: the service's is a closed port.
    service = OAuthService(store.engine, vault, TEST_SERVER, service=CLOSED_PORT, plc=CLOSED_PORT)
    departure = DepartureDay(store, vault, CLOSED_PORT)
    app = coalition_app(store, base_url=TEST_SERVER, oauth=service, departure=departure)
    coordinator, campaign = open_campaign(store)
    organisation, key = join(store, campaign.slug, coordinator, "NGO", bluesky_handle="ngo.test")
    with InProcessBrowser(app) as browser:
        signed = browser.submit("/member/sign-in", {"key": key}, "/member/sign-in")
        assert signed.status_code == 200, signed.text
        yield browser, departure, organisation


def test_the_page_offers_oauth_and_no_app_password(
    signed_in: tuple[InProcessBrowser, DepartureDay, Organisation],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    browser, _departure, _organisation = signed_in
    page = browser.get("/member/departure").text
    assert 'id="oauth-member"' in page and 'value="ngo.test"' in page
    assert 'id="app_password"' not in page
    for path in ("/member/departure", "/member"):
        shown = browser.get(path).text
        assert "Your app password is used once" not in shown
        assert "no password is given to the coalition" in shown
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")  # kept as a fallback by the operator
    page = browser.get("/member/departure").text
    assert 'id="app_password"' in page and "Your app password is used once" in page


def test_an_app_password_typed_anyway_is_refused_and_nothing_saved(
    signed_in: tuple[InProcessBrowser, DepartureDay, Organisation],
) -> None:
    browser, departure, organisation = signed_in
    answer = browser.submit(
        "/member/departure/welcome",
        {
            "welcome_text": "We have landed.",
            "opted_in": "1",
            "action": "save",
            "app_password": "abcd-efgh-ijkl-mnop",
        },
        "/member/departure",
    )
    assert answer.status_code == 400
    assert "connects Bluesky accounts through Bluesky" in answer.text
    assert "We have landed." in answer.text  # the text stays in the form
    welcome = departure.welcome(organisation)
    assert welcome.text == "" and not welcome.opted_in and welcome.account_handle == ""


def test_disconnect_forgets_a_session_the_service_can_no_longer_read(
    signed_in: tuple[InProcessBrowser, DepartureDay, Organisation], store: CoalitionStore
) -> None:
    """The service's key changed since the member connected: the grant cannot be revoked with
    it, and the member page's button still forgets the session, the OAuth mark and the
    connection the verified-domain mark rests on."""
    browser, _departure, organisation = signed_in
    owner, did, now = (
        organisation_owner(organisation.id),
        "did:plc:ngoaccount0000000000000",
        store.clock(),
    )
    accounts.save_account_session(
        store.engine, owner, campaign_id=organisation.campaign_id,
        organisation_id=organisation.id, did=did, handle="ngo.test", service=CLOSED_PORT,
        secret=Vault(b"the key before").encrypt('{"oauth": {}}'), now=now,
    )  # fmt: skip
    oauth_rows.record_connection(store.engine, owner, did, now)
    claim_rows.record_member_connection(store.engine, organisation.id, did, "ngo.test", "oauth")
    page = browser.get("/member").text
    assert 'id="disconnect-account"' in page
    answer = browser.submit("/member/bluesky/disconnect", {}, "/member")
    assert answer.status_code == 200, answer.text
    assert 'id="disconnect-account"' not in answer.text
    assert not accounts.account_secret(store.engine, owner)
    assert oauth_rows.connected_through_oauth(store.engine, owner) is None
    assert claim_rows.member_connection(store.engine, organisation.id) is None
