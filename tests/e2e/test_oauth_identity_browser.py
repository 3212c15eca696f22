"""Identity through AT Protocol OAuth in headless Chromium on the sandbox PDS's own pages:

* a listed account appeals from the moderation list's public page, signing in with Bluesky
  through OAuth and coming back to the appeal form; an uninvolved member upholds it and the
  entry leaves the list (in the store and on the PDS);
* the verified-domain badge sequence: a member whose website's domain is its handle shows no
  "✓ verified domain" on the board before it connects (nor after connecting with an app
  password, the fallback), shows it once connected through OAuth on its member page
  (``board.json`` says how it was earned), and loses it when it disconnects with the member
  page's button, whose grant no longer refreshes at the PDS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client
from sqlalchemy import Engine

from departures.bluesky.oauth import OAuthError
from departures.bluesky.records import LISTITEM
from departures.coalition import moderation
from departures.coalition.departure import DepartureDay
from departures.coalition.directory import Directory
from departures.coalition.listsync import CoalitionLists
from departures.coalition.oauth import (
    APP_PASSWORDS_ENV,
    OAuthService,
    load_secret,
    revoke_visitor_sessions,
)
from departures.coalition.store import CoalitionStore, accounts
from departures.coalition.store import claims as claim_rows
from departures.coalition.store import moderation as rows
from departures.coalition.store import oauth as oauth_rows
from departures.coalition.store.campaigns import utc_now
from departures.coalition.store.moderation import Actor
from departures.coalition.vault import Vault, campaign_owner, organisation_owner
from departures.coalition.web.language import LANGUAGE_COOKIE
from departures.i18n import translations
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.coalition import join, open_campaign
from helpers.oauth import serve_tls, sign_in_at_the_pds, tls_browser
from helpers.uploads import following_js

__all__ = ["tls_browser"]  # the fixture, imported for this module's tests

SECRET = b"an identity browser secret, long enough"
MARK = "✓ verified domain"


@dataclass
class Served:
    """The coalition over HTTPS with OAuth and the departure day on the sandbox."""

    base: str
    store: CoalitionStore
    oauth: OAuthService
    departure: DepartureDay


@pytest.fixture
def served(
    engine: Engine, sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    store = CoalitionStore(engine)
    vault = Vault(SECRET)  # the app's secret key: one vault for every session
    departure = DepartureDay(store, vault, sandbox.pds_url)
    made: list[OAuthService] = []

    def make(base: str) -> Any:
        made.append(OAuthService(engine, vault, base, service=sandbox.pds_url, plc=sandbox.plc_url))
        return web.coalition_app(
            store,
            base_url=base,
            secret_key=SECRET,
            oauth=made[0],
            departure=departure,
            forms_per_minute=1000,
            public_cache_seconds=0,  # the board re-checks its version on every reading
            **web.on_sandbox(sandbox.pds_url),
        )

    with serve_tls(make, tmp_path / "tls") as base:
        yield Served(base, store, made[0], departure)


def new_page(browser: Any) -> Any:
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
    return page


def list_items(sandbox: TestSandbox, did: str, list_uri: str) -> list[str]:
    """The subjects of the list's items in its owner's repository."""
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        found = client.com.atproto.repo.list_records(
            {"repo": did, "collection": LISTITEM, "limit": 100}
        )
    finally:
        client.request.close()
    return [r.value.subject for r in found.records if r.value.list == list_uri]


@pytest.mark.sandbox
def test_a_listed_account_appeals_through_oauth_and_an_uninvolved_member_upholds(
    tls_browser: Any, served: Served, sandbox: TestSandbox
) -> None:
    store = served.store
    office, hostile = sandbox.new_account("idoffice"), sandbox.new_account("idhostile")
    coordinator, campaign = open_campaign(
        store, start=utc_now(), title="Leave X together", threshold=3
    )
    (proposer, _k1), (approver, _k2), (judge, _k3) = (
        join(store, campaign.slug, coordinator, name) for name in ("NGO one", "NGO two", "NGO 3")
    )
    lists = CoalitionLists(store, served.departure.secrets, sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    lists.sync(campaign, [])
    modlist = lists.modlist_uri(campaign)
    entry = rows.propose(
        store.engine,
        campaign.id,
        Actor.member(proposer.id),
        did=hostile.did,
        handle=hostile.handle,
        reasons="Insults our staff under every post.",
        evidence=[f"https://bsky.app/profile/{hostile.handle}/post/3kidentity222"],
        now=store.clock(),
    )
    moderation.decide(
        store, lists, campaign, entry.id, Actor.member(approver.id), approve=True, reason="Abuse."
    )
    assert list_items(sandbox, office.did, modlist) == [hostile.did]

    public = f"{served.base}/campaigns/{campaign.slug}/moderation"
    page = new_page(tls_browser)
    page.goto(public)
    assert hostile.handle in page.locator(".listed").inner_text()
    assert page.locator("#password").count() == 0  # OAuth only: no app password asked for
    page.get_by_label("Your Bluesky handle").fill(hostile.handle)
    page.get_by_role("button", name="Continue with Bluesky").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, hostile.password)
    page.wait_for_selector("#appeal-form")
    # Back on the list's own page, at the appeal form (the hidden `next`), not the directory.
    assert page.url == f"{public}#appeal"
    assert hostile.handle in page.locator("#appeal-form").inner_text()
    page.get_by_label("Why should your account be removed?").fill("It was a joke, read it all.")
    page.get_by_role("button", name="Appeal", exact=True).click()
    page.wait_for_selector("#appeal-filed")
    assert page.locator("#appeal-open").count() == 1
    page.context.close()

    appeal = rows.open_appeal_of(store.engine, entry.id)
    assert appeal is not None and appeal.statement == "It was a joke, read it all."
    moderation.decide_appeal(
        store,
        lists,
        campaign,
        appeal.id,
        Actor.member(judge.id),
        uphold=True,
        reason="Read in context, it was banter.",
    )
    assert rows.to_list(store.engine, campaign.id) == []
    assert list_items(sandbox, office.did, modlist) == []

    page = new_page(tls_browser)
    page.goto(public)
    page.wait_for_selector("#modlist-empty")
    audit = page.locator("#modlist-audit").inner_text()
    assert "appealed" in audit and "upheld the appeal" in audit
    assert "It was a joke, read it all." in audit or "Read in context, it was banter." in audit
    page.context.close()


def refreshes(sandbox: TestSandbox, refresh_jwt: str) -> bool:
    """Whether the PDS still renews an app-password session with ``refresh_jwt``."""
    answer = httpx.post(
        f"{sandbox.pds_url}/xrpc/com.atproto.server.refreshSession",
        headers={"Authorization": f"Bearer {refresh_jwt}"},
        timeout=10,
    )
    return answer.status_code == 200


def board_mark(served: Served, slug: str, page: Any) -> tuple[bool, Any]:
    """(whether the board page shows the mark, ``verified_domain_how`` of ``board.json``)."""
    page.goto(f"{served.base}/campaigns/{slug}")
    shown = MARK in page.inner_text("main")
    body = page.goto(f"{served.base}/campaigns/{slug}/board.json").text()
    (entry,) = json.loads(body)["organisations"]
    assert entry["verified_domain"] is (entry["verified_domain_how"] is not None)
    return shown, entry["verified_domain_how"]


@pytest.mark.sandbox
def test_the_verified_domain_badge_comes_with_oauth_and_goes_with_disconnect(
    tls_browser: Any, served: Served, sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = served.store
    account = sandbox.new_account("idbadge")
    assert account.handle.endswith(".test")
    coordinator, campaign = open_campaign(store, start=utc_now())
    organisation, key = join(
        store,
        campaign.slug,
        coordinator,
        "Domain NGO",
        bluesky_handle=account.handle,
        bluesky_did=account.did,
        website=f"https://{account.handle}",
        public_name=True,
    )
    store.pledge(organisation.id, 0)
    reader = new_page(tls_browser)
    assert board_mark(served, campaign.slug, reader) == (False, None)

    # Connected with an app password (allowed here as the fallback): still no mark.
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")
    member = new_page(tls_browser)
    member.goto(f"{served.base}/member/sign-in")
    member.get_by_label("Member key").fill(key)
    member.get_by_role("button", name="Sign in", exact=True).click()
    member.wait_for_selector("#welcome")
    member.locator("#app_password").fill(account.app_password)
    member.get_by_role("button", name="Save the welcome post").click()
    member.wait_for_selector("#welcome-account")
    assert board_mark(served, campaign.slug, reader) == (False, None)
    monkeypatch.delenv(APP_PASSWORDS_ENV)
    by_app_password = served.departure.sessions(organisation).get()
    assert by_app_password is not None
    assert httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.server.getSession",
        headers={"Authorization": f"Bearer {by_app_password.access_jwt}"},
        timeout=10,
    ).is_success  # live (checked without renewing it)

    # Connected through OAuth on the member page: the mark, earned by that connection.
    member.goto(f"{served.base}/member")
    assert member.locator("#app_password").count() == 0
    member.locator("#oauth-member button").click()
    member.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(member, account.password)
    member.wait_for_selector("#welcome-account")
    shown, how = board_mark(served, campaign.slug, reader)
    assert shown
    assert how["earned_by"] == "bluesky_oauth_connection"
    assert how["handle"] == account.handle and how["website_domain"] == account.handle
    # The app-password session the OAuth connection replaced is ended at the PDS.
    assert not refreshes(sandbox, by_app_password.refresh_jwt)
    owner = organisation_owner(organisation.id)
    kept, _client_id = load_secret(
        Vault(SECRET).decrypt(accounts.account_secret(store.engine, owner))
    )

    member.goto(f"{served.base}/member/departure")  # the departure page offers it too
    assert member.locator("#disconnect-account").count() == 1
    member.goto(f"{served.base}/member")
    # The member page's button disconnects: it says what it does, revokes the grant at the
    # PDS (it no longer refreshes), and the mark goes.
    explained = member.locator("#disconnect-explained").inner_text()
    assert "cannot be published on the departure day until you connect" in explained
    member.get_by_role("button", name=f"Disconnect @{account.handle}").click()
    member.wait_for_selector("#welcome")
    assert member.locator("#welcome-account").count() == 0
    assert member.locator("#disconnect-account").count() == 0
    assert not accounts.account_secret(store.engine, owner)
    assert board_mark(served, campaign.slug, reader) == (False, None)
    client = served.oauth.client()
    try:
        with pytest.raises(OAuthError) as refused:
            client.refresh(kept)
    finally:
        client.http.close()
    assert refused.value.reason == "revoked"

    # Connected through OAuth again, then with an app password instead: the OAuth grant it
    # replaces is revoked at the PDS, and the mark goes with it.
    member.locator("#oauth-member button").click()
    member.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(member, account.password)
    member.wait_for_selector("#welcome-account")
    assert board_mark(served, campaign.slug, reader)[0]
    again, _client_id = load_secret(
        Vault(SECRET).decrypt(accounts.account_secret(store.engine, owner))
    )
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")
    member.goto(f"{served.base}/member")
    member.locator("#app_password").fill(account.app_password)
    member.get_by_role("button", name="Save the welcome post").click()
    member.wait_for_selector("#welcome-account")
    assert board_mark(served, campaign.slug, reader) == (False, None)
    client = served.oauth.client()
    try:
        with pytest.raises(OAuthError):
            client.refresh(again)
    finally:
        client.http.close()
    member.context.close()
    reader.context.close()


@pytest.mark.sandbox
def test_a_revoked_oauth_sign_in_says_in_dutch_to_sign_in_with_bluesky_again(
    tls_browser: Any, served: Served, sandbox: TestSandbox, tmp_path: Path
) -> None:
    """Follow all after the visitor's grant was revoked at its server: the one line says, in
    the reader's language, to sign in with Bluesky again (there is no app password to type)."""
    organisation, person = sandbox.new_account("idorg"), sandbox.new_account("idfan")
    Directory(served.store.engine).register(
        "910", "org_on_x", organisation.did, organisation.handle, source="coordinator"
    )
    following = tmp_path / "following.js"
    following.write_bytes(following_js("910"))
    context = tls_browser.new_context(ignore_https_errors=True)
    context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "nl", "url": served.base}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{served.base}/directory")
    assert page.locator("html").get_attribute("lang") == "nl"
    page.locator("#oauth-handle-directory").fill(person.handle)
    page.locator("#oauth-directory button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, person.password)
    page.wait_for_selector("#signed-in-handle")
    page.locator("#following").set_input_files(str(following))
    page.locator("#x_handle").fill("id_fan_x")
    page.locator("#x_id").fill("31340")
    page.locator("#consent").check()
    page.locator("#register").click()
    page.wait_for_selector("#follow-all")

    # The grant is revoked at the visitor's server (as its settings page would).
    assert revoke_visitor_sessions(
        served.store.engine, served.oauth.vault, person.did, served.oauth.guard
    )
    page.locator("#follow-all").click()
    page.wait_for_load_state()
    text = page.inner_text("main")
    nl = translations("nl").gettext
    assert nl("Sign in with Bluesky again, then press Follow all again") in text
    assert nl("your Bluesky sign-in on this page has expired (it lasts 30 minutes)")[1:] in text
    assert "app-wachtwoord" not in text and "Traceback" not in page.content()
    context.close()


@pytest.mark.sandbox
def test_connecting_another_account_than_the_one_named_is_refused(
    tls_browser: Any, served: Served, sandbox: TestSandbox
) -> None:
    store = served.store
    named, other = sandbox.new_account("idnamed"), sandbox.new_account("idother")
    coordinator, campaign = open_campaign(store, start=utc_now())
    organisation, key = join(
        store, campaign.slug, coordinator, "Named NGO",
        bluesky_handle=named.handle, bluesky_did=named.did,
    )  # fmt: skip
    page = new_page(tls_browser)
    page.goto(f"{served.base}/member/sign-in")
    page.get_by_label("Member key").fill(key)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#welcome")
    page.locator("#oauth-handle-member").fill(other.handle)
    page.locator("#oauth-member button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, other.password)
    page.wait_for_url(f"{served.base}/oauth/callback**")
    text = page.inner_text("main")
    assert f"signed in as @{other.handle}, not as your organisation's @{named.handle}" in text
    assert "Traceback" not in page.content()
    owner = organisation_owner(organisation.id)
    assert not accounts.account_secret(store.engine, owner)
    assert claim_rows.member_connection(store.engine, organisation.id) is None
    page.context.close()


@pytest.mark.sandbox
def test_the_coordinator_disconnects_the_coalitions_own_account(
    tls_browser: Any, served: Served, sandbox: TestSandbox
) -> None:
    store = served.store
    account = sandbox.new_account("idcoal")
    coordinator, token = store.create_coordinator("Coalition office")
    campaign = store.create_campaign(
        coordinator,
        title="Leave X",
        threshold=1,
        deadline=utc_now() + timedelta(days=7),
        departure_at=utc_now() + timedelta(days=14),
    )
    page = new_page(tls_browser)
    page.goto(f"{served.base}/login")
    page.get_by_label("Coordinator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{served.base}/coordinator/campaigns/{campaign.slug}")
    assert page.locator("#disconnect-coalition").count() == 0  # nothing connected yet
    page.locator("#oauth-handle-coalition").fill(account.handle)
    page.locator("#oauth-coalition button").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, account.password)
    page.wait_for_selector("#coalition-account-handle")
    owner = campaign_owner(campaign.id)
    kept, _client_id = load_secret(
        Vault(SECRET).decrypt(accounts.account_secret(store.engine, owner))
    )
    explained = page.locator("#disconnect-coalition-explained").inner_text()
    assert "not written until you connect an account again" in explained
    page.get_by_role("button", name=f"Disconnect @{account.handle}").click()
    page.wait_for_selector("#coalition-account")
    assert page.locator("#coalition-account-handle").count() == 0
    assert not accounts.account_secret(store.engine, owner)
    assert oauth_rows.connected_through_oauth(store.engine, owner) is None
    client = served.oauth.client()
    try:
        with pytest.raises(OAuthError) as refused:
            client.refresh(kept)
    finally:
        client.http.close()
    assert refused.value.reason == "revoked"
    page.context.close()
