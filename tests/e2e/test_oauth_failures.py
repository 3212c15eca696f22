"""What goes wrong with an OAuth sign-in or a granted session, against the sandbox PDS's real
authorisation server: a replayed state, a wrong issuer, a DPoP nonce that changed, an expired,
a tampered and a revoked token — each with what the person or the writer sees.

Each grant is real: Chromium completes the PDS's sign-in and consent pages; the callback is
caught on its way back (``page.route``) so that the test can hand its parameters to the
service itself, as they are or altered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import Engine, select

from departures.bluesky.oauth import OAuthError, OAuthSession
from departures.bluesky.pds import Pds
from departures.coalition.oauth import OAuthService, load_secret
from departures.coalition.store import CoalitionStore
from departures.coalition.store.schema import directory_sessions
from departures.coalition.vault import Vault
from departures.errors import BlueskyError
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.oauth import follow_write, launch, serve_tls, sign_in_at_the_pds, tls_browser

__all__ = ["tls_browser"]  # the fixture, imported for this module's tests


@pytest.fixture
def served(
    engine: Engine, sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, OAuthService]]:
    """The coalition app (serving the client documents) over HTTPS, and its OAuth service."""
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    store = CoalitionStore(engine)
    made: list[OAuthService] = []

    def make(base: str) -> Any:
        made.append(
            OAuthService(
                engine, Vault(b"test-key"), base, service=sandbox.pds_url, plc=sandbox.plc_url
            )
        )
        return web.coalition_app(store, base_url=base, oauth=made[0])

    with serve_tls(make, tmp_path / "tls") as base:
        yield base, made[0]


@pytest.fixture
def blind_browser(chromium: str) -> Iterator[Any]:
    """Chromium for which ``HOST`` does not resolve: the authorisation server's answer is
    seen (the request event) but never reaches the service, so the test hands it over."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright, chromium, "~NOTFOUND")
        try:
            yield launched
        finally:
            launched.close()


def _grant(browser: Any, service: OAuthService, handle: str, password: str) -> dict[str, str]:
    """The callback's parameters of a real consent (the callback itself not delivered)."""
    url = service.start(handle, "member", "binding")
    caught: dict[str, str] = {}
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)

    def catch(request: Any) -> None:
        if "/oauth/callback" in request.url:
            caught.update(parse_qsl(urlsplit(request.url).query))

    page.on("request", catch)
    page.goto(url)
    sign_in_at_the_pds(page, password)
    for _ in range(300):  # the PDS's pages forbid evaluated scripts: poll from here
        if caught:
            break
        page.wait_for_timeout(100)
    context.close()
    assert caught.get("code") and caught.get("state")
    return caught


def _pds(service: OAuthService, session: OAuthSession, changes: list[OAuthSession]) -> Pds:
    return Pds(service.client().sdk_client(session, changes.append), session.did, session.handle)


@pytest.mark.sandbox
def test_a_state_is_used_once_and_the_issuer_must_match(
    blind_browser: Any, served: tuple[str, OAuthService], sandbox: TestSandbox
) -> None:
    _base, service = served
    person = sandbox.new_account("oastate")
    params = _grant(blind_browser, service, person.handle, person.password)

    # An answer claiming another issuer is refused, and the state is spent with it: the
    # genuine answer cannot be replayed after an attacker's attempt.
    with pytest.raises(OAuthError) as wrong:
        service.finish({**params, "iss": "https://pds.attacker.example"})
    assert wrong.value.reason == "issuer"
    with pytest.raises(OAuthError) as spent:
        service.finish(params)
    assert spent.value.reason == "state"

    # A fresh grant finishes once; the same answer a second time is refused.
    params = _grant(blind_browser, service, person.handle, person.password)
    finished = service.finish(params)
    assert finished.session.did == person.did
    with pytest.raises(OAuthError) as replayed:
        service.finish(params)
    assert replayed.value.reason == "state"


