"""The coalition's pages in a real headless Chromium (Debian's ``chromium``, driven by
Playwright's Python package; never a downloaded browser), served by uvicorn on loopback.

A coordinator creates and opens a campaign, two organisations pledge (one on condition), a
third with a hostile name joins; the board shows the campaign on, its JSON and Atom are valid,
and the hostile name is text, not a script.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine

from departures.coalition.store import CoalitionStore
from helpers.web import coalition_app, serve

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[str, CoalitionStore]]:
    """The app on a free loopback port (uvicorn in a background thread) and its store."""
    store = CoalitionStore(engine)
    with serve(lambda base: coalition_app(store, base_url=base)) as base:
        yield base, store


def _local(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo("Europe/Brussels")).strftime("%Y-%m-%dT%H:%M")


def _join(browser: Any, link: str, name: str) -> Any:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
    page.goto(link)
    page.get_by_label("Organisation name").fill(name)
    page.get_by_label("Contact e-mail").fill("contact@example.org")
    page.get_by_label("Website").fill("https://example.org")
    page.get_by_label("Show our name").check()
    page.get_by_role("button", name="Join the campaign").click()
    page.wait_for_selector("#member-key")
    return page


def test_a_campaign_runs_to_on_in_a_real_browser(
    browser: Any, served: tuple[str, CoalitionStore]
) -> None:
    from PIL import Image

    base, store = served
    _, token = store.create_coordinator("Coalition office")
    now = datetime.now(UTC)

    coordinator = browser.new_context().new_page()
    coordinator.set_default_timeout(15_000)
    coordinator.goto(f"{base}/login")
    coordinator.get_by_label("Coordinator token").fill(token)
    coordinator.get_by_role("button", name="Sign in").click()
    coordinator.get_by_label("Title").fill("Leave X together")
    coordinator.get_by_label("Description").fill("We leave on one day.")
    coordinator.get_by_label("Threshold").fill("2")
    coordinator.get_by_label("Pledge deadline").fill(_local(now + timedelta(days=7)))
    coordinator.get_by_label("Departure date and time").fill(_local(now + timedelta(days=14)))
    coordinator.get_by_role("button", name="Create the draft").click()
    coordinator.get_by_role("button", name="Open for pledges").click()
    assert "terms are locked" in coordinator.content()

    links = []
    for _ in range(3):
        coordinator.get_by_role("button", name="Create an invitation link").click()
        links.append(coordinator.input_value("#new-invite"))

    conditional = _join(browser, links[0], "Oxfam Belgium")
    conditional.get_by_label("We go if at least this many other organisations go:").check()
    conditional.get_by_label("Number of other organisations").fill("1")
    conditional.get_by_role("button", name="Pledge").click()
    assert "We go if at least 1 other organisations go." in conditional.inner_text("#our-pledge")

    unconditional = _join(browser, links[1], "11.11.11")
    unconditional.get_by_role("button", name="Pledge").click()
    assert "we are going" in unconditional.inner_text("#our-pledge")

    hostile = _join(browser, links[2], HOSTILE)
    hostile.get_by_role("button", name="Pledge").click()

    slug = "leave-x-together"
    board = browser.new_context().new_page()
    board.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
    board.goto(f"{base}/campaigns/{slug}")
    assert board.inner_text(".state") == "on"
    assert "3 of 2 organisations" in board.inner_text("#progress")
    names = board.locator(".org-name").all_inner_texts()
    assert sorted(names) == sorted(["Oxfam Belgium", "11.11.11", HOSTILE])
    assert board.evaluate("document.querySelectorAll('script').length") == 0
    assert board.evaluate("document.documentElement.lang") == "en"

    png = board.screenshot(full_page=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 300 and image.height >= 300
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert len(colours) > 20  # text, the header band and the progress bar were drawn

    data = json.loads(httpx.get(f"{base}/campaigns/{slug}/board.json").text)
    assert data["state"] == "on"
    assert {o["name"]: o["status"] for o in data["organisations"]} == {
        "Oxfam Belgium": "pledged",
        "11.11.11": "pledged",
        HOSTILE: "pledged",
    }
    feed = httpx.get(f"{base}/campaigns/{slug}/feed.atom")
    root = ET.fromstring(feed.content)
    assert root.tag == "{http://www.w3.org/2005/Atom}feed"
