"""A long post whose tweet is a reply: X puts the answered @names before the tweet's text only.

The archive below is hand-made for it (``archive_builders``): the tweet's ``full_text`` is
``@alice @bob_2 `` + the start of the note's text + ``…``, ``display_text_range`` starts at 0
(as X writes it), and the note in ``note-tweet.js`` has no @names in front.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from archive_builders import (
    ACCOUNT_ID,
    BASE_MS,
    USERNAME,
    account_item,
    mention,
    note,
    snowflake,
    tweet,
    write_archive,
    ytd,
)
from departures.archive.importer import ImportReport, import_archive
from departures.archive.notes import Note, choose_tweet, why_unlinked
from departures.workspace import Workspace

LONG = (
    "We stand with the farmers of the Sahel, and here is why, with @carol as our witness: "
    + "the harvest failed twice in three years and prices fell at the same time. " * 6
).strip()
NAMES = "@alice @bob_2 "


def _reply_files() -> tuple[dict[str, bytes], dict[str, str]]:
    ids: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []

    # A long reply to two other accounts: the case of the issue.
    ids["reply"] = snowflake(BASE_MS + 1_030)
    reply_text = NAMES + LONG[:230] + "…"
    items.append(
        tweet(
            ids["reply"],
            reply_text,
            mentions=[mention(reply_text, "alice", "11"), mention(reply_text, "bob_2", "12"),
                      mention(reply_text, "carol", "13")],
            in_reply_to_status_id_str="900",
            in_reply_to_user_id_str="11",
            in_reply_to_screen_name="alice",
        )
    )  # fmt: skip
    carol_at = LONG.index("@carol")
    notes.append(
        note("601", BASE_MS + 1_010, LONG,
             mentions=[{"screenName": "carol", "fromIndex": str(carol_at),
                        "toIndex": str(carol_at + len("@carol"))}])
    )  # fmt: skip

    # A long self-reply in a thread, whose tweet begins with the account's own name.
    ids["self"] = snowflake(BASE_MS + 5_040)
    self_long = "Part two of our statement: " + "the coalition leaves X on the same day. " * 9
    items.append(
        tweet(
            ids["self"],
            f"@{USERNAME} " + self_long[:200] + "…",
            in_reply_to_status_id_str=ids["reply"],
            in_reply_to_user_id_str=ACCOUNT_ID,
            in_reply_to_screen_name=USERNAME,
        )
    )
    notes.append(note("602", BASE_MS + 5_020, self_long.strip()))

    # A reply in the note's second whose words differ: the warning must say so.
    ids["other"] = snowflake(BASE_MS + 9_030)
    items.append(tweet(ids["other"], "@alice Entirely different words about something…",
                       in_reply_to_status_id_str="901", in_reply_to_user_id_str="11"))  # fmt: skip
    notes.append(note("603", BASE_MS + 9_010, "A long post that no tweet begins like " * 10))

    # A note alone in its second.
    notes.append(note("604", BASE_MS + 20_500, "A long post whose tweet was deleted " * 10))

    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in items]),
        "note-tweet.js": ytd("note_tweet.part0", notes),
    }
    return files, ids


@pytest.fixture
def imported(tmp_path: Path) -> tuple[Workspace, dict[str, str], ImportReport]:
    files, ids = _reply_files()
    folder = write_archive(tmp_path / "archive", files)
    ws = Workspace.open(tmp_path / "ws")
    return ws, ids, import_archive(folder, ws)


def _tweet(ws: Workspace, tweet_id: str) -> tuple[str, dict[str, Any], int]:
    text, entities, is_long = ws.conn.execute(
        "SELECT text, entities, is_long_post FROM tweets WHERE id = ?", (int(tweet_id),)
    ).fetchone()
    return text, orjson.loads(entities), is_long


def test_a_long_reply_is_restored_with_the_names_it_answers(imported: Any) -> None:
    ws, ids, report = imported
    text, entities, is_long = _tweet(ws, ids["reply"])
    assert is_long == 1
    assert text == NAMES + LONG
    mentions = {
        m["screen_name"]: (text[m["start"] : m["end"]], m["id"]) for m in entities["mentions"]
    }
    assert mentions == {
        "alice": ("@alice", 11),
        "bob_2": ("@bob_2", 12),
        "carol": ("@carol", 13),  # the note's own mention, its id taken from the tweet
    }
    assert report.counts["long_posts_restored"] == 2


def test_a_long_self_reply_keeps_its_thread_name_and_gets_its_whole_text(imported: Any) -> None:
    ws, ids, _ = imported
    text, _, is_long = _tweet(ws, ids["self"])
    assert is_long == 1
    assert text.startswith(f"@{USERNAME} Part two of our statement:")
    assert text.endswith("the coalition leaves X on the same day.")


def test_restoring_twice_gives_the_same_text(imported: Any, tmp_path: Path) -> None:
    ws, ids, _ = imported
    first = _tweet(ws, ids["reply"])
    files, _ = _reply_files()
    import_archive(write_archive(tmp_path / "again", files), ws)
    assert _tweet(ws, ids["reply"]) == first


def test_the_warning_says_why_a_candidate_did_not_match(imported: Any) -> None:
    _, ids, report = imported
    warnings = [w.message for w in report.warnings if w.file.endswith("note-tweet.js")]
    assert len(warnings) == 2
    by_note = {w.split()[2]: w for w in warnings}
    assert "matches no tweet" in by_note["603"]
    assert (
        f"the tweet {ids['other']} of its second (2023-11-14 22:13:29 UTC) begins "
        "'@alice Entirely different words about something…' where the long post begins "
        "'A long post that no tweet begins like A long post that no t…'"
    ) in by_note["603"]
    assert "no tweet of the archive was created in its second" in by_note["604"]
    assert "2023-11-14 22:13:40 UTC" in by_note["604"]


def test_a_note_that_itself_begins_with_the_names_matches_as_it_is() -> None:
    base = BASE_MS
    body = "@alice thank you for the invitation to speak at the summit next week, we will"
    note_obj = Note(1, "x", base + 10, body + " be there with the whole team.", {})
    reply = (int(snowflake(base + 40)), body[:60] + "…")
    assert choose_tweet(note_obj, [reply]) == reply[0]


def test_names_alone_do_not_match_any_note() -> None:
    note_obj = Note(1, "2023-11-14T22:13:20.010Z", BASE_MS + 10, "Anything at all " * 20, {})
    only_names = (int(snowflake(BASE_MS + 40)), "@alice @bob")
    assert choose_tweet(note_obj, [only_names]) is None
    assert why_unlinked(note_obj, [only_names]).endswith(
        "begins '@alice @bob' where the long post begins "
        "'Anything at all Anything at all Anything at all Anything at…'"
    )
