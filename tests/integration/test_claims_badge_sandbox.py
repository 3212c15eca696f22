"""The badge sequence of the identity issue, replayed against the local sandbox network.

Before: a member that joined with ``bluesky_handle=<some handle>`` and ``website=https://<that
handle>`` got "✓ verified domain" on the board — a handle that resolves proves it exists, not
that this member controls it. Now the mark appears only once the member connected that very
account through Bluesky's OAuth sign-in (recorded by ``record_member_connection(…, "oauth")``,
which the OAuth connection calls) and its handle is the website's domain; an app password is
not enough; a squatter naming the same handle never gets it; the board page and ``board.json``
say how the mark was earned; and the member page shows what to publish to use a domain handle,
with the DID filled in, and checks it live with a clear result.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from departures.coalition.departure import DepartureDay
from departures.coalition.store import CoalitionStore
from departures.coalition.store.claims import member_connection, record_member_connection
from departures.coalition.vault import Vault
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.coalition import open_campaign
from helpers.web import InProcessBrowser, coalition_app, on_sandbox

pytestmark = pytest.mark.sandbox

SECRET = b"a test secret that is long enough"


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)  # on the real clock: the campaign's deadline is from now


def join_by_invitation(
    browser: InProcessBrowser, store: CoalitionStore, slug: str, coordinator: int, **form: str
) -> None:
    token = store.create_invite(slug, coordinator)
    page = f"/invite/{token}"
    joined = browser.submit(page, {"public_name": "1", **form}, page)
    assert joined.status_code == 200, joined.text
    pledged = browser.submit("/member/pledge", {"kind": "unconditional"}, "/member")
    assert pledged.status_code == 200, pledged.text


def marks(browser: InProcessBrowser, slug: str) -> dict[str, object]:
    board = browser.get(f"/campaigns/{slug}/board.json").json()
    return {o["name"]: o["verified_domain_how"] for o in board["organisations"] if o["public"]}


def test_no_badge_until_the_account_is_connected_through_oauth(
    sandbox: TestSandbox, store: CoalitionStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    account = sandbox.new_account("oxfambe")
    coordinator, campaign = open_campaign(store, start=datetime.now(UTC))
    app = coalition_app(
        store,
        base_url="http://testserver",
        forms_per_minute=1000,
        public_cache_seconds=0,
        departure=DepartureDay(store, Vault(SECRET), sandbox.pds_url),
        **on_sandbox(sandbox.pds_url),
    )
    website = f"https://{account.handle}"
    with InProcessBrowser(app) as member, InProcessBrowser(app) as squatter:
        # 1. Joining with the handle and the website of the same domain: no badge.
        join_by_invitation(
            member,
            store,
            campaign.slug,
            coordinator,
            name="Oxfam Belgium",
            website=website,
            bluesky_handle=account.handle,
        )
        [organisation] = store.organisations(campaign.id)
        assert organisation.bluesky_did == account.did
        assert marks(member, campaign.slug) == {"Oxfam Belgium": None}
        assert "✓" not in member.get(f"/campaigns/{campaign.slug}").text

        # 2. The member page shows what to publish, with its DID filled in.
        page = member.get("/member").text
        assert f'id="domain-txt-name">_atproto.{account.handle}<' in page
        assert f'id="domain-txt-value">did={account.did}<' in page
        assert f"https://{account.handle}/.well-known/atproto-did" in page
        assert f'id="domain-well-known-body">{account.did}<' in page
        assert "Sign in with Bluesky" in page  # what is still missing for the mark

        # 3. Connected with an app password: still no badge (it proves nothing about who).
        connected = member.submit(
            "/member/welcome",
            {"welcome_text": "", "app_password": account.app_password},
            "/member",
        )
        assert connected.status_code == 200, connected.text
        recorded = member_connection(store.engine, organisation.id)
        assert recorded is not None and recorded.method == "app_password"
        assert recorded.did == account.did
        assert marks(member, campaign.slug) == {"Oxfam Belgium": None}

        # 4. A squatter joins naming the same handle and website: no badge for them, ever.
        join_by_invitation(
            squatter,
            store,
            campaign.slug,
            coordinator,
            name="Not Oxfam",
            website=website,
            bluesky_handle=account.handle,
        )
        squat = next(o for o in store.organisations(campaign.id) if o.name == "Not Oxfam")
        assert marks(member, campaign.slug) == {"Oxfam Belgium": None, "Not Oxfam": None}

        # 5. The member connects that very account through OAuth: the badge, and how.
        record_member_connection(
            store.engine, organisation.id, account.did, account.handle, "oauth"
        )
        how = marks(member, campaign.slug)
        assert how["Not Oxfam"] is None
        earned = how["Oxfam Belgium"]
        assert isinstance(earned, dict)
        assert earned["earned_by"] == "bluesky_oauth_connection"
        assert (earned["handle"], earned["website_domain"]) == (account.handle, account.handle)
        board_page = member.get(f"/campaigns/{campaign.slug}").text
        assert board_page.count('<span class="verified"') == 1
        assert 'id="verified-domain-legend"' in board_page
        assert f"Earned by connecting @{account.handle} through Bluesky sign-in" in board_page
        assert "The board shows “✓ verified domain”" in member.get("/member").text

        # An OAuth connection of another account (the squatter's own) earns nothing for them.
        other = sandbox.new_account("squatter")
        record_member_connection(store.engine, squat.id, other.did, other.handle, "oauth")
        assert marks(member, campaign.slug)["Not Oxfam"] is None

        # 6. The live check says clearly what it found (no DNS or HTTPS for .test names here).
        dns = member.submit("/member/domain/check", {"way": "dns"}, "/member")
        assert dns.status_code == 200
        assert "✗" in dns.text and f"_atproto.{account.handle}" in dns.text
        file = member.submit("/member/domain/check", {"way": "well-known"}, "/member")
        assert file.status_code == 200
        assert f"https://{account.handle}/.well-known/atproto-did could not be fetched" in file.text
        bad = member.submit("/member/domain/check", {"way": "ftp"}, "/member")
        assert bad.status_code == 400
