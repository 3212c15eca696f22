"""Erasure that erases: after a person withdraws from the directory, or an organisation deletes
its data, a scan of every table of the store (all of ``store/schema.py``'s metadata) finds
nothing that names them; the kept Bluesky sessions are revoked at the PDS first, and a PDS
that fails does not keep the local deletion from happening. An organisation's export holds
what it may download first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from sqlalchemy import Engine, func, select

from departures.bluesky.budget import WriteKind
from departures.bluesky.session import StoredSession
from departures.bluesky.writer import Write, WriteResult
from departures.coalition.errors import NotAllowed
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.notify import Notifier
from departures.coalition.reconnect import Reconnect
from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store.schema import metadata
from departures.coalition.store.write_journal import CoalitionJournal, VisitorJournal
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.coalition.web import CoalitionApp
from helpers.access import Browser, campaign_with_member, rows_naming
from helpers.stores import ON_BOTH_STORES
from helpers.web import coalition_app

SECRET = b"a test secret that is long enough"
DID = "did:plc:" + "w" * 24  # the person who withdraws
HANDLE = "withdrawing.example"
X_ID = "918273645"
OTHER_DID = "did:plc:" + "o" * 24
MEMBER_DID = "did:plc:" + "m" * 24
FOLLOW = "app.bsky.graph.follow"


def stored(did: str, handle: str) -> StoredSession:
    return StoredSession(
        handle=handle,
        did=did,
        pds="https://pds.example",
        service="https://pds.example",
        access_jwt=f"access-{did}",
        refresh_jwt=f"refresh-{did}",
        logged_in_at=datetime.now(UTC).isoformat(),
    )


class FakeSignIn:
    """Opens sessions for known accounts; records revocations (and can fail them)."""

    accounts: ClassVar[dict[str, str]] = {HANDLE: DID, "other.example": OTHER_DID}

    def __init__(self) -> None:
        self.revoked: list[str] = []
        self.pds_down = False

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        session = self.open_session(handle, password)
        return session.did, session.handle

    def open_session(self, handle: str, password: str) -> StoredSession:
        if handle not in self.accounts or password != "right":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return stored(self.accounts[handle], handle)

    def revoke(self, session: StoredSession) -> bool:
        if self.pds_down:
            return False
        self.revoked.append(session.refresh_jwt)
        return True


# Every scan runs on SQLite and again on the session's PostgreSQL.
pytestmark = ON_BOTH_STORES


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The store on real time (sessions and journals expire by the wall clock here)."""
    return CoalitionStore(engine)


@pytest.fixture
def sign_in() -> FakeSignIn:
    return FakeSignIn()


@pytest.fixture
def app(store: CoalitionStore, sign_in: FakeSignIn) -> CoalitionApp:
    return coalition_app(
        store,
        secret_key=SECRET,
        base_url="http://testserver",
        bluesky_sign_in=sign_in,
        forms_per_minute=1000,
    )


def visitor(app: CoalitionApp, opened: list[Browser], handle: str) -> Browser:
    browser = Browser(app)
    opened.append(browser)
    response = browser.post(
        "/directory/sign-in",
        data={"csrf": browser.csrf("/directory"), "handle": handle, "password": "right"},
    )
    assert response.status_code == 200 and f"@{handle}" in response.text, response.text
    return browser


def register(browser: Browser, x_handle: str, x_id: str) -> None:
    response = browser.post(
        "/directory/register",
        data={
            "csrf": browser.csrf("/directory"),
            "consent": "yes",
            "x_handle": x_handle,
            "x_id": x_id,
        },
        files={"archive": ("", b"")},
    )
    assert response.status_code == 200, response.text


def journal_naming(store: CoalitionStore, account_id: int, did: str) -> None:
    """A settled batch of a member's account that followed ``did`` (reconnect's follow)."""
    journal = CoalitionJournal(store.engine, account_id)
    write = Write(f"follow:{did}", WriteKind.CREATE, FOLLOW, "3kfollowrkey1")
    other = Write(f"follow:{OTHER_DID}", WriteKind.CREATE, FOLLOW, "3kfollowrkey2")
    batch = journal.begin_batch([write, other])
    journal.finish_batch(
        batch,
        [
            WriteResult(write, f"at://{MEMBER_DID}/{FOLLOW}/3kfollowrkey1", "bafy1"),
            WriteResult(other, f"at://{MEMBER_DID}/{FOLLOW}/3kfollowrkey2", "bafy2"),
        ],
        {},
    )


