"""Server-side sessions: an opaque cookie, sign-out that ends the session (a replayed cookie
opens nothing), sign out everywhere, expiry purged by the scheduler, ``Secure`` over https;
revocation of invitations, member keys and coordinator tokens in the pages and the CLI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore
from departures.coalition.store import access as access_rows
from departures.coalition.store.schema import web_sessions
from departures.coalition.web import CoalitionApp
from departures.coalition.web.sessions import ANONYMOUS_PER_HOUR
from departures.commands.coalition import coalition
from helpers.access import Browser, campaign_with_member
from helpers.stores import ON_BOTH_STORES

# Every case runs on SQLite and again on the session's PostgreSQL.
pytestmark = ON_BOTH_STORES


@pytest.fixture
def db_url(engine: Engine) -> str:
    """The store's URL, for the CLI (which opens its own engine)."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The store on real time (sessions expire by the wall clock here)."""
    return CoalitionStore(engine)


def make_app(store: CoalitionStore, base_url: str = "http://testserver") -> CoalitionApp:
    return CoalitionApp(
        store,
        secret_key=b"a test secret that is long enough",
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url=base_url,
        forms_per_minute=1000,
    )


@pytest.fixture
def app(store: CoalitionStore) -> CoalitionApp:
    return make_app(store)


def browser(app: CoalitionApp, opened: list[Browser], base: str = "http://testserver") -> Browser:
    made = Browser(app, base)
    opened.append(made)
    return made


def member_signs_in(b: Browser, key: str) -> None:
    response = b.post("/member/sign-in", data={"csrf": b.csrf("/member/sign-in"), "key": key})
    assert response.status_code == 200 and "Member NGO" in response.text, response.text


def coordinator_signs_in(b: Browser, token: str) -> None:
    response = b.post("/login", data={"csrf": b.csrf("/login"), "token": token})
    assert response.status_code == 200 and "Campaigns of" in response.text, response.text


def with_cookie(app: CoalitionApp, opened: list[Browser], cookie: str) -> Browser:
    """A new browser that replays a copied cookie."""
    thief = browser(app, opened)
    thief.http.cookies.set("departures_session", cookie, domain="testserver.local")
    return thief


def test_the_cookie_holds_an_opaque_id_and_the_store_only_its_hash(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, _t, _slug, organisation, key = campaign_with_member(store)
    b = browser(app, browsers)
    member_signs_in(b, key)
    cookie = b.cookie()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie)  # 256 random bits, nothing readable
    with store.engine.connect() as conn:
        rows = conn.execute(select(web_sessions)).all()
    assert all(cookie not in str(tuple(row)) for row in rows)
    assert [row.organisation_id for row in rows if row.organisation_id] == [organisation.id]


