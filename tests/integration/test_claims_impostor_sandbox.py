"""The impostor sequence of the identity issue, replayed against the local sandbox network.

Signed in as alice (a real Bluesky sign-in on the sandbox PDS), an impostor claims XSquat's X
id by typing it and another person's X id with a home-made ``account.js``. Before proof
levels, the lookup paired both with alice, the real owner was locked out, and a member that
asked the coalition to "follow them for us" would have followed alice. Now: the lookup says
how each claim is known; the real owner registers too (not locked out), proves the account
with Sign in with X (through a local stand-in of X's endpoints) and wins; the member's
account follows the owner and never alice; the claim alice copied from someone else's
archive is disputed by its owner and waits in the coordinators' review queue (page and CLI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from atproto import Client
from click.testing import CliRunner
from sqlalchemy import Engine

from departures.cli import cli
from departures.coalition.departure import DepartureDay
from departures.coalition.notify import Notifier
from departures.coalition.reconnect import Reconnect
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.coalition.web import CoalitionApp
from departures.netguard import ALLOW_HOSTS_ENV, NetGuard
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.coalition import join, open_campaign
from helpers.uploads import account_js, following_js
from helpers.web import InProcessBrowser, coalition_app, on_sandbox
from helpers.x_standin import CLIENT_ID, CLIENT_SECRET, XStandIn, x_standin

pytestmark = pytest.mark.sandbox

SECRET = b"a test secret that is long enough"
BASE = "http://testserver"
XSQUAT = "783214"  # the real owner's X id
BOB_X = "55501"  # another real person's X id


@pytest.fixture
def x(monkeypatch: pytest.MonkeyPatch) -> Iterator[XStandIn]:
    with x_standin(f"{BASE}/directory/x/callback") as standin:
        # X's stand-in is on loopback: allowed as a development host, like the sandbox.
        monkeypatch.setenv(ALLOW_HOSTS_ENV, standin.host)
        yield standin


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)  # on the real clock: web sessions and the campaign agree


def app_for(store: CoalitionStore, sandbox: TestSandbox, x: XStandIn) -> CoalitionApp:
    return coalition_app(
        store,
        base_url=BASE,
        forms_per_minute=1000,
        max_unverified_claims=2,
        x_client_id=CLIENT_ID,
        x_client_secret=CLIENT_SECRET,
        x_authorize_url=x.authorize_url,
        x_api_url=x.api_url,
        **on_sandbox(sandbox.pds_url),
    )


def follows_of(sandbox: TestSandbox, did: str) -> set[str]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": "app.bsky.graph.follow", "limit": 100}
        )
        return {r.value.subject for r in page.records}
    finally:
        client.request.close()


def register(browser: InProcessBrowser, **form: object) -> httpx.Response:
    files = form.pop("files", None) or {"archive": ("", b"")}
    data = {"csrf": browser.csrf("/directory"), "consent": "yes", **form}
    return browser.post("/directory/register", data=data, files=files)


def lookup(browser: InProcessBrowser, *x_ids: str) -> set[tuple[str, str, str, bool]]:
    answer = browser.get(f"/directory/lookup?x_ids={','.join(x_ids)}").json()
    return {(e["x_id"], e["did"], e["level"], e["disputed"]) for e in answer["entries"]}


def shown_level(page: httpx.Response) -> str:
    """The proof level the page shows for what was just registered."""
    found = re.search(r'id="registered-level">[^<]*<span class="level level-(\w+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in_with_x(browser: InProcessBrowser) -> httpx.Response:
    """Press "Sign in with X": the service sends the visitor to X, X sends them back."""
    start = browser.get("/directory/x/start", follow_redirects=False)
    assert start.status_code == 303, start.text
    at_x = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_x.status_code == 302
    back = urlsplit(at_x.headers["location"])
    return browser.get(f"{back.path}?{back.query}")


def test_the_impostor_loses_and_is_never_followed(
    sandbox: TestSandbox, store: CoalitionStore, x: XStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    alice, owner, bob, member_account = (
        sandbox.new_account(p) for p in ("alice", "xsquat", "bobx", "member")
    )
    # A member organisation that followed both X ids and asked to be followed for.
    coordinator, campaign = open_campaign(store, start=datetime.now(UTC))
    member, _key = join(
        store,
        campaign.slug,
        coordinator,
        "Oxfam",
        email="oxfam@example.org",
        bluesky_handle=member_account.handle,
        bluesky_did=member_account.did,
    )
    DepartureDay(store, Vault(SECRET), sandbox.pds_url).prepare(
        member, "", opted_in=False, app_password=member_account.app_password
    )
    reconnect = Reconnect(store, secrets=Vault(SECRET), guard=NetGuard.for_service(sandbox.pds_url))
    reconnect.set_auto_follow(member, True)
    reconnect.save_followings(member, [XSQUAT, BOB_X])
    notifier = Notifier(store, base_url=BASE, reconnect=reconnect)

    app = app_for(store, sandbox, x)
    with (
        InProcessBrowser(app) as impostor,
        InProcessBrowser(app) as real_owner,
        InProcessBrowser(app) as bob_browser,
    ):
        # 1. alice claims XSquat's id by typing it, and Bob's with a home-made account.js.
        assert impostor.sign_in_to_directory(alice.handle, alice.app_password).status_code == 200
        typed = register(impostor, x_handle="XSquat", x_id=XSQUAT)
        assert typed.status_code == 200 and shown_level(typed) == "declared"
        forged = register(impostor, files={"archive": ("account.js", account_js(BOB_X, "bob_x"))})
        assert forged.status_code == 200 and shown_level(forged) == "archive"
        # A third unproven claim is over this coalition's limit: one clear line, nothing kept.
        third = register(impostor, x_handle="someone", x_id="999")
        assert third.status_code == 400
        assert "already claims 2 X accounts without proof" in third.text
        assert lookup(impostor, "999") == set()
        # 2. The lookup says how each pairing is known.
        assert lookup(impostor, XSQUAT, BOB_X) == {
            (XSQUAT, alice.did, "declared", False),
            (BOB_X, alice.did, "archive", False),
        }

        # 3. A scheduler pass proposes alice to the member, but follows nobody.
        assert notifier.tick().errors == []
        assert {p.did for p in reconnect.proposals(member)} == {alice.did}
        assert follows_of(sandbox, member_account.did) == set()

        # 4. The real owner is not locked out: their claim is kept, the X id is disputed.
        assert real_owner.sign_in_to_directory(owner.handle, owner.app_password).status_code == 200
        theirs = register(real_owner, x_handle="XSquat", x_id=XSQUAT)
        assert theirs.status_code == 200
        assert lookup(real_owner, XSQUAT) == {
            (XSQUAT, alice.did, "declared", True),
            (XSQUAT, owner.did, "declared", True),
        }
        # 5. They prove it with Sign in with X: their claim is verified and wins.
        x.user = (XSQUAT, "XSquat")
        proven = sign_in_with_x(real_owner)
        assert proven.status_code == 200
        assert 'id="entries"' in proven.text and "level level-verified" in proven.text
        assert lookup(real_owner, XSQUAT) == {(XSQUAT, owner.did, "verified", False)}

        # 6. The next pass proposes and follows the owner; alice is never followed.
        assert notifier.tick().errors == []
        assert notifier.tick().errors == []
        assert follows_of(sandbox, member_account.did) == {owner.did}
        states = {p.did: p.state for p in reconnect.proposals(member)}
        assert states == {owner.did: "followed", alice.did: "proposed"}  # Bob's id, by hand

        # 7. Bob uploads his real archive: same level as alice's forgery, a dispute.
        assert bob_browser.sign_in_to_directory(bob.handle, bob.app_password).status_code == 200
        bobs = register(
            bob_browser,
            files={
                "archive": ("account.js", account_js(BOB_X, "bob_x")),
                "following": ("following.js", following_js(XSQUAT, BOB_X)),
            },
        )
        assert bobs.status_code == 200
        # Bob followed both on X: the page lists both with their proof, and its Follow all
        # takes only the proven owner, never the impostor's unproven claim.
        found = bobs.text[bobs.text.index('id="found"') :]
        assert owner.handle in found and alice.handle in found
        follow_all = re.search(r'name="dids" value="([^"]*)"', bobs.text)
        assert follow_all is not None and follow_all.group(1) == owner.did
        assert 'id="unproven-note"' in bobs.text
        assert lookup(bob_browser, BOB_X) == {
            (BOB_X, alice.did, "archive", True),
            (BOB_X, bob.did, "archive", True),
        }
        assert notifier.tick().errors == []
        assert follows_of(sandbox, member_account.did) == {owner.did}

    # 8. The dispute is in the coordinators' queue: on their page and from the shell.
    token = store.create_coordinator("Directory office")[1]
    with InProcessBrowser(app) as office:
        signed = office.submit("/login", {"token": token}, "/login")
        assert signed.status_code == 200
        queue = office.get("/coordinator/claims")
        assert queue.status_code == 200
        assert f'id="dispute-{BOB_X}"' in queue.text and alice.did in queue.text
        assert f'id="dispute-{XSQUAT}"' not in queue.text
    db = store.engine.url.render_as_string(hide_password=False)
    listed = CliRunner().invoke(cli, ["coalition", "claims", "disputes", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert f"X id {BOB_X}: 2 claims at archive" in listed.output
    assert alice.did in listed.output and bob.did in listed.output
    assert follows_of(sandbox, member_account.did) == {owner.did}
