"""The coalition web app in-process (Starlette's test client over a SQLite store): the
coordinator's and members' journeys, the board as HTML/JSON/Atom, and hostile input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.clock import Clock
from helpers.web import InProcessBrowser, coalition_app

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def app(store: CoalitionStore) -> CoalitionApp:
    # No Bluesky service on a closed port: handle checks answer "could not check" (tested);
    # real resolution is tested against the sandbox in tests/integration.
    return coalition_app(
        store,
        base_url="http://testserver",
    )


_clients: list[InProcessBrowser] = []


def new_client(app: CoalitionApp) -> InProcessBrowser:
    client = InProcessBrowser(app)
    _clients.append(client)
    return client


@pytest.fixture
def client(app: CoalitionApp) -> Iterator[InProcessBrowser]:
    yield new_client(app)
    while _clients:
        _clients.pop().close()


def csrf(client: InProcessBrowser, path: str = "/login") -> str:
    return client.csrf(path)


def post(client: InProcessBrowser, path: str, data: dict[str, str], page: str = "/login"):
    return client.submit(path, data, page)


def sign_in_coordinator(client: InProcessBrowser, store: CoalitionStore) -> None:
    _, token = store.create_coordinator("Coalition office")
    response = post(client, "/login", {"token": token}, "/login")
    assert response.status_code == 200
    assert "Campaigns of Coalition office" in response.text


CAMPAIGN = {
    "title": "Leave X together",
    "description": "Thirty organisations leave X on one day.",
    "threshold": "2",
    "timezone": "Europe/Brussels",
    "deadline": "2025-01-13T12:00",
    "departure_at": "2025-01-20T12:00",
    "coordinator_handle": "",
}


def create_open_campaign(client: InProcessBrowser, store: CoalitionStore) -> str:
    sign_in_coordinator(client, store)
    response = post(client, "/coordinator/campaigns", CAMPAIGN, "/coordinator")
    assert response.status_code == 200, response.text
    slug = response.url.path.rsplit("/", 1)[1]
    response = post(client, f"/coordinator/campaigns/{slug}/open", {}, "/coordinator")
    assert "terms are locked" in response.text
    return slug


def invite_link(client: InProcessBrowser, slug: str) -> str:
    page = f"/coordinator/campaigns/{slug}"
    response = post(client, f"{page}/invites", {"note": "someone", "days": "14"}, page)
    found = re.search(r'value="http://testserver(/invite/[A-Za-z0-9_-]+)"', response.text)
    assert found, response.text
    return found.group(1)


def join(app: CoalitionApp, link: str, name: str, public: bool = True) -> InProcessBrowser:
    member = new_client(app)
    data = {
        "name": name,
        "email": f"{abs(hash(name))}@example.org",
        "website": "",
        "x_handle": "",
        "bluesky_handle": "",
    }
    if public:
        data["public_name"] = "1"
    response = post(member, link, data, link)
    assert response.status_code == 200, response.text
    assert "Keep this member key" in response.text
    return member


def test_a_coordinator_creates_and_opens_a_campaign_and_members_tip_it(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore, clock: Clock
) -> None:
    slug = create_open_campaign(client, store)
    first = join(app, invite_link(client, slug), "Oxfam Belgium")
    second = join(app, invite_link(client, slug), "11.11.11", public=False)
    post(first, "/member/pledge", {"kind": "conditional", "min_others": "1"}, "/member")
    board = client.get(f"/campaigns/{slug}").text
    assert "0 of 2 organisations" in board
    assert "2 more to go" in board or "1 more to go" in board
    response = post(second, "/member/pledge", {"kind": "unconditional"}, "/member")
    assert "The pledge counts: we are going." in response.text
    board = client.get(f"/campaigns/{slug}")
    assert board.status_code == 200
    assert "2 of 2 organisations" in board.text
    assert "state-on" in board.text
    assert "Oxfam Belgium" in board.text
    assert "11.11.11" not in board.text
    assert "and 1 organisation that prefers not to be named" in board.text
    data = client.get(f"/campaigns/{slug}/board.json").json()
    assert data["state"] == "on"
    assert sorted((o["name"], o["status"]) for o in data["organisations"] if o["public"]) == [
        ("Oxfam Belgium", "pledged")
    ]
    assert [o["name"] for o in data["organisations"] if not o["public"]] == [None]


def test_a_withdrawal_before_the_deadline_takes_the_campaign_back_to_open(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), "Solo")
    store.update_campaign(slug, 1, description="x")
    post(member, "/member/pledge", {"kind": "unconditional"}, "/member")
    response = post(member, "/member/withdraw", {}, "/member")
    assert "We have not pledged." in response.text
    assert client.get(f"/campaigns/{slug}/board.json").json()["state"] == "open"


def test_after_the_deadline_pledges_are_refused_with_a_409_page(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore, clock: Clock
) -> None:
    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), "Late")
    token = csrf(member, "/member")
    clock.now = START + timedelta(days=8)
    response = member.post("/member/pledge", data={"csrf": token, "kind": "unconditional"})
    assert response.status_code == 409
    assert "pledges are final" in response.text
    assert "<h1>Not possible now</h1>" in response.text


def test_locked_terms_cannot_be_changed_by_a_crafted_form(
    client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    page = f"/coordinator/campaigns/{slug}"
    response = post(
        client, f"{page}/edit", {"description": "Now with a link", "threshold": "1"}, page
    )
    assert response.status_code == 200
    campaign = store.campaign(slug)
    assert (campaign.threshold, campaign.description) == (2, "Now with a link")


def test_an_invitation_link_works_once(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    link = invite_link(client, slug)
    join(app, link, "First")
    other = new_client(app)
    response = other.get(link)
    assert response.status_code == 409
    assert "already used" in response.text


def test_a_member_cannot_reach_coordinator_pages(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), "Curious")
    assert member.get(f"/coordinator/campaigns/{slug}").status_code == 403
    response = post(member, f"/coordinator/campaigns/{slug}/invites", {"days": "1"}, "/member")
    assert response.status_code == 403


def test_a_form_without_the_sessions_csrf_token_is_refused(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), "Target")
    response = member.post("/member/pledge", data={"kind": "unconditional"})
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    stranger = new_client(app)
    stolen = csrf(stranger)
    response = member.post("/member/pledge", data={"csrf": stolen, "kind": "unconditional"})
    assert response.status_code == 403
    assert store.pledges(store.campaign(slug).id) == []


def test_a_hostile_organisation_name_is_shown_as_text_everywhere(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), HOSTILE)
    post(member, "/member/pledge", {"kind": "unconditional"}, "/member")
    for page in (f"/campaigns/{slug}", f"/coordinator/campaigns/{slug}"):
        html = client.get(page).text
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in member.get("/member").text
    assert client.get(f"/campaigns/{slug}/board.json").json()["organisations"][0]["name"] == (
        HOSTILE
    )
    ET.fromstring(client.get(f"/campaigns/{slug}/feed.atom").content)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "x" * 201, "Organisation name is too long"),
        ("name", "", "Organisation name is required"),
        ("name", "Bad\x00name", "control characters"),
        ("website", "javascript:alert(1)", "Website is not a web address"),
        ("email", "not-an-address", "Contact e-mail is not an e-mail address"),
        ("x_handle", "@no spaces", "X handle is not an X handle"),
        ("bluesky_handle", "<b>", "is not a Bluesky handle"),
        ("bluesky_handle", "nobody.example", "Could not check the Bluesky handle"),
    ],
)
def test_hostile_or_bad_member_fields_get_a_clear_400_page(
    app: CoalitionApp,
    client: InProcessBrowser,
    store: CoalitionStore,
    field: str,
    value: str,
    message: str,
) -> None:
    slug = create_open_campaign(client, store)
    link = invite_link(client, slug)
    member = new_client(app)
    data = {"name": "Fine", "email": "", "website": "", "x_handle": "", "bluesky_handle": ""}
    data[field] = value
    response = post(member, link, data, link)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert store.organisations(store.campaign(slug).id) == []
    assert member.get(link).status_code == 200  # the invite was not used up


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("threshold", "-1", "Threshold must be a whole number"),
        ("threshold", "1e9", "Threshold must be a whole number"),
        ("deadline", "tomorrow", "Pledge deadline is not a date and time"),
        ("timezone", "Europe/Nowhere", "is not a timezone"),
        ("description", "d" * 5001, "Description is too long"),
        ("departure_at", "2025-01-10T12:00", "must come after the pledge deadline"),
    ],
)
def test_bad_campaign_fields_are_refused_with_their_reason(
    client: InProcessBrowser, store: CoalitionStore, field: str, value: str, message: str
) -> None:
    sign_in_coordinator(client, store)
    response = post(client, "/coordinator/campaigns", {**CAMPAIGN, field: value}, "/coordinator")
    assert response.status_code in (400, 409)
    assert message in response.text
    assert store.campaigns() == []


def test_malformed_requests_get_4xx_pages_not_500s(
    client: InProcessBrowser, store: CoalitionStore
) -> None:
    token = csrf(client)
    too_big = client.post(
        "/login",
        content=b"csrf=" + b"a" * 40_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert too_big.status_code == 413
    not_utf8 = client.post(
        "/login",
        content=b"csrf=" + token.encode() + b"&token=%ff%fe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 400
    json_body = client.post("/login", json={"token": "x"})
    assert json_body.status_code == 400
    twice = client.post(
        "/login",
        content=f"csrf={token}&token=a&token=b".encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert twice.status_code == 400
    assert client.get("/campaigns/nope").status_code == 404
    assert client.get("/campaigns/nope/board.json").json()["error"].startswith("there is no")
    assert client.put("/login").status_code == 405
    assert client.get("/invite/forged-token").status_code == 404


def test_pages_have_a_language_headings_labels_and_no_scripts(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore
) -> None:
    slug = create_open_campaign(client, store)
    for path in (
        "/",
        "/login",
        "/coordinator",
        f"/coordinator/campaigns/{slug}",
        f"/campaigns/{slug}",
        invite_link(client, slug),
    ):
        response = client.get(path)
        html = response.text
        assert '<html lang="en">' in html, path
        assert "<h1>" in html, path
        assert "<script" not in html, path
        for input_id in re.findall(r'<input id="([^"]+)"', html):
            assert f'for="{input_id}"' in html, (path, input_id)
        assert "script-src 'none'" in response.headers["content-security-policy"]


def test_the_atom_feed_is_valid_and_lists_the_departure_and_landings(
    app: CoalitionApp, client: InProcessBrowser, store: CoalitionStore, clock: Clock
) -> None:
    from departures.coalition.notify import Notifier

    slug = create_open_campaign(client, store)
    member = join(app, invite_link(client, slug), "Lander")
    store.update_organisation(
        store.organisations(store.campaign(slug).id)[0].id, bluesky_handle="lander.example.org"
    )
    post(member, "/member/pledge", {"kind": "unconditional"}, "/member")
    join(app, invite_link(client, slug), "Other")
    other_id = store.organisations(store.campaign(slug).id)[1].id
    store.pledge(other_id, 0)
    clock.now = START + timedelta(days=14, hours=4)
    Notifier(store, base_url="http://testserver").tick()
    post(member, "/member/landed", {}, "/member")
    feed = client.get(f"/campaigns/{slug}/feed.atom")
    assert feed.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in root.findall("a:entry", ns)]
    assert any("Lander landed on Bluesky" in (t or "") for t in titles)
    assert any("Departure" in (t or "") for t in titles)
    assert root.findtext("a:id", namespaces=ns) == f"tag:departures,2025:campaign/{slug}"
    data = client.get(f"/campaigns/{slug}/board.json").json()
    assert {o["name"]: o["status"] for o in data["organisations"]} == {
        "Lander": "landed",
        "Other": "departed",
    }


def test_a_draft_campaign_is_not_public(client: InProcessBrowser, store: CoalitionStore) -> None:
    sign_in_coordinator(client, store)
    response = post(client, "/coordinator/campaigns", CAMPAIGN, "/coordinator")
    slug = response.url.path.rsplit("/", 1)[1]
    assert client.get(f"/campaigns/{slug}/board.json").status_code == 404
    post(client, "/logout", {})
    assert client.get(f"/campaigns/{slug}").status_code == 404


def test_anonymous_board_readers_share_a_short_lived_copy_and_get_no_cookie(
    store: CoalitionStore,
) -> None:
    app = coalition_app(
        store,
        base_url="http://testserver",
        public_cache_seconds=60,
    )
    coordinator = new_client(app)
    slug = create_open_campaign(coordinator, store)
    member = join(app, invite_link(coordinator, slug), "Early")
    reader = new_client(app)
    first = reader.get(f"/campaigns/{slug}/board.json")
    assert "set-cookie" not in first.headers
    assert "set-cookie" not in reader.get(f"/campaigns/{slug}").headers
    post(member, "/member/pledge", {"kind": "unconditional"}, "/member")
    assert reader.get(f"/campaigns/{slug}/board.json").json()["organisations"] == []
    fresh = coordinator.get(f"/campaigns/{slug}/board.json").json()
    assert [o["name"] for o in fresh["organisations"]] == ["Early"]
    for c in _clients:
        c.close()
    _clients.clear()


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        (
            "edit",
            {"description": "ok", "starter_pack_url": "javascript:alert(1)"},
            "Starter pack link is not a web address",
        ),
        (
            "edit",
            {"description": "ok", "starter_pack_url": "http://bsky.app/starter-pack/x"},
            "The starter pack link must start with https://",
        ),
        ("edit", {"description": "\x00"}, "Description contains control characters"),
        ("invites", {"note": "n" * 201, "days": "14"}, "Who it is for is too long"),
        ("invites", {"note": "", "days": "365"}, "Valid for (days) must be from 1 to 90"),
    ],
)
def test_hostile_coordinator_forms_get_a_clear_400_and_change_nothing(
    client: InProcessBrowser, store: CoalitionStore, path: str, data: dict[str, str], message: str
) -> None:
    slug = create_open_campaign(client, store)
    page = f"/coordinator/campaigns/{slug}"
    before = store.campaign(slug)
    response = post(client, f"{page}/{path}", data, page)
    assert response.status_code == 400, response.text
    assert message in response.text
    assert store.campaign(slug) == before
    assert store.invites(before.id) == []


def test_a_forged_coordinator_token_or_member_key_is_refused(
    client: InProcessBrowser, store: CoalitionStore
) -> None:
    response = post(client, "/login", {"token": "<script>alert(1)</script>"}, "/login")
    assert response.status_code == 403
    assert "<script>alert(1)</script>" not in response.text
    response = post(client, "/member/sign-in", {"key": "guess"}, "/member/sign-in")
    assert response.status_code == 403
    assert client.get("/member").status_code == 403


def _write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU gettext catalogue, laid out as msgfmt writes it."""
    import struct

    catalogue = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(catalogue)
    ids = strs = b""
    entries = []
    for key in keys:
        k, v = key.encode(), catalogue[key].encode()
        entries.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    key_start = 7 * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    key_table = b"".join(struct.pack("<2I", n, o + key_start) for o, n, _, _ in entries)
    value_table = b"".join(struct.pack("<2I", n, o + value_start) for _, _, o, n in entries)
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    path.parent.mkdir(parents=True)
    path.write_bytes(header + key_table + value_table + ids + strs)


