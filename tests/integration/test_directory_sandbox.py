"""The directory against the local sandbox network: the real Bluesky sign-in (an app password
checked on the account's PDS), a coordinator's bulk-add from the shell, a late registrant who
sees the organisation they followed on X, and consent withdrawal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from departures.cli import cli
from departures.coalition.directory import Directory
from departures.coalition.errors import NotAllowed
from departures.coalition.store import CoalitionStore
from departures.coalition.web import PdsSignIn
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.uploads import account_js, following_js
from helpers.web import InProcessBrowser, coalition_app, on_sandbox

pytestmark = pytest.mark.sandbox


@pytest.fixture
def db(engine: Engine) -> str:
    """The URL of the migrated SQLite store, for the CLI."""
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)  # on the real clock: the campaign's deadline is from now


def test_the_real_sign_in_accepts_the_app_password_and_refuses_a_wrong_one(
    sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    person = sandbox.new_account("dirsign")
    sign_in = PdsSignIn(sandbox.pds_url)
    assert sign_in.verify(person.handle, person.app_password) == (person.did, person.handle)
    with pytest.raises(NotAllowed, match="refused"):
        sign_in.verify(person.handle, "wrong-password-1234")


def test_bulk_add_then_a_late_registrant_reconnects_then_withdraws(
    sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch, db: str, store: CoalitionStore
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    org, person = sandbox.new_account("dirorg"), sandbox.new_account("dirfan")
    _, token = store.create_coordinator("Office")
    soon = datetime.now(UTC) + timedelta(days=7)
    coordinator_id = store.coordinator_by_token(token)
    assert coordinator_id is not None
    store.create_campaign(
        coordinator_id,
        title="Directory coalition",
        threshold=1,
        deadline=soon,
        departure_at=soon + timedelta(days=1),
        slug="dir-coalition",
    )

    # The coordinator adds the member organisation from the shell.
    csv = Path(db.removeprefix("sqlite:///")).with_name("members.csv")
    csv.write_text(f"x_id,x_handle,bluesky_handle\n4242,org_on_x,@{org.handle}\n")
    result = CliRunner().invoke(
        cli,
        ["coalition", "directory", "bulk-add", "--db", db, "dir-coalition", str(csv)],
        env={"DEPARTURES_COALITION_TOKEN": token, "DEPARTURES_HANDLE_SERVICE": sandbox.pds_url},
    )
    assert result.exit_code == 0, result.output
    assert "Added 1 organisations" in result.output
    assert Directory(store.engine).lookup(["4242"])[0]["did"] == org.did

    # A follower of the organisation on X registers later and sees it.
    app = coalition_app(
        store,
        base_url="http://testserver",
        **on_sandbox(sandbox.pds_url),
    )
    browser = InProcessBrowser(app)
    call = browser.request

    def csrf() -> str:
        return browser.csrf("/directory")

    try:
        signed = browser.sign_in_to_directory(person.handle, person.app_password)
        assert signed.status_code == 200 and person.did in signed.text
        registered = call(
            "POST",
            "/directory/register",
            data={"csrf": csrf(), "consent": "yes"},
            files={
                "archive": ("account.js", account_js("777", "fan_on_x")),
                "following": ("following.js", following_js("4242", "9999")),
            },
        )
        assert registered.status_code == 200, registered.text
        assert f"https://bsky.app/profile/{org.did}" in registered.text
        assert call("GET", "/directory/lookup?x_ids=777").json()["entries"][0]["did"] == person.did

        withdrawn = call("POST", "/directory/withdraw", data={"csrf": csrf()})
        assert withdrawn.status_code == 200
        assert call("GET", "/directory/lookup?x_ids=777").json() == {"entries": []}
        assert call("GET", "/directory/lookup?x_ids=4242").json()["entries"][0]["did"] == org.did
    finally:
        browser.close()
