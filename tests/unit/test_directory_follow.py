"""Follow all on the directory page, in-process: the kept Bluesky session (encrypted, 30
minutes, dropped on sign-out), the button, and the checks on the DIDs the form sends back
(tampered, too many, the visitor's own, missing CSRF, not signed in, expired session)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import Engine, select, update

from departures.bluesky.pds import InvalidWrites, Pds, RateLimited, StoredRecord
from departures.bluesky.records import FOLLOW
from departures.bluesky.session import StoredSession
from departures.coalition.directory import Directory
from departures.coalition.directory_follow import (
    MAX_FOLLOW_ALL,
    FollowOutcome,
    VisitorJournal,
    follow_all,
    writer_for,
)
from departures.coalition.errors import NotAllowed
from departures.coalition.store import CoalitionStore
from departures.coalition.store.schema import directory_sessions
from helpers.uploads import following_js
from helpers.web import InProcessBrowser, coalition_app

ALICE_DID = "did:plc:" + "a" * 24
ORG_DID = "did:plc:" + "c" * 24
OTHER_DID = "did:plc:" + "d" * 24
ACCESS = "access-jwt-that-must-stay-secret"
REFRESH = "refresh-jwt-that-must-stay-secret"
TOO_MANY = [f"did:plc:{i:024d}".replace("0", "a") for i in range(1001)]


class SessionSignIn:
    """Opens a (fake) session for alice.test with the password "right"."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        session = self.open_session(handle, password)
        return session.did, session.handle

    def open_session(self, handle: str, password: str) -> StoredSession:
        if handle != "alice.test" or password != "right":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return StoredSession(
            handle=handle,
            did=ALICE_DID,
            pds="http://127.0.0.1:9",
            service="http://127.0.0.1:9",
            access_jwt=ACCESS,
            refresh_jwt=REFRESH,
            logged_in_at="2026-01-01T00:00:00+00:00",
        )


class Browser(InProcessBrowser):
    """One visitor of the directory page (own cookie jar), in-process."""

    def csrf(self, page: str = "/directory") -> str:
        return super().csrf(page)

    def sign_in(self) -> httpx.Response:
        return self.sign_in_to_directory("alice.test", "right")

    def follow_all(self, dids: str, csrf: bool = True) -> httpx.Response:
        data = {"dids": dids, "csrf": self.csrf() if csrf else ""}
        # Multipart, as the page's form sends it (an empty file part forces it in httpx).
        return self.request("POST", "/directory/follow-all", data=data, files={"none": ("", b"")})


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    directory = Directory(engine)
    directory.register("500", "org_x", ORG_DID, "org.test", source="coordinator")
    directory.register("600", "other_x", OTHER_DID, "other.test")
    return CoalitionStore(engine)


@pytest.fixture
def browser(store: CoalitionStore) -> Iterator[Browser]:
    app = coalition_app(
        store,
        base_url="http://testserver",
        bluesky_sign_in=SessionSignIn(),
        forms_per_minute=1000,
    )
    browser = Browser(app)
    yield browser
    browser.close()


def test_the_session_is_kept_encrypted_out_of_cookie_and_page_and_dropped_on_sign_out(
    browser: Browser, store: CoalitionStore
) -> None:
    page = browser.sign_in()
    assert page.status_code == 200
    with store.engine.connect() as conn:
        rows = conn.execute(select(directory_sessions)).all()
    assert len(rows) == 1 and rows[0].did == ALICE_DID
    assert ACCESS not in rows[0].secret and REFRESH not in rows[0].secret
    expires = rows[0].expires_at.replace(tzinfo=rows[0].expires_at.tzinfo or UTC)
    assert expires <= datetime.now(UTC) + timedelta(minutes=30, seconds=5)
    cookies = json.dumps(dict(browser.client.cookies))
    assert ACCESS not in cookies and REFRESH not in cookies and ACCESS not in page.text

    browser.request("POST", "/directory/sign-out", data={"csrf": browser.csrf()})
    with store.engine.connect() as conn:
        assert conn.execute(select(directory_sessions)).all() == []


def test_the_reconnect_list_offers_follow_all_with_the_dids(browser: Browser) -> None:
    browser.sign_in()
    page = browser.request(
        "POST",
        "/directory/register",
        data={"csrf": browser.csrf(), "consent": "yes", "x_handle": "alice_x", "x_id": "1"},
        files={"following": ("following.js", following_js("500", "600", "999"))},
    )
    assert page.status_code == 200, page.text
    # Only proven pairs are followed in one go: 500 is vouched, 600 only declared.
    assert "Follow all 1 on Bluesky" in page.text
    hidden = re.search(r'name="dids" value="([^"]+)"', page.text)
    assert hidden and set(hidden.group(1).split()) == {ORG_DID}
    assert "cannot follow them for you" not in page.text
    assert f"https://bsky.app/profile/{ORG_DID}" in page.text  # the per-profile links stay


