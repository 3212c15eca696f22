"""Reply controls and the triage queue in a real headless Chromium, against the sandbox.

A member whose welcome post is published chooses on its member page that nobody may quote
it and turns triage on. A hostile account replies with an insult in English and one in Dutch
and quotes the post (the AppView shows the quote detached); the member checks for new
replies on its triage page, sees both queued, hides the English one (the AppView's thread
shows it hidden) and proposes the author of the Dutch one with a reason (recorded). Then it
lets only its followers reply: the thread gate reads back through the AppView, the hidden
reply kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client, models

from departures.coalition.departure import DepartureDay
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store import triage as triage_rows
from departures.coalition.vault import Vault
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.waiting import poll
from helpers.web import coalition_app, on_sandbox, serve

SECRET = b"a test secret that is long enough"
THREADGATE = "app.bsky.feed.threadgate"
INSULT_EN = "You are a fucking bitch and a stupid idiot, nobody wants you here"
INSULT_NL = "Wat een stelletje klootzakken zijn jullie, rot op naar X"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


@pytest.fixture
def published(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> Iterator[tuple[Organisation, str, str, DepartureDay, Any]]:
    """A member (its key) whose welcome post is published; the hostile account's client."""
    member = sandbox.new_account("browsed")
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=1)
    organisation, key = join(
        store,
        campaign.slug,
        coordinator,
        "Member NGO",
        bluesky_handle=member.handle,
        bluesky_did=member.did,
    )
    store.pledge(organisation.id, 0)
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    day.prepare(
        organisation, "We have landed on Bluesky!", opted_in=True, app_password=member.app_password
    )
    campaign = store.campaign(campaign.slug)
    clock.now = campaign.departure_at + timedelta(minutes=1)
    uri = day.publish(campaign, organisation)
    assert uri
    hostile = sandbox.new_account("troll")
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    client.login(hostile.handle, hostile.app_password)
    yield organisation, key, uri, day, client
    client.request.close()


def _appview(sandbox: TestSandbox, nsid: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.appview_url}/xrpc/{nsid}", params=params, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def _reply(client: Any, post: dict[str, Any], text: str) -> str:
    ref = models.ComAtprotoRepoStrongRef.Main(uri=post["uri"], cid=post["cid"])
    return str(
        client.send_post(
            text=text, reply_to=models.AppBskyFeedPost.ReplyRef(parent=ref, root=ref)
        ).uri
    )


def test_a_member_sets_reply_controls_and_triages_hostile_replies_in_chromium(
    browser: Any,
    sandbox: TestSandbox,
    store: CoalitionStore,
    published: tuple[Organisation, str, str, DepartureDay, Any],
    tmp_path: Path,
) -> None:
    organisation, key, uri, day, hostile = published
    with serve(
        lambda base: coalition_app(
            store, base_url=base, departure=day, **on_sandbox(sandbox.pds_url)
        )
    ) as base:
        page = browser.new_context().new_page()
        page.set_default_timeout(20_000)
        page.goto(f"{base}/member/sign-in")
        page.get_by_label("Member key").fill(key)
        page.get_by_role("button", name="Sign in").click()

        # Reply controls: everybody may reply, nobody may quote, triage on.
        assert "Everybody may reply." in page.inner_text("#reply-choice")
        page.locator("#no_quotes").check()
        page.locator("#triage").check()
        page.get_by_role("button", name="Save the reply controls").click()
        assert "Quoting is not allowed." in page.inner_text("#reply-choice")

        # The hostile account replies twice and quotes the post (shown detached: no quotes).
        post = poll(lambda: _appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
        en, nl = _reply(hostile, post, INSULT_EN), _reply(hostile, post, INSULT_NL)
        quote = hostile.send_post(
            text="Look at them",
            embed=models.AppBskyEmbedRecord.Main(
                record=models.ComAtprotoRepoStrongRef.Main(uri=post["uri"], cid=post["cid"])
            ),
        ).uri
        embedded = poll(lambda: _appview(sandbox, "app.bsky.feed.getPosts", uris=[quote])["posts"])
        assert embedded[0]["embed"]["record"]["$type"] == "app.bsky.embed.record#viewDetached"
        poll(
            lambda: (
                len(
                    _appview(sandbox, "app.bsky.feed.getPostThread", uri=uri)["thread"].get(
                        "replies"
                    )
                    or []
                )
                >= 2
            )
        )

        page.get_by_role("link", name="0 replies wait for review").click()
        page.get_by_role("button", name="Check for new replies now").click()
        queue = page.inner_text("#triage-queue")
        assert INSULT_EN in queue and INSULT_NL in queue
        items = {i.subject_uri: i for i in triage_rows.queue(store.engine, organisation.id)}
        page.screenshot(full_page=True, path=str(tmp_path / "triage.png"))
        if os.environ.get("DEPARTURES_SCREENSHOTS"):
            page.screenshot(
                full_page=True,
                path=os.path.join(os.environ["DEPARTURES_SCREENSHOTS"], "triage.png"),
            )

        # Hide the English one.
        page.locator(f"#item-{items[en].id}").get_by_role("button", name="Hide the reply").click()
        assert "hidden" in page.inner_text("#triage-decided")
        hidden = poll(
            lambda: (
                (_appview(sandbox, "app.bsky.feed.getPostThread", uri=uri)["thread"]["post"])
                .get("threadgate", {})
                .get("record", {})
                .get("hiddenReplies")
            )
        )
        assert hidden == [en]

        # Propose the author of the Dutch one, with a reason.
        item = page.locator(f"#item-{items[nl].id}")
        item.get_by_label("Reason (needed to propose the author)").fill("insults in Dutch")
        item.get_by_role("button", name="Propose the author to the moderation list").click()
        decided = page.inner_text("#triage-decided")
        assert "author proposed to the moderation list (insults in Dutch)" in decided
        assert page.locator("#triage-empty").is_visible()
        states = {
            i.subject_uri: i.state
            for i in triage_rows.queue(store.engine, organisation.id, states=("hidden", "proposed"))
        }
        assert states == {en: "hidden", nl: "proposed"}

        # Later: only followers may reply. The thread gate keeps the hidden reply.
        page.goto(f"{base}/member")
        page.locator("#replies-some").check()
        page.locator("#rule_followers").check()
        page.get_by_role("button", name="Save the reply controls").click()
        assert "Only these people may reply: our followers." in page.inner_text("#reply-choice")
        gate = poll(
            lambda: (
                (_appview(sandbox, "app.bsky.feed.getPostThread", uri=uri)["thread"]["post"])
                .get("threadgate", {})
                .get("record", {})
                .get("allow")
            )
        )
        assert gate == [{"$type": f"{THREADGATE}#followerRule"}]
        record = _appview(sandbox, "app.bsky.feed.getPostThread", uri=uri)["thread"]["post"]
        assert record["threadgate"]["record"]["hiddenReplies"] == [en]
