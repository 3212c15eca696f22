"""Secrets of the coalition service: a weak secret refused at start, key rotation with the old
keys still decrypting, the SQLite store created 0600, and no token in the log."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from departures.cli import main
from departures.coalition.db import connect, migrate
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.security import (
    FALLBACKS_ENV,
    SECRET_ENV,
    WeakSecret,
    check_secret,
    load_secret_key,
)
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.coalition.web import CoalitionApp
from departures.errors import BlueskyError
from helpers.access import Browser

OLD = "an old secret of the coalition: 32+ chars"
NEW = "the new secret of the coalition after rotation"


@pytest.mark.parametrize(
    "weak", ["a", "short but varied!", "a" * 64, "abababababababababababababababab"]
)
def test_a_weak_secret_is_refused(weak: str) -> None:
    with pytest.raises(WeakSecret, match="too weak"):
        check_secret(weak)


def test_a_weak_secret_stops_the_server_at_start_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, "a")
    with pytest.raises(SystemExit) as stopped:
        main(["coalition", "serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--port", "9"])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"Error: {SECRET_ENV} is too weak: it needs at least 32 characters")
    assert len(error.strip().splitlines()) == 1
    assert "a" * 2 not in error.split(":", 1)[1].split("(")[0]  # the secret itself not shown


def test_a_weak_fallback_key_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, NEW)
    monkeypatch.setenv(FALLBACKS_ENV, f"{OLD},tiny")
    with pytest.raises(WeakSecret, match=FALLBACKS_ENV):
        load_secret_key()


def test_a_strong_secret_is_taken_and_the_generated_file_is_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, NEW)
    assert load_secret_key(tmp_path) == NEW.encode()
    monkeypatch.delenv(SECRET_ENV)
    generated = load_secret_key(tmp_path)
    assert len(generated) >= 32
    assert stat.S_IMODE((tmp_path / "coalition.secret").stat().st_mode) == 0o600


def test_rotation_decrypts_what_the_old_key_encrypted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FALLBACKS_ENV, raising=False)
    stored = Vault(OLD.encode()).encrypt("refresh token of an organisation")
    with pytest.raises(BlueskyError, match="cannot be decrypted"):
        Vault(NEW.encode()).decrypt(stored)
    # The old key listed as a fallback, by the environment or explicitly: still readable, and
    # what is encrypted now uses the new key.
    monkeypatch.setenv(FALLBACKS_ENV, f" {OLD} ")
    rotated = Vault(NEW.encode())
    assert rotated.decrypt(stored) == "refresh token of an organisation"
    fresh = rotated.encrypt("new")
    assert Vault(NEW.encode(), fallbacks=[]).decrypt(fresh) == "new"
    with pytest.raises(BlueskyError):
        Vault(OLD.encode(), fallbacks=[]).decrypt(fresh)


def test_the_sqlite_store_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        engine = connect(f"sqlite:///{tmp_path / 'coalition.db'}")
        migrate(engine)
        engine.dispose()
    finally:
        os.umask(old_umask)
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The store on the real clock, in ``tmp_path/coalition.db`` (conftest's ``engine``)."""
    return CoalitionStore(engine)


def test_an_error_on_an_invitation_page_does_not_log_its_token(
    store: CoalitionStore, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "Zq" + "x7" * 21

    def broken(token: str) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(store, "check_invite", broken)
    app = CoalitionApp(
        store,
        secret_key=NEW.encode(),
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url="http://testserver",
    )
    browser = Browser(app)
    try:
        with caplog.at_level(logging.DEBUG):
            response = browser.get(f"/invite/{token}")
    finally:
        browser.close()
    assert response.status_code == 500
    # The server's log (the test's own HTTP client logs the URL it asked for, as a browser
    # history would hold it).
    server_log = "\n".join(
        logging.Formatter().format(record)  # with its traceback
        for record in caplog.records
        if record.name.startswith("departures")
    )
    assert "GET /invite/{token}" in server_log  # the error is logged ...
    assert token not in server_log  # ... without the token
