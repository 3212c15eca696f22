"""The departure day against the local sandbox network: members' welcome posts are published
exactly once through the journaled writer, sessions are kept encrypted, bad input is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from atproto import Client
from sqlalchemy import Engine

from departures.coalition.departure import DepartureDay, welcome_rkey
from departures.coalition.errors import BadInput
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.notify import Notifier
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.vault import Vault
from departures.errors import BlueskyError
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.cli import cli_argv
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.web import InProcessBrowser, coalition_app

pytestmark = pytest.mark.sandbox

POST = "app.bsky.feed.post"
SECRET = b"a test secret that is long enough"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


@pytest.fixture
def db_path(engine: Engine) -> Path:
    """The file of the SQLite store (``store`` works on it too), for the CLI to open."""
    assert engine.url.database is not None
    return Path(engine.url.database)


def departing_campaign(
    store: CoalitionStore, clock: Clock, members: list[Account]
) -> tuple[Campaign, list[Organisation]]:
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=len(members))
    organisations = []
    for account in members:
        organisation, key = join(
            store,
            campaign.slug,
            coordinator,
            f"Org {account.handle}",
            bluesky_handle=account.handle,
            bluesky_did=account.did,
        )
        store.pledge(organisation.id, 0)
        organisations.append(organisation)
        _KEYS[organisation.id] = key
    return store.campaign(campaign.slug), organisations


_KEYS: dict[int, str] = {}  # member keys of the last campaign made, for signing in


def store_key(store: CoalitionStore, organisation: Organisation) -> str:
    return _KEYS[organisation.id]


def posts_of(sandbox: TestSandbox, did: str) -> list[dict[str, object]]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records({"repo": did, "collection": POST, "limit": 100})
        return [{"uri": r.uri, "text": r.value.text} for r in page.records]
    finally:
        client.request.close()


def test_each_opted_in_member_posts_once_and_the_app_password_is_never_stored(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock, db_path: Path
) -> None:
    first, second, silent = (sandbox.new_account(p) for p in ("first", "second", "silent"))
    campaign, (org1, org2, org3) = departing_campaign(store, clock, [first, second, silent])
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    day.prepare(
        org1, "We have landed on Bluesky! 🦋", opted_in=True, app_password=first.app_password
    )
    day.prepare(
        org2,
        "Hello Bluesky, see https://example.org/why",
        opted_in=True,
        app_password=second.app_password,
    )
    day.prepare(org3, "Not yet.", opted_in=False)
    notifier = Notifier(store, base_url="http://coalition.test", departure_hook=day)

    clock.now = campaign.departure_at - timedelta(minutes=1)
    notifier.tick()
    assert posts_of(sandbox, first.did) == []  # not before the departure time

    clock.now = campaign.departure_at + timedelta(minutes=1)
    for _ in range(2):
        report = notifier.tick()
        assert report.errors == []
    posts1, posts2 = posts_of(sandbox, first.did), posts_of(sandbox, second.did)
    assert [p["text"] for p in posts1] == ["We have landed on Bluesky! 🦋"]
    # The link shown shortened, as Bluesky's apps post it; the facet keeps the whole URL.
    assert [p["text"] for p in posts2] == ["Hello Bluesky, see example.org/why"]
    assert str(posts1[0]["uri"]).endswith("/" + welcome_rkey(campaign, org1.id))
    assert posts_of(sandbox, silent.did) == []
    assert day.welcome(org1).post_uri == posts1[0]["uri"]
    assert day.welcome(org3).post_uri == ""

    raw = b"".join(path.read_bytes() for path in db_path.parent.glob("coalition.db*"))
    for account, org in ((first, org1), (second, org2)):
        assert account.app_password.encode() not in raw
        stored = day.sessions(org).get()
        assert stored is not None and stored.did == account.did
        assert stored.refresh_jwt.encode() not in raw
        assert stored.access_jwt.encode() not in raw


def test_a_post_survives_a_lost_result_and_is_not_sent_twice(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    member = sandbox.new_account("lost")
    campaign, (org,) = departing_campaign(store, clock, [member])
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    day.prepare(org, "Landed.", opted_in=True, app_password=member.app_password)
    clock.now = campaign.departure_at
    uri = day.publish(campaign, org)
    # As if the process died after the server wrote, before the store recorded it.
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE departure_posts SET post_uri = '', published_at = NULL")
        conn.exec_driver_sql("DELETE FROM bluesky_records")
        conn.exec_driver_sql("UPDATE bluesky_batches SET state = 'sent'")
    assert day.publish(campaign, org) == uri
    assert len(posts_of(sandbox, member.did)) == 1


def test_a_killed_tick_is_resumed_without_a_second_post(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock, db_path: Path, tmp_path: Path
) -> None:
    members = [sandbox.new_account(f"kill{i}") for i in range(3)]
    _campaign, orgs = departing_campaign(store, clock, members)
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    for account, org in zip(members, orgs, strict=True):
        day.prepare(
            org, f"{account.handle} has landed.", opted_in=True, app_password=account.app_password
        )
    # The real clock is long past 2025: the subprocess sees the campaign departed.
    env = {
        **os.environ,
        "DEPARTURES_COALITION_SECRET": SECRET.decode(),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
    }
    command = cli_argv(
        "coalition", "tick", "--db", f"sqlite:///{db_path}",
        "--handle-service", sandbox.pds_url, "--bluesky-service", sandbox.pds_url,
    )  # fmt: skip
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        with store.engine.connect() as conn:
            sent = conn.exec_driver_sql("SELECT count(*) FROM bluesky_batches").scalar()
        if sent:
            break
        time.sleep(0.01)
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr
    for account in members:
        assert [p["text"] for p in posts_of(sandbox, account.did)] == [
            f"{account.handle} has landed."
        ]


def test_a_wrong_app_password_and_a_too_long_text_are_refused_clearly(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    member = sandbox.new_account("wrong")
    _campaign, (org,) = departing_campaign(store, clock, [member])
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    with pytest.raises(BlueskyError, match="refused the password"):
        day.prepare(org, "Hello", opted_in=True, app_password="aaaa-bbbb-cccc-dddd")
    with pytest.raises(BadInput, match="too long"):
        day.prepare(org, "é" * 301, opted_in=False)
    with pytest.raises(BadInput, match="connect your Bluesky account"):
        day.prepare(org, "Hello", opted_in=True)
    assert day.welcome(org).account_handle == ""


def test_the_member_page_connects_the_account_and_then_shows_the_published_post(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    member = sandbox.new_account("page")
    campaign, (org,) = departing_campaign(store, clock, [member])
    key = store_key(store, org)
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    app = coalition_app(
        store,
        resolver=XrpcHandleResolver(sandbox.pds_url),
        departure=day,
    )
    browser = InProcessBrowser(app)
    try:
        browser.submit("/member/sign-in", {"key": key}, "/member/sign-in")
        wrong = browser.submit(
            "/member/welcome",
            {"welcome_text": "Hi", "opted_in": "1", "app_password": "aaaa-bbbb-cccc-dddd"},
            "/member",
        )
        assert wrong.status_code == 400
        assert "refused the password" in wrong.text
        assert "aaaa-bbbb-cccc-dddd" not in wrong.text
        form = {"welcome_text": "We are here now.", "opted_in": "1"}
        right = browser.submit(
            "/member/welcome", {**form, "app_password": member.app_password}, "/member"
        )
        assert right.status_code == 200
        assert f"Connected account: @{member.handle}" in right.text
        assert member.app_password not in right.text

        clock.now = campaign.departure_at + timedelta(seconds=5)
        Notifier(store, base_url="http://testserver", departure_hook=day).tick()
        page = browser.get("/member")
        published = day.welcome(org).post_uri
        assert published and published in page.text
        assert [p["uri"] for p in posts_of(sandbox, member.did)] == [published]
    finally:
        browser.close()
