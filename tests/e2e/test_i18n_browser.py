"""The coalition in three languages in a real headless Chromium: a Dutch browser gets the
board in Dutch; the switcher, used with the keyboard, turns it French and stays French;
``lang`` is right on the page and on the switcher's links."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from departures.coalition.store import CoalitionStore
from departures.coalition.store import languages as stored_languages
from departures.i18n import format_moment, translations, use_language
from helpers.coalition import join, open_campaign
from helpers.web import coalition_app, serve


@pytest.fixture
def served(engine: Engine) -> Iterator[tuple[str, CoalitionStore]]:
    store = CoalitionStore(engine)
    with serve(lambda base: coalition_app(store, base_url=base)) as base:
        yield base, store


def test_the_board_in_dutch_then_french_with_the_keyboard(
    browser: Any, served: tuple[str, CoalitionStore], tmp_path: Path
) -> None:
    base, store = served
    now = datetime.now(UTC)
    coordinator, campaign = open_campaign(
        store,
        start=now,
        title="Samen weg van X",
        timezone="Europe/Brussels",
    )
    org, _key = join(store, campaign.slug, coordinator, "Natuurpunt", public_name=True)
    store.pledge(org.id, 0)
    stored_languages.set_campaign_languages(store.engine, campaign.id, ["nl", "fr", "en"], now)

    context = browser.new_context(locale="nl-BE")  # Chromium sends Accept-Language: nl-BE
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/campaigns/{campaign.slug}")
    assert page.get_attribute("html", "lang") == "nl"
    dutch = translations("nl").gettext
    assert page.get_by_role("heading", name=dutch("Organisations")).is_visible()
    assert dutch("pledged") in page.inner_text("main")
    with use_language("nl"):
        assert format_moment(campaign.departure_at, campaign.zone) in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "board-nl.png"), full_page=True)

    # The switcher: one link per language, each in its own language.
    switcher = page.get_by_role("navigation", name=dutch("Language"))
    links = switcher.get_by_role("link")
    assert [links.nth(i).get_attribute("lang") for i in range(links.count())] == ["nl", "fr", "en"]
    assert switcher.get_by_role("link", name="Nederlands").get_attribute("aria-current") == "true"

    # Keyboard only: Tab until the French link has the focus, then Enter.
    french_link = switcher.get_by_role("link", name="Français")
    for _ in range(30):
        page.keyboard.press("Tab")
        if french_link.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("the French link cannot be reached with Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("document.documentElement.lang === 'fr'")
    french = translations("fr").gettext
    assert page.get_by_role("heading", name=french("Organisations")).is_visible()
    assert french("pledged") in page.inner_text("main")
    with use_language("fr"):
        assert format_moment(campaign.departure_at, campaign.zone) in page.inner_text("main")
    page.screenshot(path=str(tmp_path / "board-fr.png"), full_page=True)

    # The choice is remembered: a fresh visit, the browser still asking for Dutch, is French.
    page.goto(f"{base}/")
    assert page.get_attribute("html", "lang") == "fr"
    assert french("Leaving X together") in page.inner_text("main")
    # Another reader with a Dutch browser still gets the Dutch board (not the cached French).
    other = browser.new_context(locale="nl-BE").new_page()
    other.goto(f"{base}/campaigns/{campaign.slug}")
    assert other.get_attribute("html", "lang") == "nl"
    context.close()
