"""Importing hand-made archives: every quirk of the format doc, on the project's own fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from archive_builders import (
    ACCOUNT_ID,
    SECRET,
    account_item,
    rich_files,
    tweet,
    write_archive,
    ytd,
    zip_folder,
)
from departures.archive import engine, importer
from departures.archive import ytd as ytd_module
from departures.archive.importer import ImportReport, import_archive
from departures.archive.media import read_media
from departures.archive.source import MediaIndex
from departures.archive.stats import archive_stats
from departures.errors import ArchiveError, WorkspaceError
from departures.workspace import Workspace


@pytest.fixture
def rich(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    files, ids = rich_files()
    folder = write_archive(
        tmp_path / "archive", files, extra_manifest={"lists-member.js": "lists-member.js"}
    )
    (folder / "data" / "mystery.js").write_text("window.YTD.mystery.part0 = []")
    return folder, ids


@pytest.fixture
def imported(
    rich: tuple[Path, dict[str, str]], tmp_path: Path
) -> tuple[Workspace, dict[str, str], ImportReport]:
    folder, ids = rich
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(folder, ws)
    return ws, ids, report


def workspace_lines(ws: Workspace) -> list[str]:
    """The workspace's content as SQL lines, sorted, without what differs by the clock.

    Sorted: with workers, some indexes are rebuilt at the end of an import and so are
    listed later in the schema than after an import in one process.
    """
    lines = ws.conn.iterdump()
    return sorted(
        line for line in lines if "archive_imports" not in line and "_migrations" not in line
    )


def _tweet(ws: Workspace, tweet_id: str) -> dict[str, Any]:
    cursor = ws.conn.execute("SELECT * FROM tweets WHERE id = ?", (int(tweet_id),))
    names = [d[0] for d in cursor.description]
    row = cursor.fetchone()
    assert row is not None, f"tweet {tweet_id} not stored"
    return dict(zip(names, row, strict=True))


def test_counts_of_the_hand_made_archive(imported: Any) -> None:
    ws, _, _ = imported
    stats = archive_stats(ws)
    assert {k: v for k, v in stats.items() if isinstance(v, int)} == {
        "tweets": 20,
        "originals": 14,
        "self_replies": 3,
        "replies_to_others": 1,
        "retweets": 1,
        "quotes": 1,
        "long_posts_restored": 2,
        "media_items": 3,
        "media_files_missing": 1,
        "followers": 2,
        "following": 1,
        "likes": 2,
        "blocks": 0,
        "mutes": 0,
        "deleted_tweets": 1,
        "community_tweets": 1,
        "known_screen_names": 3,
    }
    assert stats["account"] == {
        "id": ACCOUNT_ID, "username": "fairharvest", "display_name": "Fair Harvest Collective"
    }  # fmt: skip
    assert stats["date_range"] == {"first": "2023-11-14T22:13:30Z", "last": "2023-11-14T22:14:42Z"}


def test_warnings_name_the_unknown_and_the_missing_files(imported: Any) -> None:
    _, ids, report = imported
    by_file = {w.file: w.message for w in report.warnings}
    assert "unknown file" in by_file["data/mystery.js"]
    assert "missing from the archive" in by_file["data/lists-member.js"]
    assert f"data/tweets_media/{ids['M1']}-KEYM1.jpg" in by_file
    assert "matches no tweet" in by_file["data/note-tweet.js"]


def test_private_files_are_never_read(imported: Any) -> None:
    ws, _, _ = imported
    dump = "\n".join(ws.conn.iterdump())
    assert SECRET not in dump
    assert "press@example.org" not in dump  # the e-mail of account.js


def test_long_post_linked_and_restored_with_expanded_links(imported: Any) -> None:
    ws, ids, _ = imported
    row = _tweet(ws, ids["L1"])
    assert row["is_long_post"] == 1 and row["note_id"] == 501
    assert not row["text"].endswith("…") and len(row["text"]) > 280
    assert "https://coffee.example/fair" in row["text"] and "t.co" not in row["text"]
    url = orjson.loads(row["entities"])["urls"][0]
    assert row["text"][url["start"] : url["end"]] == "https://coffee.example/fair"


def test_note_in_a_busy_second_goes_to_the_nearest_tweet_after_it(imported: Any) -> None:
    ws, ids, _ = imported
    assert _tweet(ws, ids["L2b"])["is_long_post"] == 1
    assert _tweet(ws, ids["L2a"])["is_long_post"] == 0
    assert _tweet(ws, ids["L2c"])["is_long_post"] == 0


def test_note_whose_text_does_not_match_is_not_linked(imported: Any) -> None:
    ws, ids, _ = imported
    row = _tweet(ws, ids["X3"])
    assert row["is_long_post"] == 0 and row["text"] == "Completely different words here…"


def test_edits_collapse_to_the_last_version_and_replies_follow(imported: Any) -> None:
    ws, ids, _ = imported
    assert (
        ws.conn.execute("SELECT 1 FROM tweets WHERE id = ?", (int(ids["E1"]),)).fetchone() is None
    )
    kept = _tweet(ws, ids["E2"])
    assert kept["text"] == "Harvest festival on Sunday" and kept["edit_initial_id"] == int(
        ids["E1"]
    )
    reply = _tweet(ws, ids["R1"])
    assert reply["reply_to_id"] == int(ids["E2"]) and reply["thread_parent_id"] == int(ids["E2"])


def test_threads_have_root_and_parent_across_split_parts(imported: Any) -> None:
    ws, ids, _ = imported
    t1, t2, t3 = (_tweet(ws, ids[n]) for n in ("T1", "T2", "T3"))
    assert (t1["thread_root_id"], t1["thread_parent_id"]) == (int(ids["T1"]), None)
    assert (t2["thread_root_id"], t2["thread_parent_id"]) == (int(ids["T1"]), int(ids["T1"]))
    assert (t3["thread_root_id"], t3["thread_parent_id"]) == (int(ids["T1"]), int(ids["T2"]))
    assert t3["kind"] == "reply_to_self" and t3["source_file"] == "data/tweets-part1.js"


def test_retweet_quote_and_replies(imported: Any) -> None:
    ws, ids, _ = imported
    rt = _tweet(ws, ids["RT1"])
    assert rt["kind"] == "retweet" and rt["retweet_of_screen_name"] == "bob"
    assert rt["retweet_of_user_id"] == 7
    quote = _tweet(ws, ids["Q1"])
    assert quote["kind"] == "quote" and quote["quote_of"] == 123456789012345678
    assert quote["text"] == "Well said https://x.com/bob/status/123456789012345678"
    other = _tweet(ws, ids["O1"])
    assert other["kind"] == "reply_to_other"
    assert (other["reply_to_user_id"], other["reply_to_screen_name"]) == (77, None)
    at = _tweet(ws, ids["AT1"])
    assert at["kind"] == "original" and at["reply_to_id"] is None


def test_media_files_found_best_variant_chosen_missing_recorded(imported: Any) -> None:
    ws, ids, _ = imported
    rows = {
        r[0]: r[1:]
        for r in ws.conn.execute(
            "SELECT tweet_id, type, file_path, missing, variant_url, duration_ms, aspect_w, "
            "aspect_h, width FROM media"
        )
    }
    p1, v1, m1 = (int(ids[n]) for n in ("P1", "V1", "M1"))
    assert rows[p1][:3] == ("photo", f"data/tweets_media/{p1}-KEYP1.jpg", 0)
    assert rows[v1][:3] == ("video", f"data/tweets_media/{v1}-best.mp4", 0)
    assert rows[v1][3].endswith("/best.mp4?tag=12") and rows[v1][4:7] == (37400, 9, 16)
    assert rows[m1][:3] == ("photo", f"data/tweets_media/{m1}-KEYM1.jpg", 1)
    assert _tweet(ws, ids["P1"])["text"] == "Harvest day"
    assert read_media(ws, f"data/tweets_media/{p1}-KEYP1.jpg") == b"\xff\xd8jpeg"


def test_escapes_emoji_withheld_and_raw_lang(imported: Any) -> None:
    ws, ids, _ = imported
    row = _tweet(ws, ids["ESC1"])
    assert row["text"] == "🌍 R&D <3 @alice #soil https://soil.example/?a=1&b=2"
    assert row["raw_text"].startswith("🌍 R&amp;D &lt;3")
    entities = orjson.loads(row["entities"])
    for key, expected in (("mentions", "@alice"), ("hashtags", "#soil"),
                          ("urls", "https://soil.example/?a=1&b=2")):  # fmt: skip
        item = entities[key][0]
        assert row["text"][item["start"] : item["end"]] == expected
    withheld = _tweet(ws, ids["W1"])
    assert (withheld["withheld"], withheld["lang"]) == (1, "qme")
    assert json.loads(withheld["withheld_in_countries"]) == ["DE"]
    mention = orjson.loads(_tweet(ws, ids["MN1"])["entities"])["mentions"][0]
    assert mention == {"start": 7, "end": 14, "screen_name": "nobody", "id": None}


def test_deleted_and_community_tweets_are_kept_with_a_flag(imported: Any) -> None:
    ws, ids, _ = imported
    deleted = _tweet(ws, ids["D1"])
    assert (deleted["is_deleted"], deleted["deleted_at"]) == (1, "2026-03-01T10:00:00.000Z")
    community = _tweet(ws, ids["C1"])
    assert (community["is_community"], community["community_id"]) == (1, 555)


def test_known_screen_names_record_where_each_pair_was_seen(imported: Any) -> None:
    ws, ids, _ = imported
    pairs = {
        (r[0], r[1].lower()): r[2]
        for r in ws.conn.execute("SELECT user_id, screen_name, seen FROM known_screen_names")
    }
    assert set(pairs) == {(7, "bob"), (1000, "fairharvest"), (42, "alice")}
    fields = set(
        ws.conn.execute(
            "SELECT tweet_id, field FROM screen_name_sightings WHERE user_id = 7"
        ).fetchall()
    )
    assert fields == {(int(ids["RT1"]), "user_mentions"), (int(ids["AT1"]), "user_mentions")}


def test_account_profile_relations_likes_lists_and_name_changes(imported: Any) -> None:
    ws, _, _ = imported
    conn = ws.conn
    assert conn.execute("SELECT bio, location FROM account").fetchone() == (
        "Fair trade, fair food", "Brussels"
    )  # fmt: skip
    assert [r[0] for r in conn.execute("SELECT account_id FROM followers ORDER BY 1")] == [201, 202]
    assert conn.execute("SELECT full_text FROM likes WHERE tweet_id = 401").fetchone() == (
        "a &amp; b",
    )
    assert conn.execute("SELECT relation, url FROM lists").fetchall() == [
        ("created", "https://twitter.com/fairharvest/lists/partners")
    ]
    assert conn.execute("SELECT changed_from FROM screen_name_changes").fetchone() == (
        "fairharvest_old",
    )
    assert ws.get_meta("archive_kind") == "dir"


def test_reimporting_the_same_archive_changes_nothing(
    rich: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = rich
    ws = Workspace.open(tmp_path / "ws")
    import_archive(folder, ws)
    first = [line for line in ws.conn.iterdump() if "archive_imports" not in line]
    import_archive(folder, ws)
    second = [line for line in ws.conn.iterdump() if "archive_imports" not in line]
    assert first == second


def test_newer_archive_of_the_same_account_upserts(tmp_path: Path) -> None:
    old = write_archive(tmp_path / "old", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": tweet("5000000000000000000", "first")}]),
        "follower.js": ytd("follower.part0", [{"follower": {"accountId": "1"}}]),
    })  # fmt: skip
    new = write_archive(tmp_path / "new", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [
            {"tweet": tweet("5000000000000000000", "first", favorite_count="9")},
            {"tweet": tweet("5000000000000000001", "second")}]),
        "follower.js": ytd("follower.part0", [{"follower": {"accountId": "2"}}]),
    })  # fmt: skip
    ws = Workspace.open(tmp_path / "ws")
    import_archive(old, ws)
    import_archive(new, ws)
    rows = ws.conn.execute("SELECT id, favorite_count FROM tweets ORDER BY id").fetchall()
    assert rows == [(5000000000000000000, 9), (5000000000000000001, 3)]
    # Followers are a snapshot: the newer list replaces the older one.
    assert ws.conn.execute("SELECT account_id FROM followers").fetchall() == [(2,)]


def test_an_archive_of_another_account_is_refused(tmp_path: Path) -> None:
    ours = write_archive(tmp_path / "ours", {"account.js": ytd("account.part0", [account_item()])})
    theirs = write_archive(
        tmp_path / "theirs",
        {"account.js": ytd("account.part0", [account_item("2000", "otherorg")])},
        account_id="2000",
        username="otherorg",
    )
    ws = Workspace.open(tmp_path / "ws")
    import_archive(ours, ws)
    with pytest.raises(WorkspaceError, match=r"archive of @otherorg.*holds the archive of"):
        import_archive(theirs, ws)


def test_pre_2020_archive_bare_items_tweet_js_and_no_manifest(tmp_path: Path) -> None:
    bare = [
        tweet("1100000000000000000", "Old style &amp; bare"),
        tweet("1100000000000000001", "@someone reply", in_reply_to_status_id_str="5",
              in_reply_to_user_id_str="9", in_reply_to_screen_name="someone"),
    ]  # fmt: skip
    folder = write_archive(
        tmp_path / "old",
        {
            "account.js": ytd("account.part0", [account_item()], style="old"),
            "tweet.js": ytd("tweet.part0", bare, style="old"),
            "follower.js": ytd("follower.part0", [{"follower": {"accountId": "73"}}], style="old"),
            "saved-search.js": ytd("saved_search.part0", [], style="old"),
        },
        manifest=False,
    )
    assert (folder / "data" / "tweet.js").read_text().splitlines()[0].endswith("[ {")
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(folder, ws)
    assert report.warnings == []  # saved-search.js is known and skipped silently
    stats = archive_stats(ws)
    assert (stats["tweets"], stats["replies_to_others"], stats["followers"]) == (2, 1, 1)
    assert _tweet(ws, "1100000000000000000")["text"] == "Old style & bare"


@pytest.mark.parametrize("as_zip", [False, True])
def test_wrapper_folder_is_found_in_a_folder_and_in_a_zip(tmp_path: Path, as_zip: bool) -> None:
    files, ids = rich_files()
    outer = tmp_path / "outer"
    write_archive(outer / "twitter-2026-03-06-abc", files)
    path = zip_folder(outer, tmp_path / "archive.zip") if as_zip else outer
    ws = Workspace.open(tmp_path / "ws")
    import_archive(path, ws)
    assert archive_stats(ws)["tweets"] == 20
    p1 = ids["P1"]
    member = f"twitter-2026-03-06-abc/data/tweets_media/{p1}-KEYP1.jpg"
    stored = ws.conn.execute("SELECT file_path, missing FROM media WHERE tweet_id = ?", (int(p1),))
    assert stored.fetchone() == (member, 0)
    assert read_media(ws, member) == b"\xff\xd8jpeg"
    assert ws.get_meta("archive_kind") == ("zip" if as_zip else "dir")


def test_a_single_tweets_file_can_be_imported(tmp_path: Path) -> None:
    path = tmp_path / "tweets.js"
    path.write_bytes(ytd("tweets.part0", [{"tweet": tweet("1200000000000000000", "solo")}]))
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(path, ws)
    assert report.counts["tweets"] == 1 and archive_stats(ws)["tweets"] == 1


def test_progress_reports_tweets_with_the_manifest_total(
    rich: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = rich
    calls: list[tuple[str, int, int | None]] = []
    import_archive(
        folder, Workspace.open(tmp_path / "ws"), progress=lambda s, d, t: calls.append((s, d, t))
    )
    tweet_calls = [c for c in calls if c[0] == "tweets"]
    # The hand-made manifest says "1" per file: the total is what the manifest claims.
    assert tweet_calls[-1] == ("tweets", 21, 2)
    assert calls[-1] == ("linking", 4, 4)


@pytest.mark.parametrize(
    ("piece_bytes", "as_zip", "parse_bytes"),
    [(None, False, None), (300, False, None), (300, True, None), (3000, False, 300),
     (3000, True, 300)],
)  # fmt: skip
def test_parallel_workers_store_exactly_what_one_process_stores(
    rich: tuple[Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    piece_bytes: int | None,
    as_zip: bool,
    parse_bytes: int | None,
) -> None:
    folder, _ = rich
    if as_zip:  # the pieces are cut from the inflating stream, not from a memory map
        folder = zip_folder(folder, tmp_path / "archive.zip")
    serial = Workspace.open(tmp_path / "serial")
    serial_report = import_archive(folder, serial)
    if piece_bytes is not None:
        # Many pieces per part, in flight in both workers at once.
        monkeypatch.setattr(ytd_module, "CHUNK_BYTES", piece_bytes)
    if parse_bytes is not None:  # each piece parsed in several arrays
        monkeypatch.setattr(engine, "PARSE_BYTES", parse_bytes)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    used: list[int] = []
    real = engine.run_parallel

    def spy(run: Any, tweet_files: Any, others: Any) -> None:
        used.append(len(tweet_files))
        real(run, tweet_files, others)

    monkeypatch.setattr(engine, "run_parallel", spy)
    parallel = Workspace.open(tmp_path / "parallel")
    parallel_report = import_archive(folder, parallel)
    assert used == [4]  # two tweets parts, deleted and community tweets

    assert workspace_lines(parallel) == workspace_lines(serial)
    assert parallel_report.counts == serial_report.counts
    assert [str(w) for w in parallel_report.warnings] == [str(w) for w in serial_report.warnings]


def test_workers_are_not_used_when_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine.WORKERS_ENV, "0")
    assert not engine._use_workers()
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    assert engine._use_workers()


def test_a_fatal_error_in_a_worker_rolls_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    folder = write_archive(tmp_path / "bad", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": tweet("1300000000000000000", "fine")}]),
        "tweets-part1.js": b'window.YTD.tweets.part1 = [{"tweet": ',
    })  # fmt: skip
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(ArchiveError, match=r"tweets-part1\.js is truncated") as caught:
        import_archive(folder, ws)
    assert caught.value.hint and "incomplete" in caught.value.hint
    assert ws.conn.execute("SELECT COUNT(*) FROM tweets").fetchone() == (0,)
    assert ws.get_meta("account_id") is None


@pytest.mark.parametrize(("piece_bytes", "parse_bytes"), [(300, None), (1500, 200)])
def test_a_part_cut_into_pieces_that_breaks_midway_gets_the_precise_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece_bytes: int, parse_bytes: int | None
) -> None:
    monkeypatch.setattr(ytd_module, "CHUNK_BYTES", piece_bytes)
    if parse_bytes is not None:  # the break is met after part of a piece was stored
        monkeypatch.setattr(engine, "PARSE_BYTES", parse_bytes)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    items = [{"tweet": tweet(str(1300000000000000000 + n), f"tweet {n}")} for n in range(40)]
    whole = ytd("tweets.part1", items)
    folder = write_archive(tmp_path / "bad", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", items[:3]),
        # Cut off in the middle of an item, far past the first pieces.
        "tweets-part1.js": whole[: len(whole) * 2 // 3],
    })  # fmt: skip
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(ArchiveError, match=r"tweets-part1\.js is truncated"):
        import_archive(folder, ws)
    assert ws.conn.execute("SELECT COUNT(*) FROM tweets").fetchone() == (0,)


def test_the_data_folder_itself_gets_a_clear_error(
    rich: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    folder, _ = rich
    with pytest.raises(ArchiveError, match="looks like the data/ folder") as caught:
        import_archive(folder / "data", Workspace.open(tmp_path / "ws"))
    assert caught.value.hint and "Your archive.html" in caught.value.hint


def test_chunked_reading_of_parts_stores_exactly_the_same(
    rich: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = rich
    whole = Workspace.open(tmp_path / "whole")
    import_archive(folder, whole)
    monkeypatch.setattr(ytd_module, "CHUNK_BYTES", 300)
    monkeypatch.setattr(importer, "OTHER_CHUNK_BYTES", 300)
    chunks: dict[str, int] = {}
    real = importer.ImportRun._chunks

    def counting(self: Any, name: str, chunk_bytes: int | None = None) -> Any:
        for items in real(self, name, chunk_bytes):
            chunks[name.rsplit("/", 1)[-1]] = chunks.get(name.rsplit("/", 1)[-1], 0) + 1
            yield items

    monkeypatch.setattr(importer.ImportRun, "_chunks", counting)
    chunked = Workspace.open(tmp_path / "chunked")
    import_archive(folder, chunked)
    # Not only the tweets: long posts (and likes, followers...) grow with the archive too;
    # every file big enough to be cut was read in pieces.
    for path in (folder / "data").glob("*.js"):
        if path.name in chunks and path.stat().st_size > 4 * 300:
            assert chunks[path.name] > 1, (path.name, chunks)
    assert chunks["note-tweet.js"] > 1

    assert workspace_lines(chunked) == workspace_lines(whole)


def test_a_tweets_part_missing_from_the_manifest_is_read_with_a_warning(tmp_path: Path) -> None:
    folder = write_archive(tmp_path / "a", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": tweet("1400000000000000000", "one")}]),
    })  # fmt: skip
    (folder / "data" / "tweets-part1.js").write_bytes(
        ytd("tweets.part1", [{"tweet": tweet("1400000000000000001", "two")}])
    )
    ws = Workspace.open(tmp_path / "ws")
    report = import_archive(folder, ws)
    assert archive_stats(ws)["tweets"] == 2
    assert [str(w) for w in report.warnings] == [
        "data/tweets-part1.js: not listed in the manifest; read anyway"
    ]


def test_zip_and_folder_find_the_same_media_files(tmp_path: Path) -> None:
    files, _ = rich_files()
    folder = tmp_path / "folder"
    write_archive(folder, files)
    stored = []
    for path in (folder, zip_folder(folder, tmp_path / "archive.zip")):
        ws = Workspace.open(tmp_path / f"ws-{path.name}")
        import_archive(path, ws)
        stored.append(
            ws.conn.execute(
                "SELECT tweet_id, position, file_path, missing FROM media ORDER BY 1, 2"
            ).fetchall()
        )
    assert stored[0] == stored[1]
    assert {row[3] for row in stored[0]} == {0, 1}  # found and missing files both occur


def test_media_index_answers_membership_in_eight_bytes_a_file() -> None:
    names = [f"data/tweets_media/{n}-K{n}.jpg" for n in range(1000)]
    index = MediaIndex(names)
    assert len(index) == 1000
    assert all(name in index for name in names)
    assert "data/tweets_media/5-K6.jpg" not in index
    assert "data/tweet_media/5-K5.jpg" not in index
    assert 5 not in index
    assert index._keys.itemsize == 8


def test_idle_cores_are_sampled_now_and_decide_for_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    idle = engine._idle_cores(0.05)
    if idle is not None:  # Linux: sampled from /proc/stat
        assert 0 <= idle <= (os.cpu_count() or 1) + 0.01
    monkeypatch.delenv(engine.WORKERS_ENV, raising=False)
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(engine, "_idle_cores", lambda: 1.9)
    assert engine._use_workers()
    monkeypatch.setattr(engine, "_idle_cores", lambda: 0.7)  # another job holds a core
    assert not engine._use_workers()


def _parallel(monkeypatch: pytest.MonkeyPatch, piece_bytes: int = 300) -> None:
    monkeypatch.setattr(ytd_module, "CHUNK_BYTES", piece_bytes)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")


def test_parallel_reimport_updates_like_one_process(
    rich: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = rich
    serial = Workspace.open(tmp_path / "serial")
    import_archive(folder, serial)
    import_archive(folder, serial)
    _parallel(monkeypatch)
    parallel = Workspace.open(tmp_path / "parallel")
    import_archive(folder, parallel)
    import_archive(folder, parallel)  # into tables that are not empty: the upsert path

    assert workspace_lines(parallel) == workspace_lines(serial)


@pytest.mark.parametrize("workers", [False, True])
def test_a_tweet_in_two_parts_keeps_the_later_parts_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    if workers:
        _parallel(monkeypatch)
    twin = "1300000000000000999"
    first = [{"tweet": tweet(str(1300000000000000000 + n), f"first {n}")} for n in range(30)]
    second = [{"tweet": tweet(str(1300000000000001000 + n), f"second {n}")} for n in range(30)]
    first.insert(10, {"tweet": tweet(twin, "old copy")})
    second.insert(20, {"tweet": tweet(twin, "new copy")})
    folder = write_archive(tmp_path / "twins", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", first),
        "tweets-part1.js": ytd("tweets.part1", second),
    })  # fmt: skip
    ws = Workspace.open(tmp_path / "ws")
    import_archive(folder, ws)
    assert _tweet(ws, twin)["text"] == "new copy"
    assert ws.conn.execute("SELECT COUNT(*) FROM tweets").fetchone() == (61,)


def test_worker_databases_are_removed_and_stale_ones_cleaned(
    rich: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = rich
    _parallel(monkeypatch)
    ws = Workspace.open(tmp_path / "ws")
    dead = 2**22 + 12345  # above pid_max's default: no such process
    stale = tmp_path / "ws" / f".import-{dead}-x"
    stale.mkdir()
    (stale / "worker-1.db").write_bytes(b"left by a killed import")
    import_archive(folder, ws)
    assert not list((tmp_path / "ws").glob(".import-*"))


def test_the_parent_transforms_pieces_too_when_it_waits(
    rich: tuple[Path, dict[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = rich
    serial = Workspace.open(tmp_path / "serial")
    import_archive(folder, serial)
    _parallel(monkeypatch, piece_bytes=200)
    monkeypatch.setattr(engine, "IN_FLIGHT", 1)  # the workers get one piece at a time
    used: list[str] = []
    real = engine._transform_into

    def spy(job: Any, conn: Any, path: str, media: Any) -> Any:
        used.append(path)
        return real(job, conn, path, media)

    monkeypatch.setattr(engine, "_transform_into", spy)  # only the parent's calls
    parallel = Workspace.open(tmp_path / "parallel")
    import_archive(folder, parallel)
    assert used  # the parent took pieces itself

    assert workspace_lines(parallel) == workspace_lines(serial)
