"""The public board rendered once per change: ETag / Last-Modified, 304 when unchanged, a new
rendering after every change the board shows (read from the store's board version, so right
across processes), the share image, and its Open Graph tags escaped."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PIL import Image

from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.clock import Clock
from helpers.stores import ON_BOTH_STORES
from helpers.web import InProcessBrowser, coalition_app

pytestmark = ON_BOTH_STORES

PATHS = ("", "/board.json", "/feed.atom", "/share.png")
HOSTILE_TITLE = 'Leave "X" <script>alert(1)</script> & co\'s day'


def _app(store: CoalitionStore) -> CoalitionApp:
    # No holding period: every request reads the board version, as a second process would.
    return coalition_app(store, base_url="https://board.example", public_cache_seconds=0)


@pytest.fixture
def reader(store: CoalitionStore) -> Iterator[InProcessBrowser]:
    browser = InProcessBrowser(_app(store), base_url="https://board.example")
    yield browser
    browser.close()


def _campaign(store: CoalitionStore, clock: Clock, title: str = "Leave X together") -> str:
    coordinator_id, _ = store.create_coordinator("Coalition office")
    now = clock()
    campaign = store.create_campaign(
        coordinator_id,
        title=title,
        threshold=1,
        deadline=now + timedelta(days=7),
        departure_at=now + timedelta(days=14),
        timezone="Europe/Brussels",
    )
    store.open_campaign(campaign.slug, coordinator_id)
    return campaign.slug


def _member(store: CoalitionStore, slug: str, name: str) -> int:
    campaign = store.campaign(slug)
    token = store.create_invite(slug, campaign.coordinator_id)
    organisation, _ = store.accept_invite(
        token, name=name, bluesky_handle=f"{name.lower()}.example", public_name=True
    )
    return organisation.id


def test_an_unchanged_board_is_304_and_a_pledge_makes_a_new_etag(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    slug = _campaign(store, clock)
    member = _member(store, slug, "Early")
    for suffix in PATHS:
        path = f"/campaigns/{slug}{suffix}"
        first = reader.get(path)
        assert first.status_code == 200, path
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        again = reader.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b""
        assert again.headers["etag"] == etag
        # The perimeter's security headers are on the 304 too.
        assert again.headers["x-content-type-options"] == "nosniff"
        assert reader.get(path, headers={"If-Modified-Since": modified}).status_code == 304
        assert reader.get(path, headers={"If-None-Match": '"other"'}).status_code == 200

    before = {s: reader.get(f"/campaigns/{slug}{s}").headers["etag"] for s in PATHS}
    store.pledge(member, 0)
    for suffix in PATHS:
        path = f"/campaigns/{slug}{suffix}"
        changed = reader.get(path, headers={"If-None-Match": before[suffix]})
        assert changed.status_code == 200, path
        assert changed.headers["etag"] != before[suffix]
    assert [
        o["name"] for o in reader.get(f"/campaigns/{slug}/board.json").json()["organisations"]
    ] == ["Early"]


def test_a_landing_seen_by_another_process_changes_the_board(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    slug = _campaign(store, clock)
    member = _member(store, slug, "Lander")
    store.pledge(member, 0)
    # A second app on the same database stands for a second server process: its cache
    # learns of the change only through the store.
    other = InProcessBrowser(
        _app(CoalitionStore(store.engine, clock=clock)), base_url="https://board.example"
    )
    try:
        path = f"/campaigns/{slug}/board.json"
        seen = other.get(path)
        assert reader.get(path).headers["etag"] == seen.headers["etag"]
        clock.advance(days=15)
        assert other.get(path, headers={"If-None-Match": seen.headers["etag"]}).status_code == (
            200  # the departure passed: the board changes with no write
        )
        now = other.get(path)
        store.mark_landed(member)
        landed = other.get(path, headers={"If-None-Match": now.headers["etag"]})
        assert landed.status_code == 200
        assert landed.json()["organisations"][0]["status"] == "landed"
        assert other.get(path, headers={"If-None-Match": landed.headers["etag"]}).status_code == 304
    finally:
        other.close()


def test_a_withdrawal_and_an_edit_change_the_board(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    slug = _campaign(store, clock)
    member = _member(store, slug, "Wavering")
    store.pledge(member, 0)
    path = f"/campaigns/{slug}/feed.atom"
    etag = reader.get(path).headers["etag"]
    clock.advance(minutes=1)
    store.withdraw(member)
    after = reader.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200
    store.update_organisation(member, name="Renamed")
    page = reader.get(f"/campaigns/{slug}", headers={"If-None-Match": after.headers["etag"]})
    assert page.status_code == 200


def test_the_share_image_is_a_1200_by_630_png(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    slug = _campaign(store, clock, title="A very long campaign title " * 5 + "W" * 50)
    response = reader.get(f"/campaigns/{slug}/share.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert (image.format, image.size) == ("PNG", (1200, 630))


def test_the_open_graph_tags_escape_the_title(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    slug = _campaign(store, clock, title=HOSTILE_TITLE)
    page = reader.get(f"/campaigns/{slug}").text
    assert "<script>alert(1)</script>" not in page
    tags = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">', page))
    assert html.unescape(tags["og:title"]) == HOSTILE_TITLE
    assert tags["og:image"] == f"https://board.example/campaigns/{slug}/share.png"
    assert tags["twitter:card"] == "summary_large_image"
    assert "0 organisations gone" in html.unescape(tags["og:description"])
    # The share image draws the same title without choking on it.
    assert reader.get(tags["og:image"].removeprefix("https://board.example")).status_code == 200


def test_a_signed_out_draft_or_unknown_board_is_404_not_cached(
    store: CoalitionStore, clock: Clock, reader: InProcessBrowser
) -> None:
    coordinator_id, _ = store.create_coordinator("Office")
    now = clock()
    draft = store.create_campaign(
        coordinator_id,
        title="Draft",
        threshold=1,
        deadline=now + timedelta(days=7),
        departure_at=now + timedelta(days=14),
    )
    for suffix in PATHS:
        assert reader.get(f"/campaigns/{draft.slug}{suffix}").status_code == 404
        assert reader.get(f"/campaigns/no-such{suffix}").status_code == 404
    store.open_campaign(draft.slug, coordinator_id)
    assert reader.get(f"/campaigns/{draft.slug}/board.json").status_code == 200