@pytest.mark.parametrize(
    ("dids", "message"),
    [
        (f"{ORG_DID} did:plc:{'e' * 24}", "not in the directory"),
        (f"{ORG_DID} did:plc:<script>", "was changed"),
        (f"{ORG_DID} https://evil.example", "was changed"),
        (f"{ORG_DID} {ALICE_DID}", "cannot follow yourself"),
        ("", "nobody to follow"),
        (" ".join(TOO_MANY), "can be followed at once"),
    ],
)
def test_tampered_dids_are_refused_before_any_write(
    browser: Browser, dids: str, message: str
) -> None:
    browser.sign_in()
    response = browser.follow_all(dids)
    assert response.status_code == 400
    assert message in response.text
    assert MAX_FOLLOW_ALL == 1000


def test_without_csrf_the_form_is_refused(browser: Browser) -> None:
    browser.sign_in()
    response = browser.follow_all(ORG_DID, csrf=False)
    assert response.status_code == 403 and "expired or did not come from this site" in response.text


def test_not_signed_in_is_refused(browser: Browser) -> None:
    response = browser.follow_all(ORG_DID)
    assert response.status_code == 403 and "with your Bluesky account first" in response.text


def test_an_expired_session_asks_to_sign_in_again(browser: Browser, store: CoalitionStore) -> None:
    browser.sign_in()
    with store.engine.begin() as conn:
        conn.execute(
            update(directory_sessions).values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    response = browser.follow_all(ORG_DID)
    assert response.status_code == 403
    assert "has expired" in response.text and "Sign in again" in response.text
    assert "Follow all" not in browser.request("GET", "/directory").text


class FakePds:
    """A repository in memory that can answer 429 or refuse one subject (all or nothing)."""

    def __init__(self, *, rate_limited: bool = False, refuse: str = "") -> None:
        self.did, self.handle = ALICE_DID, "alice.test"
        self.records: dict[str, str] = {}
        self.rate_limited, self.refuse = rate_limited, refuse
        self.requests = 0

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{self.did}/{collection}/{rkey}"

    def apply_writes(self, writes: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        self.requests += 1
        if self.rate_limited:
            raise RateLimited({})
        subjects = [w["value"]["subject"] for w in writes]
        if self.refuse in subjects:
            raise InvalidWrites("InvalidRequest: bad subject", subjects.index(self.refuse))
        for write in writes:
            if write["rkey"] in self.records:
                raise InvalidWrites("InvalidRequest: record already exists", None)
        for write in writes:
            self.records[write["rkey"]] = write["value"]["subject"]
        return [{"uri": self.uri(FOLLOW, w["rkey"]), "cid": "bafy"} for w in writes], {}

    def get_record(self, collection: str, rkey: str) -> StoredRecord | None:
        subject = self.records.get(rkey)
        if subject is None:
            return None
        return StoredRecord(self.uri(collection, rkey), "bafy", {"subject": subject})

    def existing(self, _pds: Any) -> dict[str, str]:
        return {subject: self.uri(FOLLOW, rkey) for rkey, subject in self.records.items()}


def press(store: CoalitionStore, pds: FakePds, dids: list[str]) -> FollowOutcome:
    journal = VisitorJournal(store.engine, ALICE_DID)
    writer = writer_for(cast(Pds, pds), journal)
    return follow_all(writer, dids, lambda: "2026-01-01T00:00:00.000Z", pds.existing)


SUBJECTS = [ORG_DID, OTHER_DID, "did:plc:" + "f" * 24]


def test_a_refused_follow_is_counted_and_pressing_again_duplicates_nothing(
    store: CoalitionStore,
) -> None:
    pds = FakePds(refuse=OTHER_DID)
    first = press(store, pds, SUBJECTS)
    assert (first.followed, first.already, first.refused, first.stopped) == (2, 0, 1, "")
    assert sorted(pds.records.values()) == sorted([ORG_DID, SUBJECTS[2]])
    again = press(store, pds, SUBJECTS)
    assert (again.followed, again.already, again.refused) == (0, 2, 1)
    assert len(pds.records) == 2


def test_a_429_stops_with_a_message_and_the_next_press_waits_for_the_reset(
    store: CoalitionStore,
) -> None:
    pds = FakePds(rate_limited=True)
    first = press(store, pds, SUBJECTS)
    assert first.followed == 0 and "slow down" in first.stopped
    assert pds.records == {} and pds.requests == 1
    assert VisitorJournal(store.engine, ALICE_DID).open_batches() == []  # nothing in doubt
    again = press(store, pds, SUBJECTS)
    assert "slow down" in again.stopped and pds.requests == 1  # no request before the reset
