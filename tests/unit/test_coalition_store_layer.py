"""The coalition database has one owner: SQL lives in the store layer only.

The store layer is the package :mod:`departures.coalition.store` (one ``MetaData`` and the
repositories), :mod:`departures.coalition.db` (the engine, its URL and the migrations) and
the Alembic migrations themselves. Every other coalition module calls the store's named
functions: these tests read the sources (no import) and fail on an ``.execute(`` call, a
SQLAlchemy import other than the ``Engine`` type, or a table declared outside the schema.
"""

from __future__ import annotations

import ast
from pathlib import Path

import departures.coalition

COALITION = Path(departures.coalition.__file__).parent
STORE_LAYER = ("store/", "db.py", "migrations/")
# Domain modules hold an engine to hand it to the store; the type is all they may import.
ALLOWED_SQLALCHEMY_NAMES = {"Engine"}


def _domain_modules() -> list[Path]:
    found = []
    for path in sorted(COALITION.rglob("*.py")):
        relative = path.relative_to(COALITION).as_posix()
        if not relative.startswith(STORE_LAYER):
            found.append(path)
    return found


def _offences(source: str, name: str) -> list[str]:
    tree = ast.parse(source, filename=name)
    offences: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("execute", "executemany", "exec_driver_sql"):
                offences.append(f"{name}:{node.lineno} calls .{node.func.attr}()")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlalchemy":
                    offences.append(f"{name}:{node.lineno} imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            names = {alias.name for alias in node.names}
            if node.module != "sqlalchemy" or names - ALLOWED_SQLALCHEMY_NAMES:
                offences.append(f"{name}:{node.lineno} imports {sorted(names)} from {node.module}")
    return offences


def test_the_domain_modules_are_found() -> None:
    names = {path.relative_to(COALITION).as_posix() for path in _domain_modules()}
    # The scan would pass vacuously if it looked in the wrong place.
    assert {"departure.py", "reconnect.py", "listsync.py", "directory_follow.py"} <= names
    assert not any(name.startswith("store/") for name in names)


def test_no_coalition_module_outside_the_store_layer_runs_sql() -> None:
    offences = [
        offence
        for path in _domain_modules()
        for offence in _offences(
            path.read_text(encoding="utf-8"), path.relative_to(COALITION).as_posix()
        )
    ]
    assert offences == []


def test_the_scan_catches_a_module_that_runs_sql() -> None:
    # The checker itself must fail on what it forbids, or the test above proves nothing.
    source = (
        "from sqlalchemy import Engine, select\n"
        "import sqlalchemy.dialects.sqlite\n"
        "def f(engine: Engine) -> None:\n"
        "    with engine.connect() as conn:\n"
        "        conn.execute(select(1))\n"
    )
    offences = _offences(source, "probe.py")
    assert len(offences) == 3
    assert any(".execute()" in offence for offence in offences)


def test_every_table_is_declared_in_the_one_schema_module() -> None:
    declaring = []
    for path in sorted(COALITION.rglob("*.py")):
        relative = path.relative_to(COALITION).as_posix()
        if relative == "store/schema.py" or relative.startswith("migrations/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                called = node.func
                name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", "")
                if name in ("Table", "MetaData"):
                    declaring.append(f"{relative}:{node.lineno} {name}()")
    assert declaring == []


def test_the_one_metadata_holds_every_table_the_store_queries() -> None:
    from departures.coalition.store import schema

    tables = {name for name in schema.__all__ if name not in ("metadata", "UTCDateTime")}
    assert tables == set(schema.metadata.tables)
