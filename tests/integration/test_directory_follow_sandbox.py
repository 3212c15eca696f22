"""Follow all against the local sandbox network: a registrant whose following.js holds two
registered organisations signs in with an app password, presses Follow all, and follows each
once; pressing again follows nobody twice."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import Engine

from departures.bluesky.records import derived_rkey
from departures.coalition.directory import Directory
from departures.coalition.store import CoalitionStore
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.uploads import following_js
from helpers.web import InProcessBrowser, coalition_app, on_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)  # on the real clock, as the server runs


def follows_of(pds_url: str, did: str) -> list[str]:
    """The subjects of the follow records in ``did``'s repository, as the PDS lists them."""
    answer = httpx.get(
        f"{pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": "app.bsky.graph.follow", "limit": 100},
    )
    answer.raise_for_status()
    return [record["value"]["subject"] for record in answer.json()["records"]]


def test_follow_all_follows_each_registered_organisation_once(
    sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch, store: CoalitionStore
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    first, second = sandbox.new_account("fwaorg"), sandbox.new_account("fwborg")
    person = sandbox.new_account("fwfan")
    directory = Directory(store.engine)
    directory.register("4101", "first_org", first.did, first.handle, source="coordinator")
    directory.register("4102", "second_org", second.did, second.handle, source="coordinator")
    app = coalition_app(
        store,
        base_url="http://testserver",
        **on_sandbox(sandbox.pds_url),
        forms_per_minute=1000,
    )
    browser = InProcessBrowser(app)
    call = browser.request

    def csrf() -> str:
        return browser.csrf("/directory")

    try:
        signed = browser.sign_in_to_directory(person.handle, person.app_password)
        assert signed.status_code == 200 and person.did in signed.text
        registered = call(
            "POST",
            "/directory/register",
            data={"csrf": csrf(), "consent": "yes", "x_handle": "fan_on_x", "x_id": "4199"},
            files={"following": ("following.js", following_js("4101", "4102", "9999"))},
        )
        assert registered.status_code == 200, registered.text
        assert "Follow all 2 on Bluesky" in registered.text
        hidden = re.search(r'name="dids" value="([^"]+)"', registered.text)
        assert hidden

        pressed = call(
            "POST",
            "/directory/follow-all",
            data={"csrf": csrf(), "dids": hidden.group(1)},
            files={"none": ("", b"")},
        )
        assert pressed.status_code == 200, pressed.text
        assert "Followed 2 accounts on Bluesky" in pressed.text
        assert sorted(follows_of(sandbox.pds_url, person.did)) == sorted([first.did, second.did])

        again = call(
            "POST",
            "/directory/follow-all",
            data={"csrf": csrf(), "dids": hidden.group(1)},
            files={"none": ("", b"")},
        )
        assert again.status_code == 200, again.text
        assert "Followed 0 accounts on Bluesky; 2 you already followed" in again.text
        assert sorted(follows_of(sandbox.pds_url, person.did)) == sorted([first.did, second.did])
        record = httpx.get(
            f"{sandbox.pds_url}/xrpc/com.atproto.repo.getRecord",
            params={
                "repo": person.did,
                "collection": "app.bsky.graph.follow",
                "rkey": derived_rkey(first.did),
            },
        )
        assert record.status_code == 200  # the deterministic record key: exactly once

        call("POST", "/directory/sign-out", data={"csrf": csrf()})
        call("POST", "/directory/sign-in", data={"csrf": csrf(), "handle": "x", "password": "y"})
        refused = call(
            "POST",
            "/directory/follow-all",
            data={"csrf": csrf(), "dids": hidden.group(1)},
            files={"none": ("", b"")},
        )
        assert refused.status_code == 403  # signed out: nothing is followed
    finally:
        browser.close()