def visitor_journal(store: CoalitionStore, follower: str, subject: str) -> None:
    """A settled follow-all batch of ``follower`` that followed ``subject``."""
    journal = VisitorJournal(store.engine, follower)
    write = Write(f"follow:{subject}", WriteKind.CREATE, FOLLOW, "3kvisitorrkey")
    batch = journal.begin_batch([write])
    journal.finish_batch(batch, [WriteResult(write, f"at://{follower}/{FOLLOW}/x", "bafy")], {})


def member_account(store: CoalitionStore, organisation: Organisation) -> int:
    sessions = AccountSessions(
        store.engine,
        Vault(SECRET),
        organisation_owner(organisation.id),
        campaign_id=organisation.campaign_id,
        organisation_id=organisation.id,
    )
    sessions.put(stored(MEMBER_DID, "member.example"))
    account = sessions.account()
    assert account is not None
    return account.id


def counts(store: CoalitionStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar() or 0)
            for table in metadata.sorted_tables
        }


def test_withdrawal_leaves_nothing_that_names_the_person_in_any_table(
    store: CoalitionStore, app: CoalitionApp, sign_in: FakeSignIn, browsers: list[Browser]
) -> None:
    _c, _t, _slug, member, _key = campaign_with_member(store, did=MEMBER_DID)
    # The member followed the person (and someone else) on X and asked for reconnect.
    Reconnect(store).save_followings(member, {X_ID, "111222333"})
    person = visitor(app, browsers, HANDLE)
    register(person, "withdrawing_x", X_ID)
    other = visitor(app, browsers, "other.example")
    register(other, "other_x", "111222333")
    # The scheduler proposes both to the member, in one e-mail queued in the outbox.
    Notifier(store, base_url="http://testserver").tick()
    # Follow journals: the member's account followed the person; the person followed the
    # other visitor with "Follow all"; the other visitor followed the person.
    journal_naming(store, member_account(store, member), DID)
    visitor_journal(store, DID, OTHER_DID)
    visitor_journal(store, OTHER_DID, DID)
    second_device = visitor(app, browsers, HANDLE)

    before = rows_naming(store.engine, DID, X_ID, HANDLE)
    for table in (
        "directory_entries",
        "directory_sessions",
        "web_sessions",
        "reconnect_followings",
        "reconnect_proposals",
        "outbox",
        "bluesky_records",
        "bluesky_batches",
        "directory_follow_batches",
    ):
        assert any(found.startswith(f"{table}.") for found in before), (table, before)

    withdrawn = person.post("/directory/withdraw", data={"csrf": person.csrf("/directory")})
    assert withdrawn.status_code == 200
    assert "1 entry was deleted" in withdrawn.text

    assert rows_naming(store.engine, DID, X_ID, HANDLE) == []
    # Both kept Bluesky sessions of the person were revoked at the PDS.
    assert sign_in.revoked == [f"refresh-{DID}", f"refresh-{DID}"]
    # Signed out on every device.
    assert second_device.get("/directory").text.count("Sign in with Bluesky") >= 1
    # What names only others is untouched: the other's pair, proposal, e-mail line, journal.
    after = counts(store)
    assert after["directory_entries"] == 1 and after["reconnect_proposals"] == 1
    (mail,) = store.outbox()
    assert "other.example" in mail["body"]
    with store.engine.connect() as conn:
        assert "follow:did:plc:ooo" in json.dumps(
            [dict(r._mapping) for r in conn.execute(select(metadata.tables["bluesky_records"]))],
            default=str,
        )


def test_a_pds_that_fails_to_revoke_does_not_block_the_withdrawal(
    store: CoalitionStore, app: CoalitionApp, sign_in: FakeSignIn, browsers: list[Browser]
) -> None:
    person = visitor(app, browsers, HANDLE)
    register(person, "withdrawing_x", X_ID)
    sign_in.pds_down = True
    withdrawn = person.post("/directory/withdraw", data={"csrf": person.csrf("/directory")})
    assert withdrawn.status_code == 200
    assert rows_naming(store.engine, DID, X_ID, HANDLE) == []


