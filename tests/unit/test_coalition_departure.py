"""Departure day and list sync, the parts without a network: the welcome text's limits,
record keys, placing members in packs, the vault, the writer's journal in the coalition store
and the member page's welcome form, these two on SQLite and PostgreSQL (real Bluesky writes:
tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from departures.bluesky.budget import WriteBudget, WriteKind
from departures.bluesky.records import decode_tid
from departures.bluesky.session import StoredSession
from departures.bluesky.writer import Write, WriteResult
from departures.coalition.departure import DepartureDay, check_welcome_text, welcome_rkey
from departures.coalition.errors import BadInput
from departures.coalition.listsync import (
    LIST_NAME_BYTES,
    CoalitionLists,
    item_rkey,
    list_rkey,
    pack_record,
    pack_rkey,
    place_members,
    starter_pack_link,
)
from departures.coalition.listsync import list_record as make_list_record
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store.write_journal import CoalitionJournal
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.coalition.web import CoalitionApp
from departures.errors import BlueskyError
from departures.migrate.richtext import grapheme_count
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.stores import ON_BOTH_STORES
from helpers.web import InProcessBrowser, coalition_app

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


def campaign_and_member(store: CoalitionStore) -> tuple[Campaign, Organisation, str]:
    coordinator, campaign = open_campaign(store, start=START, title="Leave X together")
    organisation, key = join(
        store,
        campaign.slug,
        coordinator,
        "Org",
        bluesky_handle="org.test",
        bluesky_did="did:plc:org",
    )
    return store.campaign(campaign.slug), organisation, key


# --- the welcome text and record keys ------------------------------------------------------


def test_a_welcome_text_of_300_graphemes_passes_and_301_is_refused() -> None:
    accented = "e\u0301"  # one grapheme, two code points
    assert check_welcome_text(f"  {accented * 300}  ") == accented * 300
    with pytest.raises(BadInput, match="too long"):
        check_welcome_text(accented * 301)
    with pytest.raises(BadInput, match="too long"):
        check_welcome_text("👨‍👩‍👧" * 200)  # 200 graphemes, but over the 3000 bytes
    with pytest.raises(BadInput, match="empty"):
        check_welcome_text("   ")


def test_welcome_keys_are_tids_stable_per_member_and_distinct_between_members(
    store: CoalitionStore,
) -> None:
    campaign, organisation, _ = campaign_and_member(store)
    key = welcome_rkey(campaign, organisation.id)
    assert key == welcome_rkey(campaign, organisation.id)
    micros, clock_id = decode_tid(key)
    assert micros == int(campaign.departure_at.timestamp() * 1_000_000)
    assert clock_id == organisation.id
    assert len({welcome_rkey(campaign, i) for i in range(1, 3000)}) == 2999


def test_list_pack_and_item_keys_never_collide(store: CoalitionStore) -> None:
    campaign, _, _ = campaign_and_member(store)
    keys = [list_rkey(campaign, i) for i in range(5)] + [pack_rkey(campaign, i) for i in range(5)]
    keys += [item_rkey(campaign, member, i) for member in range(1, 400) for i in range(3)]
    assert len(keys) == len(set(keys))
    for key in keys:
        decode_tid(key)  # valid TIDs, as the lexicons ask


def test_list_and_pack_names_respect_the_lexicon_limits(store: CoalitionStore) -> None:
    campaign, _, _ = campaign_and_member(store)
    long = Campaign(**{**campaign.__dict__, "title": "Ébène " * 40, "description": "x" * 900})
    listed = make_list_record(long, 3, "2025-01-01T00:00:00.000Z")
    assert len(str(listed["name"]).encode()) <= LIST_NAME_BYTES
    assert str(listed["name"]).endswith(" (4)")
    pack = pack_record(long, 0, "at://did:plc:x/app.bsky.graph.list/k", "2025-01-01T00:00:00.000Z")
    assert grapheme_count(str(pack["name"])) <= 50
    assert grapheme_count(str(pack["description"])) <= 300
    assert pack["list"] == "at://did:plc:x/app.bsky.graph.list/k"


def test_starter_pack_links_go_to_bsky_app_except_in_a_sandbox() -> None:
    uri = "at://did:plc:abc/app.bsky.graph.starterpack/3kabc"
    assert starter_pack_link(uri, "office.bsky.social") == (
        "https://bsky.app/starter-pack/office.bsky.social/3kabc"
    )
    assert starter_pack_link(uri, "office1.test") == uri


# --- placing members in packs ------------------------------------------------------------


def test_members_keep_their_pack_and_newcomers_fill_the_first_with_room() -> None:
    assert place_members([1, 2, 3], {}, capacity=2) == {1: 0, 2: 0, 3: 1}
    # 1 left pack 0: the newcomer 4 takes its place, 3 stays in pack 1.
    assert place_members([2, 3, 4], {2: [0], 3: [1]}, capacity=2) == {2: 0, 3: 1, 4: 0}
    # A member found in two lists (a crash, a hand edit) is kept in the first only.
    assert place_members([5], {5: [1, 0]}, capacity=2) == {5: 0}
    with pytest.raises(ValueError):
        place_members([1], {}, capacity=0)


# --- secrets at rest ---------------------------------------------------------------------


def test_the_vault_round_trips_and_a_changed_key_is_a_clear_error() -> None:
    token = Vault(b"one key").encrypt("refresh-token-value")
    assert "refresh-token-value" not in token
    assert Vault(b"one key").decrypt(token) == "refresh-token-value"
    with pytest.raises(BlueskyError, match="cannot be decrypted"):
        Vault(b"another key").decrypt(token)
    assert "one key" not in repr(Vault(b"one key"))


def test_a_session_is_stored_encrypted_and_comes_back_whole(
    store: CoalitionStore, tmp_path: Path
) -> None:
    campaign, organisation, _ = campaign_and_member(store)
    sessions = AccountSessions(
        store.engine,
        Vault(b"k"),
        organisation_owner(organisation.id),
        campaign_id=campaign.id,
        organisation_id=organisation.id,
    )
    saved = StoredSession(
        "org.test", "did:plc:org", "http://pds", "http://pds", "ACCESS-JWT", "REFRESH-JWT", "t"
    )
    sessions.put(saved)
    sessions.put(saved)  # a refresh writes it again: still one account
    assert sessions.get() == saved
    account = sessions.account()
    assert account is not None and account.connected and account.handle == "org.test"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("coalition.db*"))
    assert b"REFRESH-JWT" not in raw and b"ACCESS-JWT" not in raw
    sessions.remove()
    assert sessions.get() is None


# --- the writer's journal ------------------------------------------------------------------


@ON_BOTH_STORES
def test_the_journal_keeps_open_batches_results_and_the_budget(store: CoalitionStore) -> None:
    campaign, _organisation, _ = campaign_and_member(store)
    sessions = AccountSessions(store.engine, Vault(b"k"), "campaign:1", campaign_id=campaign.id)
    sessions.put(StoredSession("o.test", "did:plc:o", "p", "s", "a", "r", "t"))
    account = sessions.account()
    assert account is not None
    journal = CoalitionJournal(store.engine, account.id)
    first = Write.create("item:1", "app.bsky.graph.listitem", "3kaaa", {"subject": "did:plc:x"})
    second = Write.delete("item:2", "app.bsky.graph.listitem", "3kbbb")
    batch = journal.begin_batch([first, second])
    assert journal.open_batches() == [(batch, [first, second])]
    budget = WriteBudget()
    budget.commit(1, 0, 1)
    result = WriteResult(first, "at://did:plc:o/app.bsky.graph.listitem/3kaaa", "bafy", False)
    journal.finish_batch(batch, [result], budget.to_dict())
    assert journal.open_batches() == []
    last = journal.last("item:")
    assert set(last) == {"item:1"} and last["item:1"].action is WriteKind.CREATE
    assert journal.load_budget() == budget.to_dict()
    refused = journal.begin_batch([second])
    journal.abandon_batch(refused, "InvalidRequest: nope", budget.to_dict())
    assert journal.open_batches() == []
    assert journal.last("item:2") == {}


# --- the member page -----------------------------------------------------------------------


def member_browser(app: CoalitionApp, key: str) -> InProcessBrowser:
    browser = InProcessBrowser(app)
    assert browser.submit("/member/sign-in", {"key": key}, "/member/sign-in").status_code == 200
    return browser


@ON_BOTH_STORES
def test_the_member_page_refuses_a_welcome_text_over_300_characters(
    store: CoalitionStore,
) -> None:
    _campaign, organisation, key = campaign_and_member(store)
    # A closed port: any login attempt would fail; the length is checked before it.
    day = DepartureDay(store, Vault(b"k"), "http://127.0.0.1:9")
    app = coalition_app(
        store,
        departure=day,
    )
    browser = member_browser(app, key)
    try:
        page = browser.request("GET", "/member")
        assert "Welcome post on Bluesky" in page.text
        response = browser.submit(
            "/member/welcome", {"welcome_text": "a" * 301, "opted_in": "1"}, "/member"
        )
        assert response.status_code == 400
        assert "too long" in response.text.lower()
        response = browser.submit(
            "/member/welcome", {"welcome_text": "Hello", "opted_in": "1"}, "/member"
        )
        assert response.status_code == 400
        assert "connect your bluesky account" in response.text.lower()
        saved = browser.submit("/member/welcome", {"welcome_text": "Hello soon"}, "/member")
        assert saved.status_code == 200 and "Hello soon" in saved.text
        assert day.welcome(organisation).opted_in is False
    finally:
        browser.close()


def test_without_bluesky_writes_the_welcome_form_is_absent_and_refused(
    store: CoalitionStore,
) -> None:
    _campaign, _organisation, key = campaign_and_member(store)
    app = coalition_app(store)
    browser = member_browser(app, key)
    try:
        assert "Welcome post on Bluesky" not in browser.request("GET", "/member").text
        response = browser.submit("/member/welcome", {"welcome_text": "Hi"}, "/member")
        assert response.status_code == 403
    finally:
        browser.close()


def test_the_board_link_follows_the_pack_unless_the_coordinator_set_its_own(
    store: CoalitionStore,
) -> None:
    campaign, _organisation, _ = campaign_and_member(store)
    lists = CoalitionLists(store, Vault(b"k"), "http://127.0.0.1:9")
    pack = "at://did:plc:office/app.bsky.graph.starterpack/3kpack"
    lists._record(campaign, "at://l", pack, "at://m", "office.bsky.social")
    linked = store.campaign(campaign.slug).starter_pack_url
    assert linked == "https://bsky.app/starter-pack/office.bsky.social/3kpack"
    # The coordinator's handle changed: the automatic link follows.
    lists._record(store.campaign(campaign.slug), "at://l", pack, "at://m", "new.bsky.social")
    linked = store.campaign(campaign.slug).starter_pack_url
    assert linked == "https://bsky.app/starter-pack/new.bsky.social/3kpack"
    # A link the coordinator typed is never overwritten.
    store.update_campaign(
        campaign.slug, campaign.coordinator_id, starter_pack_url="https://example.org/pack"
    )
    lists._record(store.campaign(campaign.slug), "at://l", pack, "at://m", "new.bsky.social")
    assert store.campaign(campaign.slug).starter_pack_url == "https://example.org/pack"
    assert lists.graph(campaign) == ("at://l", pack)
    assert lists.modlist_uri(campaign) == "at://m"
