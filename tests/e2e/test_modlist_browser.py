"""The moderation list in a real headless Chromium against the local Bluesky network: members
propose and decide on their pages (a member's own approval refused), a member blocks through
the list and the AppView reports the hostile account blocked for it, the hostile account signs
in with Bluesky on the public page and appeals, a fourth member upholds the appeal, the list
loses the entry and the public audit log shows every step."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client

from departures.bluesky.records import LISTITEM
from departures.coalition.departure import DepartureDay
from departures.coalition.listsync import CoalitionLists
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.coalition import join, open_campaign
from helpers.waiting import poll

pytestmark = pytest.mark.sandbox

SECRET = b"a modlist browser secret, long enough"


def items(sandbox: TestSandbox, did: str, list_uri: str) -> list[str]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": LISTITEM, "limit": 100}
        )
    finally:
        client.request.close()
    return [r.value.subject for r in page.records if r.value.list == list_uri]


def blocked_by_list(sandbox: TestSandbox, viewer: Account, subject: str) -> str:
    """The list through which ``viewer`` blocks ``subject``, as the AppView says ("" if none)."""
    response = httpx.get(
        f"{sandbox.pds_url}/xrpc/app.bsky.actor.getProfile",
        params={"actor": subject},
        headers={"Authorization": f"Bearer {viewer.access_jwt}"},
        timeout=10,
    )
    if response.status_code != 200:
        return ""
    blocking = (response.json().get("viewer") or {}).get("blockingByList") or {}
    return str(blocking.get("uri") or "")


def eventually(check: Callable[[], bool], what: str) -> None:
    if not poll(check, 30.0):
        raise AssertionError(f"never: {what}")


def test_the_moderation_list_with_due_process_in_chromium(
    browser: Any,
    sandbox: TestSandbox,
    store: CoalitionStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    office, hostile = sandbox.new_account("broffice"), sandbox.new_account("brhostil")
    people = [sandbox.new_account(p) for p in ("brone", "brtwo", "brthree", "brfour")]
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=4)
    keys = []
    for account in people:
        organisation, key = join(
            store, campaign.slug, coordinator, f"NGO {account.handle}",
            bluesky_handle=account.handle, bluesky_did=account.did,
        )  # fmt: skip
        keys.append((organisation, key))
    secrets = Vault(SECRET)
    lists = CoalitionLists(store, secrets, sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    lists.sync(campaign, [])
    modlist = lists.modlist_uri(campaign)
    day = DepartureDay(store, secrets, sandbox.pds_url)
    day.prepare(keys[2][0], "", opted_in=False, app_password=people[2].app_password)
    evidence = f"https://bsky.app/profile/{hostile.handle}/post/3kbrowser2222"

    with web.serve(
        lambda url: web.coalition_app(
            store, base_url=url, secret_key=SECRET, departure=day, forms_per_minute=1000,
            **web.on_sandbox(sandbox.pds_url),
        )
    ) as base:  # fmt: skip

        def member_page(key: str) -> Any:
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(30_000)
            page.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
            page.goto(f"{base}/member/sign-in")
            page.get_by_label("Member key").fill(key)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("#modlist")
            return page

        first = member_page(keys[0][1])
        first.get_by_label("Handle or DID").fill(hostile.handle)
        first.get_by_label("Reasons").fill("Insults our staff under every post.")
        first.get_by_label("Links to posts, one per line").fill(evidence)
        first.get_by_role("button", name="Propose", exact=True).click()
        first.wait_for_selector(".proposal")
        assert "You proposed it" in first.locator(".proposal").inner_text()
        assert first.locator(".proposal button").count() == 0  # no approve button for it
        first.context.close()

        second = member_page(keys[1][1])
        proposal = second.locator(".proposal")
        proposal.get_by_label("Reason (required to reject)").fill("The posts are abusive.")
        proposal.get_by_role("button", name="Approve").click()
        second.wait_for_selector(".listed")
        second.screenshot(full_page=True, path=str(tmp_path / "approved.png"))
        second.context.close()
        assert items(sandbox, office.did, modlist) == [hostile.did]

        third = member_page(keys[2][1])
        third.get_by_label("Block the accounts on the list").check()
        third.get_by_role("button", name="Save our choice").click()
        third.wait_for_selector("#modlist")
        assert third.locator("#choice-block").is_checked()
        third.context.close()
        eventually(
            lambda: blocked_by_list(sandbox, people[2], hostile.did) == modlist,
            "the AppView reporting the hostile account blocked for the third member",
        )

        context = browser.new_context()
        appellant = context.new_page()
        appellant.set_default_timeout(30_000)
        appellant.goto(f"{base}/campaigns/{campaign.slug}/moderation")
        assert hostile.handle in appellant.locator(".listed").inner_text()
        appellant.get_by_label("Bluesky handle").fill(hostile.handle)
        appellant.get_by_label("App password").fill(hostile.app_password)
        appellant.get_by_role("button", name="Sign in with Bluesky").click()
        appellant.wait_for_selector("#appeal-form")
        appellant.get_by_label("Why should your account be removed?").fill("It was a joke.")
        appellant.get_by_role("button", name="Appeal", exact=True).click()
        appellant.wait_for_selector("#appeal-filed")
        context.close()

        fourth = member_page(keys[3][1])
        appeal = fourth.locator(".appeal")
        assert "It was a joke." in appeal.inner_text()
        appeal.get_by_label("Reason").fill("Read in context, it was banter.")
        appeal.get_by_role("button", name="Uphold: remove from the list").click()
        fourth.wait_for_selector("#modlist-empty")
        fourth.context.close()
        assert items(sandbox, office.did, modlist) == []
        eventually(
            lambda: blocked_by_list(sandbox, people[2], hostile.did) == "",
            "the hostile account unblocked for the third member",
        )

        context = browser.new_context()
        reader = context.new_page()
        reader.goto(f"{base}/campaigns/{campaign.slug}/moderation")
        audit = reader.locator("#modlist-audit").inner_text()
        for step in (
            "proposed the account", "approved the proposal", "added the account to the list",
            "appealed", "upheld the appeal", "removed the account from the list",
        ):  # fmt: skip
            assert step in audit
        assert "Insults our staff under every post." in audit and evidence in audit
        assert keys[0][0].name in audit and keys[3][0].name in audit
        reader.screenshot(full_page=True, path=str(tmp_path / "audit.png"))
        context.close()
