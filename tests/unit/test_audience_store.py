"""Audience inputs, candidates and decisions in the workspace, and the CLI's bad-input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from departures.audience import store
from departures.audience.follow import eta_seconds
from departures.audience.inputs import InputError, parse_directory, read_names
from departures.audience.review import render
from departures.audience.scoring import BskySide, XSide, score
from departures.bluesky.records import decode_tid, derived_rkey, follow_key
from departures.cli import main
from departures.workspace.db import Workspace

DID_A = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
DID_B = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"


def seeded(path: Path) -> Workspace:
    """A workspace as an archive import leaves it: follows, followers, seen screen names."""
    ws = Workspace.open(path)
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany("INSERT INTO following (account_id) VALUES (?)", [(1,), (2,), (3,)])
        conn.executemany("INSERT INTO followers (account_id) VALUES (?)", [(3,), (4,)])
        conn.executemany(
            "INSERT INTO screen_name_sightings (user_id, screen_name, tweet_id, field) "
            "VALUES (?, ?, ?, 'mention')",
            [(1, "oxfam_be", 10), (1, "oxfam_be", 11), (1, "old_oxfam", 5), (2, "jan", 12)],
        )
    return ws


def run(capsys: pytest.CaptureFixture[str], ws_path: Path, *args: str) -> tuple[int, str]:
    """The CLI's entry point in-process (its one-line errors included): (exit code, output)."""
    try:
        main(["--workspace", str(ws_path), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_known_handle_is_the_most_seen_and_supplied_names_win(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    assert store.x_sides(ws, [1, 2, 3])[1].handle == "oxfam_be"
    store.save_names(ws, [store.NameRow(1, "OxfamBE", "Oxfam Belgium", "oxfam.be")])
    sides = store.x_sides(ws, [1, 2, 3])
    assert sides[1] == XSide(1, "OxfamBE", "Oxfam Belgium", "oxfam.be", "")
    assert 3 not in sides


def test_directory_matches_are_accepted_but_a_persons_rejection_stands(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    proven = store.DirectoryEntry(1, DID_A, "a.test", "vouched")
    assert store.save_directory(ws, [proven], "f") == (1, 1)
    [c] = store.candidates(ws)
    assert (c.status, c.decided_by, c.found_by, c.score) == ("accepted", "auto", "directory", 1.0)
    store.decide(ws, [c.id], "rejected")
    assert store.save_directory(ws, [proven], "f") == (1, 0)
    assert store.candidates(ws)[0].status == "rejected"
    assert store.accepted_dids(ws) == []


def test_search_matches_keep_decisions_and_never_vanish(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    xs = XSide(2, "jan")
    weak = score(xs, BskySide(DID_B, "jan.test"))
    store.save_match(ws, xs, DID_B, "jan.test", "", weak)
    [c] = store.candidates(ws, status="proposed")
    store.decide(ws, [c.id], "accepted")
    store.save_match(ws, xs, DID_B, "jan.test", "Jan", weak)  # a later search
    [again] = store.candidates(ws)
    assert (again.status, again.decided_by, again.display_name) == ("accepted", "user", "Jan")
    assert store.accepted_dids(ws) == [(DID_B, 2)]


def test_accept_all_above_only_takes_proposed_ones_above_the_score(tmp_path: Path) -> None:
    ws = seeded(tmp_path / "ws")
    for x_id, did, handle in ((1, DID_A, "oxfam-be.test"), (2, DID_B, "other.test")):
        xs = XSide(x_id, "oxfam_be" if x_id == 1 else "jan")
        store.save_match(ws, xs, did, handle, "", score(xs, BskySide(did, handle)))
    assert store.accept_above(ws, 0.5) == 1
    assert store.counts(ws) == {"proposed": 1, "accepted": 1, "rejected": 0}


def test_unknown_candidate_ids_are_refused_and_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = seeded(tmp_path / "ws")
    store.save_directory(ws, [store.DirectoryEntry(1, DID_A, level="verified")], "f")
    code, out = run(capsys, tmp_path / "ws", "audience", "reject", "1", "99")
    assert code == 1
    assert "No candidate with id 99" in out
    assert store.candidates(ws)[0].status == "accepted"


def test_names_csv_errors_say_what_and_where(tmp_path: Path) -> None:
    good = tmp_path / "names.csv"
    good.write_text("id,handle,name,website\n1,@oxfam_be,Oxfam België,oxfam.be\n", "utf-8")
    assert read_names(good) == [store.NameRow(1, "oxfam_be", "Oxfam België", "oxfam.be")]
    cases = {
        "handle,name\nx,y\n": "has no id column",
        "id,handle\nabc,oxfam\n": "line 2: the X id 'abc' is not a number",
        "id,handle\n1,not a handle\n": "line 2: 'not a handle' is not an X handle",
        "id,handle\n1.5e3,oxfam\n": "is not a number",
    }
    for text, message in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text, "utf-8")
        with pytest.raises(InputError, match=message):
            read_names(bad)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("id,handle,name\n1,a,Belgi\xeb\n".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_names(latin)


def test_directory_json_is_checked_entry_by_entry() -> None:
    ok = parse_directory({"entries": [{"x_id": "12", "did": DID_A, "handle": "a"}]}, "f")
    assert ok == [store.DirectoryEntry(12, DID_A, "a")]
    with pytest.raises(InputError, match="entry 1: 'nope' is not a Bluesky DID"):
        parse_directory([{"x_id": 1, "did": "nope"}], "f")
    with pytest.raises(InputError, match="not a directory export"):
        parse_directory({"people": []}, "f")


def test_cli_bad_inputs_are_one_line_errors_and_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws_path = tmp_path / "ws"
    empty = tmp_path / "empty"
    entry = {"x_id": 1, "did": DID_A, "level": "verified"}
    (tmp_path / "d.json").write_text(json.dumps({"entries": [entry]}))
    code, out = run(capsys, empty, "audience", "import-directory", str(tmp_path / "d.json"))
    assert code == 1 and "holds no X archive" in out and out.count("\n") == 1
    seeded(ws_path)
    (tmp_path / "bad.json").write_text("{not json")
    code, out = run(capsys, ws_path, "audience", "import-directory", str(tmp_path / "bad.json"))
    assert code == 1 and "is not valid JSON" in out
    code, out = run(capsys, ws_path, "audience", "import-names", str(tmp_path / "missing.csv"))
    assert code == 1 and "Cannot read" in out
    code, out = run(capsys, ws_path, "audience", "match", "--appview", "http://127.0.0.1:9")
    assert code == 1 and "Cannot reach the Bluesky AppView at http://127.0.0.1:9" in out
    code, out = run(capsys, ws_path, "audience", "sync", "--directory", "http://127.0.0.1:9")
    assert code == 1 and "Cannot reach the directory at http://127.0.0.1:9" in out
    assert store.candidates(Workspace.open(ws_path)) == []
    code, out = run(capsys, ws_path, "audience", "import-directory", str(tmp_path / "d.json"))
    assert code == 0 and "1 are in your audience (1 new matches; 1 proven and accepted" in out


def test_review_page_escapes_strangers_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = seeded(tmp_path / "ws")
    xs = XSide(1, "oxfam_be")
    evil = BskySide(DID_A, "oxfam-be.test", "<script>alert(1)</script>", "x.com/oxfam_be")
    store.save_match(ws, xs, DID_A, evil.handle, evil.display_name, score(xs, evil))
    page = render(store.candidates(ws))
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="https://x.com/oxfam_be"' in page
    code, out = run(capsys, tmp_path / "ws", "audience", "review")
    assert code == 0 and "oxfam-be" in out and "<script>" in out


def test_follow_rkeys_are_tids_that_depend_only_on_the_subject() -> None:
    assert derived_rkey(DID_A) == derived_rkey(DID_A)
    assert derived_rkey(DID_A) != derived_rkey(DID_B)
    assert derived_rkey(DID_A) != derived_rkey(DID_A, "at://list")
    decode_tid(derived_rkey(DID_A))  # a valid TID
    assert follow_key(DID_A, None) == f"follow:{DID_A}"


def test_eta_counts_the_daily_cap_and_the_hourly_spread() -> None:
    assert eta_seconds(0, 0, 300, 60) == 0
    assert eta_seconds(60, 0, 300, 60) == 3600
    assert eta_seconds(1000, 300, 300, None) == 4 * 86400
    assert eta_seconds(200, 0, 300, 60) == pytest.approx(200 / 60 * 3600)
