"""The reconnect pass on a real PostgreSQL: the store-level tests of
test_coalition_reconnect_pass.py (proposals once per entry and member, one e-mail per round in the
same transaction, a pass that dies half-way, withdrawal, replacing the ids) re-exported with
the ``engine`` fixture of the coalition's PostgreSQL tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Engine, text

from departures.coalition.store.schema import metadata


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HERE = Path(__file__).resolve().parent
_postgres = _load(_HERE / "test_coalition_postgres.py", "coalition_postgres_fixtures")
_cases = _load(_HERE / "test_coalition_reconnect_pass.py", "coalition_reconnect_cases")

postgres_cluster = _postgres.postgres_cluster
postgres_engine = _postgres.postgres_engine
clock = _cases.clock
store = _cases.store


@pytest.fixture
def engine(postgres_engine: Engine) -> Engine:
    """The emptied PostgreSQL store, the directory (its own metadata) included."""
    tables = ", ".join(["directory_entries", *(t.name for t in metadata.sorted_tables)])
    with postgres_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_engine


test_a_late_registrant_is_proposed_once_in_its_own_round = (
    _cases.test_a_late_registrant_is_proposed_once_in_its_own_round
)
test_each_member_is_proposed_the_accounts_it_followed = (
    _cases.test_each_member_is_proposed_the_accounts_it_followed
)
test_a_pass_that_dies_half_way_proposes_everything_later_and_once = (
    _cases.test_a_pass_that_dies_half_way_proposes_everything_later_and_once
)
test_withdrawal_removes_the_entrys_proposals = _cases.test_withdrawal_removes_the_entrys_proposals
test_a_new_upload_replaces_the_ids_and_deleting_stops_the_pass = (
    _cases.test_a_new_upload_replaces_the_ids_and_deleting_stops_the_pass
)
test_the_scheduler_tick_proposes_and_a_member_without_email_sees_it_on_its_page = (
    _cases.test_the_scheduler_tick_proposes_and_a_member_without_email_sees_it_on_its_page
)
