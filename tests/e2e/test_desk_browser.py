"""Steps 1-3 of the desk in a real headless Chromium, in English, Dutch and French.

The desk is served by uvicorn on a free loopback port, as ``departures desk`` serves it; the
browser opens the one-time URL, is refused a file that is not an archive and a truncated zip
(a message on the page, nothing imported), imports a generated archive by upload, reads the
overview, changes a choice (live counts), plans, leaves a post out, writes an alt text that
is saved as it is typed, and checks every page's accessibility tree for unnamed controls and
the keyboard focus for a visible outline. Screenshots at 1280 px go to ``test-artifacts/desk``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from departures.desk.app import Desk, create_app
from departures.samples.x_archive import generate_archive
from helpers.ports import free_port

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desk"
# Controls a screen reader would announce without a name ("- textbox" with nothing after).
#: The first step's heading in each language (the catalogues are in use, not only <html lang>).
HEADINGS = {
    "en": "Step 1: bring the archive",
    "nl": "Stap 1: het archief binnenbrengen",
    "fr": "Étape 1 : apporter l'archive",
}
UNNAMED = re.compile(r"^\s*- (textbox|checkbox|button|combobox|spinbutton|link)\s*(\[|$)", re.M)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("desk-archive")
    return generate_archive(folder / "x", tweets=160, as_zip=True, profile="demo", seed=7)


@pytest.fixture
def desk_url(tmp_path: Path) -> Iterator[tuple[Desk, str]]:
    port = free_port()
    desk = Desk(tmp_path / "ws", port)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(desk), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the desk did not start"
        time.sleep(0.05)
    try:
        yield desk, desk.login_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _check_accessible(page: Any) -> None:
    tree = page.locator("main").aria_snapshot()
    unnamed = UNNAMED.findall(tree)
    assert not unnamed, f"controls without a name on {page.url}:\n{tree}"
    # Every form control has a label the browser associates with it.
    orphans = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
             .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
    )
    assert orphans == [], f"unlabelled controls on {page.url}: {orphans}"
    low = page.evaluate(CONTRAST)
    assert low == [], f"text below the contrast minimum on {page.url}: {low}"


# WCAG 2.1 contrast of every element with text of its own against its first opaque
# background: 4.5:1, 3:1 for large text.
CONTRAST = """() => {
  const parse = c => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return {r: p[0], g: p[1], b: p[2],
    a: p.length > 3 ? p[3] : 1}; };
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4); };
  const lum = c => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = el => { for (; el; el = el.parentElement) {
    const c = parse(getComputedStyle(el).backgroundColor); if (c && c.a > 0) return c; }
    return {r: 255, g: 255, b: 255, a: 1}; };
  const bad = [];
  for (const el of document.querySelectorAll('body *')) {
    if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const s = getComputedStyle(el);
    if (s.display === 'none' || s.visibility === 'hidden' || el.closest('svg')) continue;
    const a = lum(parse(s.color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5))
      bad.push(el.tagName + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
  }
  return bad;
}"""


def _focus_is_visible(page: Any) -> None:
    page.keyboard.press("Tab")
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline[0] == "A" and outline[1] != "none" and outline[2] != "0px", outline


def _shot(page: Any, language: str, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{language}-{step}.png"), full_page=True)


@pytest.mark.parametrize("language", ["en", "nl", "fr"])
def test_steps_one_to_three_in_the_browser(
    browser: Any, desk_url: tuple[Desk, str], archive: Path, tmp_path: Path, language: str
) -> None:
    desk, url = desk_url
    base = url.split("/login")[0]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale={"en": "en-GB", "nl": "nl-BE", "fr": "fr-BE"}[language],
        extra_http_headers={"Accept-Language": f"{language}-BE,{language};q=0.9"},
    )
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(url)
        assert page.url.endswith("/archive")  # the token left the address bar
        assert page.locator("html").get_attribute("lang") == language
        assert page.locator("h1").inner_text() == HEADINGS[language]
        _focus_is_visible(page)
        _check_accessible(page)
        _shot(page, language, "1-archive")

        # Bad input: a message on the page, nothing imported.
        not_archive = tmp_path / "notes.zip"
        not_archive.write_text("meeting notes, not an archive")
        truncated = tmp_path / "cut.zip"
        truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 3])
        for bad in (not_archive, truncated):
            page.goto(base + "/archive")
            page.set_input_files("#archive-file", str(bad))
            page.locator("#archive-file ~ button").click()
            alert = page.get_by_role("alert")
            alert.wait_for()
            assert alert.inner_text().strip()
            assert "Traceback" not in page.content()
        _shot(page, language, "1-bad-input")
        assert not list((desk.workspace_path / "archives").glob("*.zip"))

        # The real archive, uploaded; the progress page goes to the overview by itself.
        page.goto(base + "/archive")
        page.set_input_files("#archive-file", str(archive))
        page.locator("#archive-file ~ button").click()
        page.wait_for_url("**/archive/overview")
        assert page.locator("svg.chart").count() >= 2
        assert page.locator("svg.chart title").first.text_content()
        assert page.get_by_role("img", name=re.compile(".")).count() >= 2
        _check_accessible(page)
        _shot(page, language, "1-overview")

        # Step 2: a choice changes the live count; then the plan, then one post left out.
        page.goto(base + "/choose")
        counts = page.locator("#live-counts")
        before = counts.inner_text()
        page.fill("#c-since", "2025-06-01")
        page.wait_for_function(
            "before => document.getElementById('live-counts').innerText !== before", arg=before
        )
        assert re.search(r"\d", counts.inner_text())
        _check_accessible(page)
        with page.expect_navigation():
            page.locator("form[action='/choose'] button:not([formaction])").click()
        page.wait_for_url(re.compile(r".*/choose$"))
        planned = page.locator("article.post").count()
        assert planned > 0
        first = page.locator("article.post form button").first
        with page.expect_navigation():
            first.click()
        page.wait_for_url(re.compile(r".*/choose$"))
        assert page.locator("#left-title").count() == 1
        _check_accessible(page)
        _shot(page, language, "2-choose")

        # Step 3: an alt text saved as it is typed; the count goes up.
        page.goto(base + "/images")
        progress = page.locator("#alt-progress")
        start = progress.inner_text()
        box = page.locator("form.alt-text textarea").first
        box.fill("Farmers sorting coffee cherries under a tin roof")
        page.wait_for_function(
            "start => document.getElementById('alt-progress').innerText !== start", arg=start
        )
        assert page.locator(".saved").first.inner_text().strip()
        picture = page.locator(".image-row img").first
        picture.scroll_into_view_if_needed()
        picture.evaluate(  # lazy-loaded: wait until the thumbnail has arrived
            "img => img.complete && img.naturalWidth > 0 ? true"
            " : new Promise(done => img.addEventListener('load', () => done(true)))"
        )
        assert picture.evaluate("img => img.naturalWidth") > 0
        _check_accessible(page)
        _shot(page, language, "3-images")
        page.reload()
        assert page.locator("form.alt-text textarea").first.input_value().startswith("Farmers")
    finally:
        context.close()
