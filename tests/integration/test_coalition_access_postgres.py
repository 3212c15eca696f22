"""Sessions, revocations and erasure, run again on a real PostgreSQL.

The test functions are those of ``tests/unit/test_coalition_erasure.py`` and
``tests/unit/test_coalition_sessions.py`` (but the CLI's, which opens its own SQLite URL),
collected here with a ``store`` on the throwaway cluster of ``test_coalition_postgres.py``:
the scan of every table finds nothing after a withdrawal or an organisation's deletion on both
engines.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine

from departures.coalition.store import CoalitionStore

pytestmark = pytest.mark.postgres

_HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_postgres = _load("coalition_postgres_fixtures", _HERE / "test_coalition_postgres.py")
postgres_cluster = _postgres.postgres_cluster
postgres_engine = _postgres.postgres_engine
engine = _postgres.engine

# The erasure module's app (with a Bluesky sign-in) serves the session tests too.
_FIXTURES = ("app", "sign_in", "browsers")
for _module_name in ("test_coalition_erasure", "test_coalition_sessions"):
    _cases = _load(f"{_module_name}_cases", _HERE.parent / "unit" / f"{_module_name}.py")
    _wanted = [n for n in dir(_cases) if n.startswith("test_") and "cli" not in n]
    if _module_name == "test_coalition_erasure":
        _wanted += _FIXTURES
    for _name in _wanted:
        globals()[_name] = getattr(_cases, _name)


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The coalition store on the session's PostgreSQL database, emptied for each test."""
    return CoalitionStore(engine)


def test_these_cases_really_run_on_postgresql(store: CoalitionStore) -> None:
    assert store.engine.dialect.name == "postgresql"