def test_pages_use_a_translation_catalogue_when_one_is_installed(
    store: CoalitionStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from departures import i18n

    _write_mo(
        tmp_path / "nl" / "LC_MESSAGES" / "departures.mo",
        {"Coordinator sign-in": "Aanmelden coördinator", "Sign in": "Aanmelden"},
    )
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n.translations.cache_clear()
    try:
        app = coalition_app(
            store,
            language="nl",
        )
        page = new_client(app).get("/login").text
    finally:
        i18n.translations.cache_clear()
        while _clients:
            _clients.pop().close()
    assert '<html lang="nl">' in page
    assert "<h1>Aanmelden coördinator</h1>" in page
    assert "Coordinator token" in page  # untranslated texts fall back to English


def test_one_address_sending_too_many_forms_gets_a_429_page(store: CoalitionStore) -> None:
    app = coalition_app(
        store,
        forms_per_minute=3,
    )
    guesser = new_client(app)
    try:
        statuses = [
            post(guesser, "/member/sign-in", {"key": f"guess-{n}"}, "/member/sign-in").status_code
            for n in range(4)
        ]
        last = post(guesser, "/member/sign-in", {"key": "again"}, "/member/sign-in")
    finally:
        while _clients:
            _clients.pop().close()
    assert statuses == [403, 403, 403, 429]
    assert "Too many forms sent from your address" in last.text
