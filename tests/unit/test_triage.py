"""The triage queue's parts that need no Bluesky: the offline scorer (HateSonar's model from
its wheel and the word lists), the gate records and the writes that change them, an update's
reconciliation, the store (on SQLite and PostgreSQL, erasure included) and the pages."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from departures.bluesky.budget import WriteKind
from departures.bluesky.cid import cid_for_record
from departures.bluesky.pds import StoredRecord
from departures.bluesky.writer import MemoryJournal, Write, open_writer
from departures.coalition.departure import DepartureDay
from departures.coalition.store import CoalitionStore, access
from departures.coalition.store import moderation as moderation_rows
from departures.coalition.store import triage as rows
from departures.coalition.triage import Triage
from departures.coalition.triage_score import Classifier, Scorer, WordLists, default_words
from departures.coalition.vault import Vault
from departures.errors import DeparturesError
from departures.migrate.gates import (
    EVERYBODY,
    GateChoice,
    GatedPost,
    gate_writes,
    parse_choice,
    postgate_value,
    threadgate_value,
)
from helpers.access import campaign_with_member, rows_naming
from helpers.stores import ON_BOTH_STORES
from helpers.web import InProcessBrowser, coalition_app

DID = "did:plc:" + "m" * 24
POST_URI = f"at://{DID}/app.bsky.feed.post/3lfrfnkct2223"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
SECRET = b"a test secret that is long enough"


# --- the scorer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier()


def test_the_english_model_runs_from_its_wheel_without_the_network(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the scorer tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = Classifier()  # loading too: from the installed package, with the locale fixed
    hostile, friendly = fresh.offensive(
        ["fuck you bitch, you stupid whore", "Thanks for the lovely welcome!"]
    )
    assert hostile > 0.9
    assert friendly < 0.5


def test_word_lists_match_terms_phrases_and_prefixes_ignoring_case_and_accents() -> None:
    words = WordLists({"nl": "klootzak*\nrot op\n# a comment\n", "fr": "crétin*\nta gueule"})
    assert words.hits("Wat een KLOOTZAKKEN, rot op!") == ["nl: klootzak*", "nl: rot op"]
    assert words.hits("Quel cretin. Ta Gueule.") == ["fr: crétin*", "fr: ta gueule"]
    assert words.hits("Rotterdam op zondag") == []  # a phrase needs its words in a row
    assert words.hits("") == []


def test_the_shipped_lists_have_dutch_and_french_and_avoid_known_false_friends() -> None:
    words = WordLists({lang: default_words(lang) for lang in ("nl", "fr", "en")})
    assert words.hits("vuile klootzak")
    assert words.hits("espèce de connard")
    # Cancer research, "to ignore", "hooray": ordinary words that prefixes must not catch.
    assert words.hits("Steun het kankeronderzoek") == []
    assert words.hits("We negeren dat niet") == []
    assert words.hits("Hoera, we zijn er!") == []


def test_a_score_is_the_larger_of_model_and_word_lists_with_every_reason(
    classifier: Classifier,
) -> None:
    scorer = Scorer(WordLists({"nl": "klootzak*"}), classifier)
    dutch, calm = scorer.score(["jij bent een klootzak", "Goedemorgen allemaal"])
    assert dutch.score >= 70 and dutch.model_score < 70
    assert dutch.reasons[0].startswith("model: ")
    assert "word list nl: klootzak*" in dutch.reasons
    assert calm.score == calm.model_score < 60
    assert len(calm.reasons) == 1


# --- gates ----------------------------------------------------------------------------------


POST = GatedPost(POST_URI, "2026-01-01T00:00:00.000Z")


def stored(value: dict[str, Any], collection: str = THREADGATE) -> StoredRecord:
    return StoredRecord(f"at://{DID}/{collection}/3lfrfnkct2223", cid_for_record(value), value)


def test_choices_are_checked_with_a_hint() -> None:
    assert parse_choice("everybody") == EVERYBODY
    choice = parse_choice("some", ["followers", "followers", "mentioned"], quotes=False)
    assert choice.rules == ("followers", "mentioned") and not choice.quotes
    for bad in (
        lambda: parse_choice("some"),
        lambda: parse_choice("anyone"),
        lambda: parse_choice("some", ["enemies"]),
        lambda: parse_choice("some", list_uri="https://example.org"),
    ):
        with pytest.raises(DeparturesError) as error:
            bad()
        assert error.value.hint
    assert GateChoice.from_json(choice.to_json()) == choice
    assert GateChoice.from_json("not json") == EVERYBODY


def test_gate_records_follow_the_lexicons() -> None:
    assert threadgate_value(POST, EVERYBODY, None) is None
    nobody = threadgate_value(POST, parse_choice("nobody"), None)
    assert nobody == {
        "$type": THREADGATE,
        "post": POST_URI,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "allow": [],
    }
    listed = parse_choice("some", ["following"], f"at://{DID}/app.bsky.graph.list/abc")
    assert threadgate_value(POST, listed, None)["allow"] == [  # type: ignore[index]
        {"$type": f"{THREADGATE}#followingRule"},
        {"$type": f"{THREADGATE}#listRule", "list": f"at://{DID}/app.bsky.graph.list/abc"},
    ]
    assert postgate_value(POST, EVERYBODY, None) is None
    assert postgate_value(POST, parse_choice("everybody", quotes=False), None) == {
        "$type": POSTGATE,
        "post": POST_URI,
        "createdAt": "2026-01-01T00:00:00.000Z",
        "embeddingRules": [{"$type": f"{POSTGATE}#disableRule"}],
    }


def test_only_what_differs_is_written_and_hides_keep_the_rest() -> None:
    choice = parse_choice("some", ["followers"], quotes=False)
    created = gate_writes([POST], choice, {})
    assert [(w.action, w.collection) for w in created] == [
        (WriteKind.CREATE, THREADGATE),
        (WriteKind.CREATE, POSTGATE),
    ]
    assert created[0].key == "threadgate:3lfrfnkct2223" and created[0].rkey == "3lfrfnkct2223"
    existing = {(w.collection, w.rkey): stored(dict(w.value or {}), w.collection) for w in created}
    assert gate_writes([POST], choice, existing) == []
    # A hide keeps the allow rules and the createdAt, adds the reply: one update.
    reply = f"at://did:plc:{'h' * 24}/app.bsky.feed.post/3abc"
    hide = gate_writes([POST], None, existing, hide={POST_URI: [reply]})
    assert [(w.action, w.collection) for w in hide] == [(WriteKind.UPDATE, THREADGATE)]
    assert hide[0].value == {**dict(created[0].value or {}), "hiddenReplies": [reply]}
    # Back to everybody and quotes: both deleted — unless a reply is hidden (then kept).
    back = gate_writes([POST], EVERYBODY, existing)
    assert [(w.action, w.collection) for w in back] == [
        (WriteKind.DELETE, THREADGATE),
        (WriteKind.DELETE, POSTGATE),
    ]
    hidden = {**existing, (THREADGATE, POST.rkey): stored(dict(hide[0].value or {}))}
    kept = gate_writes([POST], EVERYBODY, hidden)
    assert kept[0].action is WriteKind.UPDATE and "allow" not in (kept[0].value or {})
    # Not a thread's root: no thread gate, only the post gate.
    reply_post = GatedPost(POST_URI, "2026-01-01T00:00:00.000Z", is_root=False)
    assert [w.collection for w in gate_writes([reply_post], choice, {})] == [POSTGATE]


def test_a_thread_hides_at_most_300_replies() -> None:
    full = {"hiddenReplies": [f"at://x/app.bsky.feed.post/{n}" for n in range(300)]}
    with pytest.raises(DeparturesError, match="at most 300"):
        threadgate_value(POST, None, full, ["at://x/app.bsky.feed.post/more"])


class _Pds:
    """Only what reconciliation reads: the record stored under a key (pure logic)."""

    did = DID
    handle = "member.test"

    def __init__(self, records: dict[tuple[str, str], StoredRecord]) -> None:
        self.records = records

    def get_record(self, collection: str, rkey: str) -> StoredRecord | None:
        return self.records.get((collection, rkey))

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{DID}/{collection}/{rkey}"


def test_an_update_counts_as_done_only_when_the_server_holds_its_cid() -> None:
    old = {"$type": THREADGATE, "post": POST_URI, "createdAt": "2026-01-01T00:00:00.000Z"}
    new = {**old, "allow": []}
    update = Write.update("threadgate:3lfrfnkct2223", THREADGATE, "3lfrfnkct2223", new)
    pds = _Pds({(THREADGATE, "3lfrfnkct2223"): stored(old)})
    writer = open_writer(pds, MemoryJournal())  # type: ignore[arg-type]
    assert writer.check([update]) == []  # the old record: the update did not happen
    pds.records[(THREADGATE, "3lfrfnkct2223")] = stored(new)
    done = writer.check([update])
    assert [r.cid for r in done] == [update.expected_cid] and done[0].existed


# --- the store (both engines) --------------------------------------------------------------


def scored(n: int, score: int, author: str = "did:plc:" + "h" * 24) -> rows.Scored:
    return rows.Scored(
        # A real record key (a TID): the moderation list takes post URIs as evidence.
        f"at://{author}/app.bsky.feed.post/3kaaaaaaaaaa{'abcdefghij'[n]}",
        "reply",
        POST_URI,
        POST_URI,
        author,
        "hostile.example",
        f"reply {n}",
        score,
        score,
        [f"model: {score}%"],
    )


@ON_BOTH_STORES
def test_a_reply_is_stored_once_below_or_queued_and_decided_once(store: CoalitionStore) -> None:
    _c, _t, _slug, member, _key = campaign_with_member(store, did=DID)
    now = datetime.now(UTC)
    assert rows.record_scored(store.engine, member.id, scored(1, 90), threshold=60, now=now)
    assert not rows.record_scored(store.engine, member.id, scored(1, 90), threshold=60, now=now)
    assert rows.record_scored(store.engine, member.id, scored(2, 20), threshold=60, now=now)
    (queued,) = rows.queue(store.engine, member.id)
    assert queued.text == "reply 1" and queued.reasons == ["model: 90%"]
    (below,) = rows.queue(store.engine, member.id, states=("below",))
    assert below.text == "" and below.score == 20  # the score stays, the text does not
    assert rows.decide(
        store.engine, member.id, queued.id, state="dismissed", by="Member NGO", note="", now=now
    )
    assert not rows.decide(
        store.engine, member.id, queued.id, state="hidden", by="Member NGO", note="", now=now
    )
    item = rows.item(store.engine, member.id, queued.id)
    assert item is not None and item.state == "dismissed" and item.text == ""
    assert rows.item(store.engine, member.id + 1, queued.id) is None


@ON_BOTH_STORES
def test_erasure_covers_the_triage_tables(store: CoalitionStore) -> None:
    _c, _t, _slug, member, _key = campaign_with_member(store, did=DID)
    now = datetime.now(UTC)
    author = "did:plc:" + "a" * 24
    rows.save_member(store.engine, member.id, now=now, opted_in=True, gate_choice="{}")
    rows.record_scored(store.engine, member.id, scored(1, 90, author), threshold=60, now=now)
    rows.record_scored(store.engine, member.id, scored(2, 90), threshold=60, now=now)
    rows.add_note(store.engine, member.id, POST_URI, "deleted or not found", now)
    # A person who withdraws: the replies they wrote go.
    assert rows_naming(store.engine, author)
    access.erase_did(store.engine, author)
    assert rows_naming(store.engine, author) == []
    assert len(rows.queue(store.engine, member.id)) == 1
    # An organisation deleted: everything of its triage goes.
    assert rows_naming(store.engine, member.id, id_columns=("organisation_id",))
    assert "triage_items" in access.organisation_export(store.engine, member.id)
    access.erase_organisation(store.engine, member.id)
    assert rows_naming(store.engine, member.id, id_columns=("organisation_id",)) == []


# --- the pages ----------------------------------------------------------------------------------


@pytest.fixture
def browser(store: CoalitionStore) -> Iterator[InProcessBrowser]:
    day = DepartureDay(store, Vault(SECRET), "https://pds.example")
    with InProcessBrowser(coalition_app(store, departure=day)) as browser:
        yield browser


def test_a_member_reviews_its_queue_and_the_coordinator_edits_the_word_lists(
    store: CoalitionStore, browser: InProcessBrowser
) -> None:
    _c, token, slug, member, key = campaign_with_member(store, did=DID)
    now = datetime.now(UTC)
    for n, score in ((1, 95), (2, 80)):
        rows.record_scored(store.engine, member.id, scored(n, score), threshold=60, now=now)
    browser.submit("/member/sign-in", {"key": key}, "/member/sign-in")
    page = browser.get("/member/triage")
    assert page.status_code == 200
    assert "reply 1" in page.text and "95%" in page.text
    # The same page in the coalition's other languages.
    for language, title, button in (
        ("nl", "Te beoordelen reacties", "Reactie verbergen"),
        ("fr", "Réponses à examiner", "Masquer la réponse"),
    ):
        day = DepartureDay(store, Vault(SECRET), "https://pds.example")
        with InProcessBrowser(coalition_app(store, departure=day, language=language)) as other:
            other.submit("/member/sign-in", {"key": key}, "/member/sign-in")
            translated = other.get("/member/triage").text
            assert title in translated and button in translated
    first, second = rows.queue(store.engine, member.id)
    # Proposing needs a reason; hiding needs a connected account's own thread.
    refused = browser.submit(
        f"/member/triage/{first.id}", {"action": "propose", "note": ""}, "/member/triage"
    )
    assert refused.status_code == 400 and "say why" in refused.text.lower()
    refused = browser.submit(
        f"/member/triage/{first.id}", {"action": "hide", "note": ""}, "/member/triage"
    )
    assert refused.status_code == 400 and "own threads" in refused.text.lower()
    proposed = browser.submit(
        f"/member/triage/{first.id}", {"action": "propose", "note": "threats"}, "/member/triage"
    )
    assert proposed.status_code == 200 and "author proposed to the moderation list" in proposed.text
    # The proposal is the moderation list's own, waiting for a second member or the coordinator.
    waiting = moderation_rows.proposals(store.engine, member.campaign_id, "proposed")
    assert [(p.subject_did, p.reasons) for p in waiting] == [(first.author_did, "threats")]
    browser.submit(
        f"/member/triage/{second.id}", {"action": "dismiss", "note": "a joke"}, "/member/triage"
    )
    assert rows.queue(store.engine, member.id) == []
    assert [
        i.state for i in rows.queue(store.engine, member.id, states=("proposed", "dismissed"))
    ] == [
        "proposed",
        "dismissed",
    ]
    # Without a connected account the member page has no controls form (nothing to write with).
    assert 'id="reply-controls"' not in browser.get("/member").text

    coordinator = InProcessBrowser(
        coalition_app(store, departure=DepartureDay(store, Vault(SECRET), "https://pds.example"))
    )
    with coordinator:
        coordinator.submit("/login", {"token": token}, "/login")
        words = f"/coordinator/campaigns/{slug}/triage"
        page = coordinator.get(words)
        assert page.status_code == 200 and "klootzak" in page.text  # the shipped Dutch list
        coordinator.submit(words, {"lang": "nl", "words": "sukkel*\nstomme trut"}, words)
        coordinator.submit(words, {"threshold": "75"}, words)
        triage = Triage(store, Vault(SECRET), "https://pds.example")
        campaign = store.campaign(slug)
        assert triage.word_lists(campaign.id)["nl"] == "sukkel*\nstomme trut"
        assert triage.threshold(campaign.id) == 75
        bad = coordinator.submit(words, {"lang": "n1", "words": "x"}, words)
        assert bad.status_code == 400
        # A member cannot reach it.
        assert browser.get(words).status_code in (401, 403)
