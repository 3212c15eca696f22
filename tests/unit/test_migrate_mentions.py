"""Accounts found on Bluesky become the migration's mentions: which X ids and names map to
which DID (directory, accepted matches; never a rejected or merely proposed one)."""

from __future__ import annotations

from pathlib import Path

import orjson

from departures.audience import store
from departures.audience.scoring import Evidence, Match, XSide
from departures.migrate.plan import PlanSummary, _count_mentions
from departures.migrate.richtext import Mention, SourceText, build_post_text
from departures.workspace.db import Workspace

DID_A = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
DID_B = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"
DID_C = "did:plc:cccccccccccccccccccccccc"
DID_D = "did:plc:dddddddddddddddddddddddd"


def seeded(path: Path) -> Workspace:
    ws = Workspace.open(path)
    with ws.transaction() as conn:
        conn.executemany(
            "INSERT INTO screen_name_sightings (user_id, screen_name, tweet_id, field) "
            "VALUES (?, ?, ?, 'mention')",
            [
                (1, "Oxfam_BE", 10),
                (1, "old_oxfam", 5),
                (2, "jan", 12),
                (3, "maybe_org", 13),
                (4, "reused", 14),
                (5, "reused", 15),  # a name that changed owner: ambiguous
                (6, "refused_org", 16),
            ],
        )
    return ws


def match(value: float) -> Match:
    return Match(value, (Evidence("same handle", value),))


def test_directory_pairs_and_accepted_matches_give_ids_and_known_names(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    store.save_directory(
        ws,
        [
            store.DirectoryEntry(1, DID_A, level="verified"),
            store.DirectoryEntry(4, DID_D, level="verified"),
        ],
        "t",
    )
    store.save_match(ws, XSide(2, "jan"), DID_B, "jan.test", "Jan", match(0.95))  # auto
    store.save_match(ws, XSide(3, "maybe_org"), DID_C, "maybe.test", "", match(0.5))  # proposed
    dids = store.mention_dids(ws)
    assert dids["1"] == DID_A and dids["oxfam_be"] == DID_A and dids["old_oxfam"] == DID_A
    assert dids["2"] == DID_B and dids["jan"] == DID_B
    assert "3" not in dids and "maybe_org" not in dids  # only proposed: no mention
    assert dids["4"] == DID_D and "reused" not in dids  # the name was also X account 5's


def test_a_person_accepting_adds_the_mention_and_rejecting_removes_it(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    store.save_match(ws, XSide(3, "maybe_org"), DID_C, "maybe.test", "", match(0.5))
    store.save_directory(ws, [store.DirectoryEntry(6, DID_D, level="verified")], "t")
    proposed = {c.x_id: c.id for c in store.candidates(ws)}
    store.decide(ws, [proposed[3]], "accepted")
    store.decide(ws, [proposed[6]], "rejected")
    dids = store.mention_dids(ws)
    assert dids["3"] == DID_C and dids["maybe_org"] == DID_C
    assert "6" not in dids and "refused_org" not in dids


def test_an_unproven_directory_pair_is_no_mention_until_a_person_accepts_it(
    tmp_path: Path,
) -> None:
    # Anyone can type an X id or write an account.js: a declared or archive claim (or a
    # disputed one) must not turn @oxfam_be into a mention of a possible impostor.
    ws = seeded(tmp_path / "ws")
    store.save_directory(
        ws,
        [
            store.DirectoryEntry(1, DID_A, level="declared"),
            store.DirectoryEntry(2, DID_B, level="archive"),
            store.DirectoryEntry(6, DID_D, level="verified", disputed=True),
        ],
        "t",
    )
    dids = store.mention_dids(ws)
    assert not {"1", "oxfam_be", "2", "jan", "6", "refused_org"} & set(dids)
    waiting = {c.x_id: c.id for c in store.candidates(ws, status="proposed")}
    store.decide(ws, [waiting[1]], "accepted")
    dids = store.mention_dids(ws)
    assert dids["1"] == DID_A and dids["oxfam_be"] == DID_A and "2" not in dids


def test_a_directory_pair_wins_over_a_searched_match_of_the_same_account(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    store.save_match(ws, XSide(1, "Oxfam_BE"), DID_B, "oxfam-be.test", "", match(0.99))
    store.save_directory(ws, [store.DirectoryEntry(1, DID_A, level="verified")], "t")
    assert store.mention_dids(ws)["1"] == DID_A


def test_the_mapping_turns_a_mention_into_a_bluesky_mention_facet(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    store.save_directory(ws, [store.DirectoryEntry(1, DID_A, level="verified")], "t")
    dids = store.mention_dids(ws)
    text = "Thanks @Oxfam_BE and @someone_else!"
    by_id = SourceText(text, mentions=(Mention(7, 16, "Oxfam_BE", "1"),))
    by_name = SourceText(text, mentions=(Mention(7, 16, "Oxfam_BE", None),))
    other = SourceText(text, mentions=(Mention(21, 34, "someone_else", "99"),))
    for source in (by_id, by_name):
        (facet,) = build_post_text(source, mention_dids=dids).facets
        assert facet.to_dict()["features"] == [
            {"$type": "app.bsky.richtext.facet#mention", "did": DID_A}
        ]
    (link,) = build_post_text(other, mention_dids=dids).facets
    assert link.to_dict()["features"][0]["uri"] == "https://x.com/someone_else"


def test_the_plan_summary_counts_bluesky_mentions_and_x_profile_links() -> None:
    record = orjson.loads(
        orjson.dumps(
            {
                "text": "@a and @b see x.com/c",
                "facets": [
                    {
                        "index": {"byteStart": 0, "byteEnd": 2},
                        "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID_A}],
                    },
                    {
                        "index": {"byteStart": 7, "byteEnd": 9},
                        "features": [
                            {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.com/b"}
                        ],
                    },
                    {  # a link to an X profile that is no mention
                        "index": {"byteStart": 14, "byteEnd": 21},
                        "features": [
                            {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.com/c"}
                        ],
                    },
                ],
            }
        )
    )
    summary = PlanSummary()
    _count_mentions(summary, record)
    assert (summary.bluesky_mentions, summary.x_profile_mentions) == (1, 1)