def test_a_cookie_replayed_after_sign_out_opens_nothing(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, token, _slug, _organisation, key = campaign_with_member(store)
    member = browser(app, browsers)
    member_signs_in(member, key)
    copied = member.cookie()
    assert with_cookie(app, browsers, copied).get("/member").status_code == 200

    member.post("/logout", data={"csrf": member.csrf("/member")})
    assert member.get("/member").status_code == 403
    assert with_cookie(app, browsers, copied).get("/member").status_code == 403

    coordinator = browser(app, browsers)
    coordinator_signs_in(coordinator, token)
    copied = coordinator.cookie()
    coordinator.post("/logout", data={"csrf": coordinator.csrf("/coordinator")})
    assert with_cookie(app, browsers, copied).get("/coordinator").status_code == 403


def test_signing_in_starts_a_new_session_id(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, _t, _slug, _organisation, key = campaign_with_member(store)
    b = browser(app, browsers)
    b.csrf("/member/sign-in")
    before = b.cookie()  # an anonymous session (for the form's CSRF token), fixed by anyone
    member_signs_in(b, key)
    assert b.cookie() != before
    assert with_cookie(app, browsers, before).get("/member").status_code == 403


def test_sign_out_everywhere_ends_the_sessions_of_every_device(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, token, _slug, _organisation, key = campaign_with_member(store)
    laptop, phone = browser(app, browsers), browser(app, browsers)
    member_signs_in(laptop, key)
    member_signs_in(phone, key)
    phone.post("/member/sign-out-everywhere", data={"csrf": phone.csrf("/member")})
    assert laptop.get("/member").status_code == 403
    assert phone.get("/member").status_code == 403

    office, home = browser(app, browsers), browser(app, browsers)
    coordinator_signs_in(office, token)
    coordinator_signs_in(home, token)
    home.post("/coordinator/sign-out-everywhere", data={"csrf": home.csrf("/coordinator")})
    assert office.get("/coordinator").status_code == 403


def test_expired_sessions_are_refused_and_purged_by_the_scheduler(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, _t, _slug, _organisation, key = campaign_with_member(store)
    b = browser(app, browsers)
    member_signs_in(b, key)
    past = datetime.now(UTC) - timedelta(seconds=1)
    with store.engine.begin() as conn:
        conn.execute(web_sessions.update().values(expires_at=past))
    assert b.get("/member").status_code == 403
    report = Notifier(store, base_url="http://testserver").tick()
    assert report.purged >= 1
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 0


def test_the_cookie_is_secure_over_https(store: CoalitionStore, browsers: list[Browser]) -> None:
    _c, _t, _slug, _organisation, key = campaign_with_member(store)
    # The base URL says http (a proxy in front may be configured later): the request's own
    # scheme decides.
    app = make_app(store, base_url="http://coalition.example.org")
    b = browser(app, browsers, "https://coalition.example.org")
    response = b.post(
        "/member/sign-in",
        data={"csrf": b.csrf("/member/sign-in"), "key": key},
        follow_redirects=False,
    )
    assert "secure" in response.headers["set-cookie"].lower()
    plain = browser(app, browsers, "http://coalition.example.org")
    response = plain.post(
        "/member/sign-in",
        data={"csrf": plain.csrf("/member/sign-in"), "key": key},
        follow_redirects=False,
    )
    assert "secure" not in response.headers["set-cookie"].lower()
    assert plain.cookie()


def test_the_coordinator_revokes_an_invitation_and_resets_a_member_key(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    coordinator_id, token, slug, organisation, key = campaign_with_member(store)
    invite = store.create_invite(slug, coordinator_id, "Another NGO")
    member = browser(app, browsers)
    member_signs_in(member, key)

    office = browser(app, browsers)
    coordinator_signs_in(office, token)
    page = f"/coordinator/campaigns/{slug}"
    (unused,) = [i for i in store.invites(store.campaign(slug).id) if i.used_at is None]
    office.post(f"{page}/invites/{unused.id}/revoke", data={"csrf": office.csrf(page)})
    assert browser(app, browsers).get(f"/invite/{invite}").status_code == 404

    reset = office.post(
        f"{page}/members/{organisation.id}/reset-key", data={"csrf": office.csrf(page)}
    )
    assert reset.headers["cache-control"] == "no-store"
    found = re.search(r'value="([^"]+)" size="50" id="new-member-key"', reset.text)
    assert found
    new_key = found.group(1)
    assert member.get("/member").status_code == 403  # its session ended with the old key
    assert store.organisation_by_key(key) is None
    assert store.organisation_by_key(new_key) is not None


def test_a_coordinator_replaces_its_token_and_other_sessions_end(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    _c, token, _slug, _organisation, _key = campaign_with_member(store)
    office, home = browser(app, browsers), browser(app, browsers)
    coordinator_signs_in(office, token)
    coordinator_signs_in(home, token)
    replaced = office.post("/coordinator/token", data={"csrf": office.csrf("/coordinator")})
    found = re.search(r'value="([^"]+)" size="50" id="new-token"', replaced.text)
    assert found
    assert replaced.headers["cache-control"] == "no-store"
    assert office.get("/coordinator").status_code == 200  # this browser goes on
    assert home.get("/coordinator").status_code == 403
    assert store.coordinator_by_token(token) is None
    assert store.coordinator_by_token(found.group(1)) is not None


def test_the_cli_revokes_invitations_keys_and_tokens(
    store: CoalitionStore, db_url: str, app: CoalitionApp, browsers: list[Browser]
) -> None:
    coordinator_id, token, slug, organisation, key = campaign_with_member(store)
    invite = store.create_invite(slug, coordinator_id, "Another NGO")
    runner = CliRunner()
    env = {"DEPARTURES_COALITION_TOKEN": token}

    revoked = runner.invoke(
        coalition,
        ["revoke-invite", "--db", db_url, slug, f"https://coalition.example.org/invite/{invite}"],
        env=env,
    )
    assert revoked.exit_code == 0, revoked.output
    assert access_rows.invite_of_token(store.engine, invite) is None
    again = runner.invoke(coalition, ["revoke-invite", "--db", db_url, slug, invite], env=env)
    assert again.exit_code == 1 and "no unused invitation" in again.output

    member = browser(app, browsers)
    member_signs_in(member, key)
    reset = runner.invoke(
        coalition, ["member", "reset-key", "--db", db_url, slug, str(organisation.id)], env=env
    )
    assert reset.exit_code == 0, reset.output
    new_key = reset.output.strip().splitlines()[-1]
    assert store.organisation_by_key(new_key) is not None
    assert member.get("/member").status_code == 403

    office = browser(app, browsers)
    coordinator_signs_in(office, token)
    listed = runner.invoke(coalition, ["coordinator", "list", "--db", db_url])
    assert listed.output.strip() == f"{coordinator_id}\tCoalition office"
    revoked = runner.invoke(
        coalition, ["coordinator", "revoke", "--db", db_url, str(coordinator_id)]
    )
    assert revoked.exit_code == 0, revoked.output
    assert token not in revoked.output and store.coordinator_by_token(token) is None
    assert office.get("/coordinator").status_code == 403


def test_a_flood_of_form_pages_from_one_address_stores_a_bounded_number_of_sessions(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    def sessions_stored() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(web_sessions)).scalar_one())

    # Each cookieless GET of a page with a form would start a new anonymous session.
    flood = Browser(app, client=("198.51.100.7", 1))
    browsers.append(flood)
    for _ in range(ANONYMOUS_PER_HOUR + 30):
        flood.http.cookies.clear()
        assert flood.get("/member/sign-in").status_code == 200
    assert sessions_stored() == ANONYMOUS_PER_HOUR
    # Another address is not held back by the first one's flood.
    other = Browser(app, client=("203.0.113.9", 1))
    browsers.append(other)
    assert other.get("/member/sign-in").status_code == 200
    assert other.cookie()
    assert sessions_stored() == ANONYMOUS_PER_HOUR + 1
