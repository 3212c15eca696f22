"""The coalition's directory: consented pairs, withdrawal, the lookup API and its use by
``departures audience`` (import of the export, sync of late registrants)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from departures.audience import inputs, store
from departures.cli import main
from departures.coalition.directory import Directory, DirectoryError, account_from_archive
from departures.coalition.store import CoalitionStore
from departures.workspace.db import Workspace
from helpers.web import coalition_app, serve

DID_A = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
DID_B = "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb"


@pytest.fixture
def coalition(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)


@pytest.fixture
def server(coalition: CoalitionStore) -> Iterator[str]:
    """The coalition app served by uvicorn on a free port (the CLI talks real HTTP)."""
    with serve(lambda base: coalition_app(coalition, base_url=base)) as base:
        yield base


def test_register_lookup_and_withdraw_remove_the_pair_everywhere(
    coalition: CoalitionStore,
) -> None:
    directory = Directory(coalition.engine)
    directory.register("12", "@Oxfam_BE", DID_A, "oxfam.be")
    directory.bulk_add([("13", "greenpeace", DID_B, "greenpeace.test")])
    assert directory.lookup(["12", "13", "99"]) == [
        {"x_id": "12", "did": DID_A, "handle": "oxfam.be", "level": "archive", "disputed": False},
        {
            "x_id": "13",
            "did": DID_B,
            "handle": "greenpeace.test",
            "level": "vouched",
            "disputed": False,
        },
    ]
    assert directory.withdraw(DID_A) == 1
    assert directory.lookup(["12"]) == []
    assert [e["x_id"] for e in directory.export()] == ["13"]


def test_bad_pairs_and_oversized_lookups_are_refused(coalition: CoalitionStore) -> None:
    directory = Directory(coalition.engine)
    with pytest.raises(DirectoryError, match="not a number"):
        directory.register("12a", "oxfam", DID_A, "")
    with pytest.raises(DirectoryError, match="not a Bluesky DID"):
        directory.register("12", "oxfam", "did:plc:short", "")
    with pytest.raises(DirectoryError, match="at most 1000"):
        directory.lookup([str(i) for i in range(1001)])
    assert directory.export() == []


def test_account_js_gives_the_x_id_and_username() -> None:
    data = b'window.YTD.account.part0 = [{"account": {"accountId": "42", "username": "ngo"}}]'
    assert account_from_archive(data) == ("42", "ngo")
    with pytest.raises(DirectoryError, match=r"not the account\.js"):
        account_from_archive(b"window.YTD.tweets.part0 = []")


def test_lookup_api_answers_json_and_refuses_bad_ids(
    coalition: CoalitionStore, server: str
) -> None:
    Directory(coalition.engine).register("12", "oxfam", DID_A, "oxfam.be")
    ok = httpx.get(f"{server}/directory/lookup", params={"x_ids": "12,99"})
    assert ok.status_code == 200
    assert ok.json() == {
        "entries": [
            {
                "x_id": "12",
                "did": DID_A,
                "handle": "oxfam.be",
                "level": "archive",
                "disputed": False,
            }
        ]
    }
    bad = httpx.get(
        f"{server}/directory/lookup",
        params={"x_ids": "12,abc"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 400 and "not a number" in bad.json()["error"]
    exported = httpx.get(f"{server}/directory/export.json").json()
    assert inputs.parse_directory(exported, "export") == [
        store.DirectoryEntry(12, DID_A, "oxfam.be", "archive")
    ]


def test_sync_picks_up_a_late_registrant_and_withdrawal_is_respected(
    coalition: CoalitionStore, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany("INSERT INTO following (account_id) VALUES (?)", [(12,), (13,)])
    directory = Directory(coalition.engine)
    # Proven claims (a coordinator's) are accepted without review; see test_claims_* for
    # the others.
    directory.register("12", "oxfam", DID_A, "oxfam.be", source="coordinator")
    directory.register("77", "stranger", DID_B, "b.test")  # not in our audience
    entries = inputs.lookup(server, store.sources(ws, "following"))
    store.save_directory(ws, entries, server)
    assert store.accepted_dids(ws) == [(DID_A, 12)]
    # Someone the organisation followed registers later: the next sync finds them.
    directory.register("13", "greenpeace", DID_B, "greenpeace.test", source="coordinator")
    try:
        main(["--workspace", str(tmp_path / "ws"), "audience", "sync", "--directory", server])
    except SystemExit as exc:
        assert not exc.code
    assert "1 new directory matches; 1 more accounts to follow" in capsys.readouterr().out
    assert {did for did, _ in store.accepted_dids(ws)} == {DID_A, DID_B}


def test_unreachable_directory_is_a_one_line_error() -> None:
    with pytest.raises(inputs.InputError, match="Cannot reach the directory"):
        inputs.lookup("http://127.0.0.1:9", [1])