def test_sign_out_revokes_the_kept_session_at_the_pds(
    store: CoalitionStore, app: CoalitionApp, sign_in: FakeSignIn, browsers: list[Browser]
) -> None:
    person = visitor(app, browsers, HANDLE)
    person.post("/directory/sign-out", data={"csrf": person.csrf("/directory")})
    assert sign_in.revoked == [f"refresh-{DID}"]
    assert counts(store)["directory_sessions"] == 0


def test_an_organisation_exports_then_deletes_everything_about_it(
    store: CoalitionStore, app: CoalitionApp, browsers: list[Browser]
) -> None:
    email = "comms@erased-member.example"
    _c, _t, slug, member, key = campaign_with_member(store, email=email, did=MEMBER_DID)
    store.pledge(member.id, 0)
    Reconnect(store).save_followings(member, {X_ID})
    store.queue(member.campaign_id, "reminder", [(email, "email", "Reminder", "Dear Member NGO")])
    # The member in the directory (as a coordinator adds it), and its account's journal.
    from departures.coalition.directory import Directory

    Directory(store.engine).register(
        "55555", "member_ngo", MEMBER_DID, "member.example", source="coordinator"
    )
    journal_naming(store, member_account(store, member), OTHER_DID)
    browser = Browser(app)
    browsers.append(browser)
    signed = browser.post(
        "/member/sign-in", data={"csrf": browser.csrf("/member/sign-in"), "key": key}
    )
    assert signed.status_code == 200

    export = browser.get("/member/export.json")
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    data = export.json()
    assert data["organisation"]["email"] == email
    assert data["x_following_ids"] == [X_ID]
    assert len(data["pledges"]) == 1 and len(data["bluesky_records"]) == 2
    assert "secret" not in data["bluesky_account"][0] and "key_hash" not in data["organisation"]

    names = (email, MEMBER_DID, "Member NGO", "member_ngo", "member.example")
    assert rows_naming(store.engine, *names, member.id, id_columns=("organisation_id",))
    refused = browser.post("/member/delete", data={"csrf": browser.csrf("/member")})
    assert refused.status_code == 400  # the confirmation box is required
    deleted = browser.post("/member/delete", data={"csrf": browser.csrf("/member"), "confirm": "1"})
    assert deleted.status_code == 200

    assert rows_naming(store.engine, *names, member.id, id_columns=("organisation_id",)) == []
    with store.engine.connect() as conn:
        owners = list(conn.execute(select(metadata.tables["bluesky_accounts"].c.owner)).scalars())
    assert organisation_owner(member.id) not in owners
    assert browser.get("/member").status_code == 403
    assert store.campaign(slug).id == member.campaign_id  # the campaign itself stays


def test_deleting_an_organisation_revokes_its_bluesky_session_first(
    store: CoalitionStore, browsers: list[Browser], monkeypatch: pytest.MonkeyPatch
) -> None:
    from departures.coalition import handles
    from departures.coalition.departure import DepartureDay

    revoked: list[str] = []

    def revoke(session: StoredSession, guard: object) -> bool:
        revoked.append(session.refresh_jwt)
        return False  # the PDS does not answer: the data goes all the same

    monkeypatch.setattr(handles, "revoke_session", revoke)
    _c, _t, _slug, member, key = campaign_with_member(store, did=MEMBER_DID)
    member_account(store, member)
    app = CoalitionApp(
        store,
        secret_key=SECRET,
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url="http://testserver",
        departure=DepartureDay(store, Vault(SECRET), "http://127.0.0.1:9"),
    )
    browser = Browser(app)
    browsers.append(browser)
    browser.post("/member/sign-in", data={"csrf": browser.csrf("/member/sign-in"), "key": key})
    deleted = browser.post("/member/delete", data={"csrf": browser.csrf("/member"), "confirm": "1"})
    assert deleted.status_code == 200
    assert revoked == [f"refresh-{MEMBER_DID}"]
    names = (MEMBER_DID, "Member NGO", "comms@member.example")
    assert rows_naming(store.engine, *names, member.id, id_columns=("organisation_id",)) == []
