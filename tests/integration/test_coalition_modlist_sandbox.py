"""The moderation list with due process, end to end on the local Bluesky network and the
coalition's pages: a member proposes a hostile account, its own approval is refused, a second
member approves and the list on the PDS gains the account once; a third member blocks through
the list (the AppView reports the account blocked for it) and another mutes it; the hostile
account signs in with Bluesky and appeals; a fourth member upholds the appeal, the list loses
the entry, and the public audit log shows every step."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from atproto import Client

from departures.bluesky.records import LISTITEM
from departures.coalition import moderation
from departures.coalition.departure import DepartureDay
from departures.coalition.listsync import CoalitionLists
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from departures.coalition.vault import Vault
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.coalition import join, open_campaign
from helpers.waiting import poll
from helpers.web import InProcessBrowser, coalition_app, on_sandbox

pytestmark = pytest.mark.sandbox

SECRET = b"a modlist test secret, long enough"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def items(sandbox: TestSandbox, did: str, list_uri: str) -> list[str]:
    """The subjects of the list's items in the owner's repository (one per record)."""
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": LISTITEM, "limit": 100}
        )
    finally:
        client.request.close()
    return [r.value.subject for r in page.records if r.value.list == list_uri]


def as_viewer(sandbox: TestSandbox, account: Account, nsid: str, **params: str) -> dict[str, Any]:
    """An AppView query with ``account`` as the viewer (through its PDS's proxy)."""
    response = httpx.get(
        f"{sandbox.pds_url}/xrpc/{nsid}",
        params=params,
        headers={"Authorization": f"Bearer {account.access_jwt}"},
        timeout=10,
    )
    if response.status_code != 200:
        return {}
    found: dict[str, Any] = response.json()
    return found


def eventually(check: Callable[[], bool], what: str, seconds: float = 30.0) -> None:
    if not poll(check, seconds):
        raise AssertionError(f"the AppView never showed {what}")


def member_browser(app: Any, key: str) -> InProcessBrowser:
    browser = InProcessBrowser(app)
    signed = browser.submit("/member/sign-in", {"key": key}, "/member/sign-in")
    assert signed.status_code == 200, signed.text
    return browser


def proposal_id(html: str) -> int:
    found = re.search(r'id="proposal-(\d+)"', html)
    assert found, html
    return int(found.group(1))


def test_propose_approve_block_appeal_uphold_on_the_sandbox(
    sandbox: TestSandbox, store: CoalitionStore
) -> None:
    office = sandbox.new_account("office")
    hostile = sandbox.new_account("hostile")
    accounts = [sandbox.new_account(p) for p in ("alpha", "bravo", "charlie", "delta")]
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=4)
    members: list[tuple[Organisation, str]] = []
    for account in accounts:
        members.append(
            join(
                store,
                campaign.slug,
                coordinator,
                f"NGO {account.handle}",
                bluesky_handle=account.handle,
                bluesky_did=account.did,
            )
        )
    secrets = Vault(SECRET)
    lists = CoalitionLists(store, secrets, sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    lists.sync(campaign, [])
    modlist = lists.modlist_uri(campaign)
    assert modlist
    day = DepartureDay(store, secrets, sandbox.pds_url)
    app = coalition_app(
        store,
        secret_key=SECRET,
        departure=day,
        forms_per_minute=1000,
        **on_sandbox(sandbox.pds_url),
    )
    (alpha, alpha_key), (bravo, bravo_key), (charlie, charlie_key), (delta, delta_key) = members
    public = f"/campaigns/{campaign.slug}/moderation"
    post = f"https://bsky.app/profile/{hostile.handle}/post/3kabcdefghij2"

    with member_browser(app, alpha_key) as first:
        proposed = first.submit(
            "/member/modlist/propose",
            {"account": hostile.handle, "reasons": "Insults our staff.", "evidence": post},
            "/member",
        )
        assert proposed.status_code == 200, proposed.text
        number = proposal_id(proposed.text)
        # Its own approval is refused, with the reason why.
        own = first.submit(
            f"/member/modlist/{number}/decide", {"decision": "approve", "reason": ""}, "/member"
        )
        assert own.status_code == 403
        assert "nobody approves or rejects their own proposal" in own.text.lower()
    assert items(sandbox, office.did, modlist) == []

    with member_browser(app, bravo_key) as second:
        approved = second.submit(
            f"/member/modlist/{number}/decide",
            {"decision": "approve", "reason": "The posts speak for themselves."},
            "/member",
        )
        assert approved.status_code == 200, approved.text
        assert 'id="listed-' in approved.text
        # The second member mutes the list's accounts with its own session.
        day.prepare(bravo, "", opted_in=False, app_password=accounts[1].app_password)
        muted = second.submit("/member/modlist/choice", {"choice": "mute"}, "/member")
        assert muted.status_code == 200, muted.text
    # Written once, at approval; a scheduler pass and a second push write nothing more.
    assert items(sandbox, office.did, modlist) == [hostile.did]
    lists.sync(store.campaign(campaign.slug), [])
    assert lists.write_entries(store.campaign(campaign.slug)) == 0
    assert items(sandbox, office.did, modlist) == [hostile.did]

    with member_browser(app, charlie_key) as third:
        day.prepare(charlie, "", opted_in=False, app_password=accounts[2].app_password)
        blocked = third.submit("/member/modlist/choice", {"choice": "block"}, "/member")
        assert blocked.status_code == 200, blocked.text
        assert 'id="choice-block" name="choice" value="block" checked' in blocked.text

    def blocked_for_charlie() -> bool:
        profile = as_viewer(sandbox, accounts[2], "app.bsky.actor.getProfile", actor=hostile.did)
        blocking = (profile.get("viewer") or {}).get("blockingByList") or {}
        return blocking.get("uri") == modlist

    eventually(blocked_for_charlie, "the hostile account blocked by the list for the member")

    def muted_for_bravo() -> bool:
        found = as_viewer(sandbox, accounts[1], "app.bsky.graph.getList", list=modlist)
        return bool(((found.get("list") or {}).get("viewer") or {}).get("muted"))

    eventually(muted_for_bravo, "the list muted for the second member")

    # The hostile account signs in with Bluesky on the public page and appeals.
    with InProcessBrowser(app) as appellant:
        page = appellant.get(public)
        assert hostile.handle in page.text and "Sign in with Bluesky" in page.text
        signed = appellant.submit(
            "/directory/sign-in",
            {
                "handle": hostile.handle,
                "password": hostile.app_password,
                "next": f"{public}#appeal",
            },
            public,
        )
        assert signed.status_code == 200 and 'id="appeal-form"' in signed.text, signed.text
        filed = appellant.submit(
            f"{public}/appeal", {"statement": "That was a joke between friends."}, public
        )
        assert filed.status_code == 200 and 'id="appeal-filed"' in filed.text, filed.text

    appeal = re.compile(r'action="/member/modlist/appeals/(\d+)/decide"')
    with member_browser(app, alpha_key) as proposer:
        page = proposer.get("/member")
        assert "You took part in this listing" in page.text and not appeal.search(page.text)
    with member_browser(app, delta_key) as fourth:
        page = fourth.get("/member")
        found = appeal.search(page.text)
        assert found, page.text
        upheld = fourth.submit(
            f"/member/modlist/appeals/{found.group(1)}/decide",
            {"decision": "uphold", "reason": "On reading the thread, it was banter."},
            "/member",
        )
        assert upheld.status_code == 200, upheld.text
        assert 'id="modlist-empty"' in upheld.text
    assert items(sandbox, office.did, modlist) == []
    eventually(lambda: not blocked_for_charlie(), "the hostile account unblocked")

    with InProcessBrowser(app) as reader:
        audit = reader.get(f"{public}.json").json()
        assert audit["entries"] == []
        steps = [(e["action"], e["who"]["kind"]) for e in reversed(audit["audit"])]
        assert steps == [
            ("proposed", "member"),
            ("approved", "member"),
            ("listed", "service"),
            ("appealed", "account"),
            ("appeal_upheld", "member"),
            ("unlisted", "service"),
        ]
        names = [e["who"]["name"] for e in reversed(audit["audit"])]
        assert names[0] == alpha.name and names[1] == bravo.name and names[4] == delta.name
        assert audit["audit"][-1]["reason"] == "Insults our staff."
        page = reader.get(public).text
        for text in ("proposed the account", "approved the proposal", "appealed",
                     "upheld the appeal", "removed the account from the list"):  # fmt: skip
            assert text in page
        assert post in page


def test_the_scheduler_pass_writes_approved_entries_and_deletes_removed_ones(
    sandbox: TestSandbox, store: CoalitionStore
) -> None:
    """Decisions taken where nothing writes to Bluesky (a store without the service) reach
    the list on the next pass, once."""
    office, hostile = sandbox.new_account("passoff"), sandbox.new_account("passhost")
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=2)
    first = join(store, campaign.slug, coordinator, "First NGO")[0]
    second = join(store, campaign.slug, coordinator, "Second NGO")[0]
    lists = CoalitionLists(store, Vault(SECRET), sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    notifier = Notifier(store, base_url="http://coalition.test", list_sync=lists)
    assert notifier.tick().errors == []
    modlist = lists.modlist_uri(campaign)
    made = rows.propose(
        store.engine, campaign.id, Actor.member(first.id), did=hostile.did, handle="",
        reasons="Threats.", evidence=["https://bsky.app/profile/x.test/post/3kabc"],
        now=store.clock(),
    )  # fmt: skip
    moderation.decide(
        store, None, campaign, made.id, Actor.member(second.id), approve=True, reason=""
    )
    assert items(sandbox, office.did, modlist) == []
    assert notifier.tick().errors == []
    assert notifier.tick().errors == []
    assert items(sandbox, office.did, modlist) == [hostile.did]
    _entry, appeal = moderation.appeal(store, campaign, hostile.did, "Mistaken identity.")
    moderation.decide_appeal(
        store, None, campaign, appeal.id, Actor.coordinator(coordinator), uphold=True,
        reason="Another account with the same name.",
    )  # fmt: skip
    assert notifier.tick().errors == []
    assert items(sandbox, office.did, modlist) == []
    actions = [e.action for e in rows.events(store.engine, campaign.id)]
    assert actions.count("listed") == 1 and actions.count("unlisted") == 1
