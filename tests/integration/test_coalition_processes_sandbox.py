"""Welcome posts with two scheduler processes on one PostgreSQL store, against the sandbox:
each member's post is written once, whether the passes overlap or not."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest
from atproto import Client

from departures.coalition.departure import DepartureDay, welcome_rkey
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.vault import Vault
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.cli import cli_argv
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.stores import POSTGRESQL

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.parametrize(
        "engine", [pytest.param(POSTGRESQL, marks=pytest.mark.postgres)], indirect=True
    ),
]

POST = "app.bsky.feed.post"
SECRET = b"a test secret that is long enough"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def departing(
    store: CoalitionStore, sandbox: TestSandbox, members: list[Account]
) -> tuple[Campaign, list[Organisation], DepartureDay]:
    """A campaign every member pledged to, each with a welcome post and a connected account."""
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=len(members))
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    organisations = []
    for account in members:
        organisation, _key = join(
            store,
            campaign.slug,
            coordinator,
            f"Org {account.handle}",
            bluesky_handle=account.handle,
            bluesky_did=account.did,
        )
        store.pledge(organisation.id, 0)
        day.prepare(
            organisation,
            f"{account.handle} has landed.",
            opted_in=True,
            app_password=account.app_password,
        )
        organisations.append(organisation)
    return store.campaign(campaign.slug), organisations, day


def texts_of(sandbox: TestSandbox, did: str) -> list[str]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records({"repo": did, "collection": POST, "limit": 100})
        return [record.value.text for record in page.records]
    finally:
        client.request.close()


def test_two_tick_processes_at_once_write_each_welcome_post_once(
    sandbox: TestSandbox, store: CoalitionStore, tmp_path: Path
) -> None:
    members = [sandbox.new_account(f"twice{i}") for i in range(3)]
    campaign, orgs, day = departing(store, sandbox, members)
    # The real clock is long past the campaign's dates: the processes see it departed.
    env = {
        **os.environ,
        "DEPARTURES_COALITION_SECRET": SECRET.decode(),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
    }
    url = store.engine.url.render_as_string(hide_password=False)
    command = cli_argv(
        "coalition", "tick", "--db", url,
        "--handle-service", sandbox.pds_url, "--bluesky-service", sandbox.pds_url,
    )  # fmt: skip
    processes = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    for process in processes:
        _out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err.decode()
    for account in members:
        assert texts_of(sandbox, account.did) == [f"{account.handle} has landed."]
    for org in orgs:
        assert day.welcome(org).post_uri.endswith("/" + welcome_rkey(campaign, org.id))


def test_two_publishers_racing_past_the_lock_still_post_once(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    """Without the scheduler's lock (two passes in two threads), the record key alone keeps
    the post single: the server refuses a second record under the same key."""
    member = sandbox.new_account("race")
    campaign, (org,), day = departing(store, sandbox, [member])
    clock.now = campaign.departure_at
    start = threading.Barrier(2)
    outcomes: list[str | Exception | None] = []

    def publish() -> None:
        start.wait()
        try:
            outcomes.append(day.publish(campaign, org))
        except CoalitionError as error:  # the loser may be told the server refused it
            outcomes.append(error)

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(outcomes) == 2
    assert texts_of(sandbox, member.did) == [f"{member.handle} has landed."]
    uris = {outcome for outcome in outcomes if isinstance(outcome, str)}
    assert len(uris) == 1
    # The next pass finds it recorded and writes nothing.
    assert day.publish(campaign, org) == uris.pop()
    assert len(texts_of(sandbox, member.did)) == 1