@pytest.mark.sandbox
def test_nonce_change_expiry_tampering_and_revocation(
    blind_browser: Any, served: tuple[str, OAuthService], sandbox: TestSandbox
) -> None:
    _base, service = served
    person, target = sandbox.new_account("oatok"), sandbox.new_account("oatarget")
    session = service.finish(_grant(blind_browser, service, person.handle, person.password)).session
    changes: list[OAuthSession] = []

    # The PDS's DPoP nonce changed since it was learned: one retry with the new one.
    session.pds_nonce = "a-nonce-the-server-no-longer-takes"
    pds = _pds(service, session, changes)
    results, _headers = pds.apply_writes([follow_write(target.did, "3kaaaaaaaaaa2")])
    assert results[0]["uri"].endswith("/3kaaaaaaaaaa2")
    assert session.pds_nonce != "a-nonce-the-server-no-longer-takes"

    # The grant is narrow: a record kind the member's scopes do not name is refused.
    profile = {
        "$type": "com.atproto.repo.applyWrites#create",
        "collection": "app.bsky.actor.profile",
        "rkey": "self",
        "value": {"$type": "app.bsky.actor.profile", "displayName": "Not ours to change"},
    }
    with pytest.raises(BlueskyError, match="was not granted this kind of write"):
        pds.apply_writes([profile])
    assert pds.get_record("app.bsky.actor.profile", "self") is None

    # The access token expired: it is refreshed (at the authorisation server, whose nonce
    # also changed) before the request, and the rotated tokens are handed back to store.
    old_refresh = session.refresh_token
    session.expires_at = 0
    session.server_nonce = "a-stale-server-nonce"
    pds.apply_writes([follow_write(target.did, "3kaaaaaaaaab2")])
    assert changes and changes[-1].refresh_token != old_refresh
    assert session.expires_at > 0
    pds.close()

    # The PDS refuses the access token (as it does once it expired): one refresh, then the
    # write goes through.
    session.access_token = session.access_token[:-4] + "AAAA"
    refused_once = _pds(service, session, changes)
    refused_once.apply_writes([follow_write(target.did, "3kaaaaaaaaaf2")])
    refused_once.close()
    assert not session.access_token.endswith("AAAA")

    # A tampered access token is refused by the PDS; with its refresh token tampered as well
    # the writer sees the one "expired or was revoked" error (sign in again), no traceback.
    forged = OAuthSession.from_json(session.to_json())
    forged.access_token = forged.access_token[:-4] + "AAAA"
    forged.refresh_token = "ref-" + "0" * 64
    forged_pds = _pds(service, forged, [])
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        forged_pds.apply_writes([follow_write(target.did, "3kaaaaaaaaac2")])
    forged_pds.close()

    # A token bound to another DPoP key is refused too.
    from departures.bluesky.oauth import new_client_key

    stolen = OAuthSession.from_json(session.to_json())
    stolen.dpop_key = new_client_key().as_dict(private=True)
    stolen.refresh_token = None
    stolen_pds = _pds(service, stolen, [])
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        stolen_pds.apply_writes([follow_write(target.did, "3kaaaaaaaaad2")])
    stolen_pds.close()

    # Revoked (sign-out): neither the access token nor a refresh works any more.
    client = service.client()
    assert client.revoke(session)
    revoked_pds = _pds(service, session, [])
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        revoked_pds.apply_writes([follow_write(target.did, "3kaaaaaaaaae2")])
    revoked_pds.close()
    with pytest.raises(OAuthError) as refused:
        client.refresh(session)
    assert refused.value.reason == "revoked"
    client.http.close()


@pytest.mark.sandbox
def test_a_replayed_callback_gets_one_line_in_the_browser(
    tls_browser: Any, served: tuple[str, OAuthService], sandbox: TestSandbox
) -> None:
    base, service = served
    person = sandbox.new_account("oareplay")
    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oauth/callback" in r.url else None)
    page.goto(f"{base}/directory")
    page.get_by_label("Your Bluesky handle").fill(person.handle)
    page.get_by_role("button", name="Continue with Bluesky").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, person.password)
    page.wait_for_selector("#signed-in-handle")
    assert callbacks
    page.goto(callbacks[0])
    assert "already used or has expired" in page.inner_text("main")
    assert "Traceback" not in page.content()

    # Still signed in; "sign out everywhere" revokes the kept grant at the PDS.
    with service.engine.connect() as conn:
        secret = conn.execute(
            select(directory_sessions.c.secret).where(directory_sessions.c.did == person.did)
        ).scalar_one()
    kept, _client_id = load_secret(Vault(b"test-key").decrypt(secret))
    page.goto(f"{base}/directory")
    page.locator("#sign-out-everywhere").click()
    page.wait_for_selector("#oauth-directory")
    pds = _pds(service, kept, [])
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        pds.apply_writes([follow_write(person.did, "3kaaaaaaaaag2")])
    pds.close()
    context.close()
