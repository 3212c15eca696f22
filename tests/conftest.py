"""Fixtures shared by the whole test tree (plain helpers are in the ``helpers`` package).

* ``workspace_dir``: a fresh workspace path.
* ``clock``: a :class:`helpers.clock.Clock` at ``helpers.clock.START``.
* ``engine``: a migrated coalition store database, SQLite unless the test is parametrised
  with ``helpers.stores.ON_BOTH_STORES``, which adds the same test on PostgreSQL.
* ``store``: a ``CoalitionStore`` on ``engine`` with ``clock``.
* ``postgres_cluster`` / ``postgres_engine``: one PostgreSQL cluster and one migrated
  database for the whole session, started only if a test asks for them.
* ``smtp``: a real SMTP receiver on a free loopback port: ``(helpers.mail.Inbox, port)``.
* ``browsers``: a list the test adds its :class:`helpers.access.Browser` s to, each closed
  after the test (for modules that define an ``app`` fixture).

Tests that use a server fixture (sandbox, PostgreSQL, Chromium) get its marker here at
collection (see ``helpers.markers``), so ``-m "not sandbox and not postgres and not browser"``
runs exactly what needs no server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from departures.coalition.db import connect, migrate
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.access import Browser
from helpers.clock import Clock
from helpers.mail import Inbox
from helpers.markers import markers_for
from helpers.ports import free_port
from helpers.stores import (
    POSTGRESQL,
    SQLITE,
    create_database,
    empty_every_table,
    migrated_sqlite,
    start_postgres,
)

pytest_plugins = ["departures.sandbox.pytest_plugin"]


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a server fixture with that server's marker."""
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for marker in sorted(markers_for(getattr(item, "fixturenames", ())) - present):
            item.add_marker(marker)


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty workspace directory."""
    yield tmp_path / "ws"


@pytest.fixture
def clock() -> Clock:
    """A clock standing at ``helpers.clock.START`` until the test moves it."""
    return Clock()


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running PostgreSQL cluster for the session; yields its base URL (no database)."""
    cluster, url = start_postgres(tmp_path_factory.mktemp("coalition-pg"))
    try:
        yield url
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_engine(postgres_cluster: str) -> Iterator[Engine]:
    """One coalition database for the session, created blank and migrated by the store."""
    engine = connect(create_database(postgres_cluster, "coalition"))
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A blank, migrated coalition store: SQLite in ``tmp_path``, or (parametrised with
    ``ON_BOTH_STORES``) the session's PostgreSQL database emptied for this test."""
    kind = getattr(request, "param", SQLITE)
    if kind == POSTGRESQL:
        shared: Engine = request.getfixturevalue("postgres_engine")
        empty_every_table(shared)
        yield shared
        return
    assert kind == SQLITE, kind
    engine = migrated_sqlite(tmp_path / "coalition.db")
    yield engine
    engine.dispose()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """An SMTP server (aiosmtpd) on a free loopback port, keeping what it receives."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> CoalitionStore:
    """The coalition store on ``engine``, telling time by ``clock``."""
    return CoalitionStore(engine, clock=clock)


@pytest.fixture
def browsers(app: CoalitionApp) -> Iterator[list[Browser]]:
    """The test's in-process browsers on the module's ``app``, closed after the test."""
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        browser.close()
