"""The departure day's store parts on a real PostgreSQL: the writer's journal and the member
page's welcome form run here exactly as on SQLite (the same test functions, re-exported, with
the ``engine`` fixture of the coalition's PostgreSQL tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve().parent
_postgres = _load(_HERE / "test_coalition_postgres.py", "coalition_postgres_fixtures")
_cases = _load(_HERE.parent / "unit" / "test_coalition_departure.py", "coalition_departure_cases")

postgres_cluster = _postgres.postgres_cluster
postgres_engine = _postgres.postgres_engine
engine = _postgres.engine
clock = _cases.clock
store = _cases.store

test_the_journal_keeps_open_batches_results_and_the_budget = (
    _cases.test_the_journal_keeps_open_batches_results_and_the_budget
)
test_the_member_page_refuses_a_welcome_text_over_300_characters = (
    _cases.test_the_member_page_refuses_a_welcome_text_over_300_characters
)
