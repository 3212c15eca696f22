"""The directory's page in a real headless Chromium (Debian's ``chromium`` driven by
Playwright's Python package), served by uvicorn on loopback: sign in with Bluesky, register
from account.js with the following list, see the entry and the reconnect list, withdraw.

Once with a fake sign-in (runs without the sandbox) and once with the real sign-in against
an account on the local sandbox network.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from departures.coalition.directory import Directory
from departures.coalition.errors import NotAllowed
from departures.coalition.store import CoalitionStore
from departures.coalition.web import BlueskySignIn, PdsSignIn
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.uploads import account_js, following_js

ORG_DID = "did:plc:" + "c" * 24
FAKE_DID = "did:plc:" + "f" * 24


class FakeSignIn:
    def verify(self, handle: str, password: str) -> tuple[str, str]:
        if handle != "fan.test" or password != "app-pass":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return FAKE_DID, handle


@pytest.fixture
def serve(engine: Engine) -> Iterator[Any]:
    """A function that serves the app with a given sign-in; returns (base URL, store)."""
    store = CoalitionStore(engine)
    with ExitStack() as servers:

        def start(sign_in: BlueskySignIn) -> tuple[str, CoalitionStore]:
            base = servers.enter_context(
                web.serve(
                    lambda url: web.coalition_app(store, base_url=url, bluesky_sign_in=sign_in)
                )
            )
            return base, store

        yield start


def _register_see_and_withdraw(
    browser: Any, base: str, store: CoalitionStore, handle: str, password: str, tmp: Path
) -> None:
    from PIL import Image

    Directory(store.engine).register("500", "org_on_x", ORG_DID, "org.test", source="coordinator")
    account = tmp / "account.js"
    account.write_bytes(account_js("31337", "fan_on_x"))
    following = tmp / "following.js"
    following.write_bytes(following_js("500", "600"))
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
    page.goto(f"{base}/directory")
    page.get_by_label("Bluesky handle").fill(handle)
    page.get_by_label("App password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#signed-in-handle")
    assert page.locator("#no-entries").is_visible()

    page.get_by_label("data/account.js of your X archive").set_input_files(str(account))
    page.get_by_label("Optional: data/following.js").set_input_files(str(following))
    page.get_by_label("I agree that this directory stores").check()
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_selector("#registered")
    assert "@fan_on_x" in page.locator("#entries").inner_text()
    assert "from your archive" in page.locator("#entries").inner_text()
    links = page.locator("#found a")
    assert links.count() == 1
    assert links.first.get_attribute("href") == f"https://bsky.app/profile/{ORG_DID}"
    assert "Of the 2 accounts you followed on X, 1 is in the directory" in page.inner_text("#main")
    png = page.screenshot(full_page=True, path=str(tmp / "directory.png"))
    image = Image.open(io.BytesIO(png))
    assert image.width >= 300 and image.height >= 600
    assert httpx.get(f"{base}/directory/lookup?x_ids=31337").json()["entries"][0]["x_id"] == (
        "31337"
    )

    page.get_by_role("button", name="Withdraw my consent").click()
    page.wait_for_selector("#withdrawn")
    assert page.locator("#no-entries").is_visible()
    page.screenshot(full_page=True, path=str(tmp / "withdrawn.png"))
    assert httpx.get(f"{base}/directory/lookup?x_ids=31337").json() == {"entries": []}
    context.close()


def test_register_and_withdraw_in_a_real_browser(browser: Any, serve: Any, tmp_path: Path) -> None:
    base, store = serve(FakeSignIn())
    _register_see_and_withdraw(browser, base, store, "fan.test", "app-pass", tmp_path)


@pytest.mark.sandbox
def test_register_and_withdraw_with_a_real_bluesky_sign_in(
    browser: Any,
    serve: Any,
    tmp_path: Path,
    sandbox: TestSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    person = sandbox.new_account("dirweb")
    base, store = serve(PdsSignIn(sandbox.pds_url))
    _register_see_and_withdraw(browser, base, store, person.handle, person.app_password, tmp_path)
    assert Directory(store.engine).entries_for(person.did) == []


@pytest.mark.sandbox
def test_follow_all_with_one_click_in_a_real_browser(
    browser: Any,
    serve: Any,
    tmp_path: Path,
    sandbox: TestSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    organisation, person = sandbox.new_account("dirclkorg"), sandbox.new_account("dirclk")
    base, store = serve(PdsSignIn(sandbox.pds_url))
    Directory(store.engine).register(
        "700", "org_on_x", organisation.did, organisation.handle, source="coordinator"
    )
    following = tmp_path / "following.js"
    following.write_bytes(following_js("700", "701"))
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/directory")
    page.get_by_label("Bluesky handle").fill(person.handle)
    page.get_by_label("App password").fill(person.app_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#signed-in-handle")
    page.get_by_label("X handle").fill("clicker_x")
    page.get_by_label("X account id (digits)").fill("31338")
    page.get_by_label("Optional: data/following.js").set_input_files(str(following))
    page.get_by_label("I agree that this directory stores").check()
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_selector("#registered")

    page.get_by_role("button", name="Follow all 1 on Bluesky").click()
    page.wait_for_selector("#follow-result")
    assert "Followed 1 account on Bluesky" in page.inner_text("#follow-result")
    page.screenshot(full_page=True, path=str(tmp_path / "followed.png"))
    records = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": person.did, "collection": "app.bsky.graph.follow"},
    ).json()["records"]
    assert [r["value"]["subject"] for r in records] == [organisation.did]
    context.close()
