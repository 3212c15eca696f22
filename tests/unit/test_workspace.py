"""The workspace: migrations on a blank database, WAL mode, transactions."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from departures.errors import WorkspaceError
from departures.workspace import Workspace, applied_migrations, migrate
from departures.workspace.migrations import MIGRATIONS


def test_blank_database_migrates_to_every_migration_in_order(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "blank.db", isolation_level=None)
    applied = migrate(conn)
    assert applied == [m.__name__ for m in MIGRATIONS]
    assert applied_migrations(conn) == applied
    assert migrate(conn) == []  # a second run applies nothing


def test_migration_names_are_ordered_and_unique() -> None:
    names = [m.__name__ for m in MIGRATIONS]
    assert len(set(names)) == len(names)
    numbers = [int(n[1:4]) for n in names]
    assert numbers == sorted(numbers)
    assert all(n.startswith("m") and n[4] == "_" for n in names)


def test_workspace_is_created_in_wal_mode(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    assert (tmp_path / "ws" / "workspace.db").exists()
    assert ws.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    ws.close()


def test_workspace_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_WORKSPACE", str(tmp_path / "from-env"))
    assert Workspace.resolve_path(None) == tmp_path / "from-env"
    assert Workspace.resolve_path(tmp_path / "flag") == tmp_path / "flag"


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(RuntimeError), ws.transaction():
        ws.set_meta("account_id", "1")
        raise RuntimeError("boom")
    assert ws.get_meta("account_id") is None


def test_missing_workspace_without_create_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="No workspace"):
        Workspace.open(tmp_path / "nothing", create=False)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "workspace.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(WorkspaceError, match="not a usable workspace database"):
        Workspace.open(tmp_path / "ws")


def test_none_is_still_stored_as_null_with_the_fast_adapter(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")  # registers the None adapter
    ws.conn.execute("CREATE TABLE t (a, b)")
    ws.conn.executemany("INSERT INTO t VALUES (?, ?)", [(None, 1), (2, None)])
    assert ws.conn.execute("SELECT typeof(a), typeof(b) FROM t ORDER BY rowid").fetchall() == [
        ("null", "integer"),
        ("integer", "null"),
    ]
