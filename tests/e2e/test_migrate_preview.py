"""The migration preview page in a real headless Chromium (Debian's ``chromium`` driven by
Playwright's Python package; never a downloaded browser).

A small archive with a hostile tweet, a photo without alt text, a long post and a thread is
imported, planned and previewed; the page renders, the hostile markup stays text and runs
nothing, the missing alt text is in plain sight, thumbnails load, and the warnings switch works.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from archive_builders import (
    ACCOUNT_ID,
    USERNAME,
    account_item,
    photo,
    snowflake,
    tweet,
    write_archive,
    ytd,
)
from departures.archive.importer import import_archive
from departures.migrate.plan import build_plan
from departures.migrate.preview import write_preview
from departures.migrate.select import Selection
from departures.workspace import Workspace

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
BASE_MS = 1_700_000_000_000


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (30, 110, 70)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def preview(tmp_path: Path) -> Path:
    ids = [snowflake(BASE_MS + i * 60_000) for i in range(5)]
    escaped = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    pt = "Harvest day https://t.co/p1"
    self_reply = {"in_reply_to_user_id_str": ACCOUNT_ID, "in_reply_to_screen_name": USERNAME}
    tweets = [
        tweet(ids[0], escaped),
        tweet(ids[1], pt, media=[photo(pt, "https://t.co/p1", "KEYP1", ids[1])]),
        tweet(ids[2], "A long post about soil. " * 30),
        tweet(ids[3], "1/ Why we leave"),
        tweet(ids[4], "2/ See you there", in_reply_to_status_id_str=ids[3], **self_reply),
    ]
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in tweets]),
        f"tweets_media/{ids[1]}-KEYP1.jpg": _jpeg(),
    }
    folder = write_archive(tmp_path / "archive", files)
    ws = Workspace.open(tmp_path / "ws")
    import_archive(folder, ws)
    build_plan(ws, Selection())
    result = write_preview(ws)
    ws.close()
    return result.path


@pytest.fixture
def page(browser: Any) -> object:
    """A page of the shared headless Chromium (see conftest.py), sized like a laptop."""
    return browser.new_page(viewport={"width": 900, "height": 1300})


def test_preview_renders_escapes_hostile_text_and_shows_missing_alt(
    preview: Path, page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(preview.as_uri())
    page.wait_for_load_state("load")

    assert page.title() == f"Migration preview for @{USERNAME}"
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 0
    assert page.get_by_text(HOSTILE, exact=False).count() == 1  # shown as text
    assert errors == []

    no_alt = page.locator("figcaption.no-alt")
    assert no_alt.count() == 1 and no_alt.first.is_visible()
    assert page.locator(".alt-alarm").is_visible()

    thumb = page.locator(".media img").first
    thumb.scroll_into_view_if_needed()
    page.wait_for_function("document.querySelector('.media img').complete")
    assert page.evaluate("document.querySelector('.media img').naturalWidth") > 0

    threads = page.locator("section.thread")
    # hostile, photo, long post (split into a numbered thread), the 2-tweet thread
    assert threads.count() == 4
    long_post = threads.nth(2)
    assert long_post.locator("article").count() >= 3
    assert "part 1/" in long_post.locator("article").first.inner_text()
    assert threads.nth(3).locator("article.reply").count() == 1

    page.screenshot(path=str(tmp_path / "preview.png"), full_page=True)

    page.locator("label.switch").click()
    visible = [threads.nth(i).is_visible() for i in range(threads.count())]
    assert visible == [False, True, False, False]  # only the photo has a warning
