"""The coalition's list and starter pack against the local sandbox network: kept equal to the
landed members pass after pass, idempotent, and readable through the PDS and the AppView."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client
from click.testing import CliRunner

from departures.bluesky.records import LIST, LISTITEM, STARTERPACK
from departures.cli import cli
from departures.coalition.departure import DepartureDay
from departures.coalition.listsync import CoalitionLists
from departures.coalition.notify import Notifier
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.vault import Vault
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.waiting import poll

pytestmark = pytest.mark.sandbox

SECRET = b"another test secret, long enough"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def campaign_with(
    store: CoalitionStore, members: list[Account]
) -> tuple[Campaign, list[Organisation]]:
    coordinator, campaign = open_campaign(
        store,
        title="Leave X together — the Brussels civil-society coalition of 2025",
        description="Organisations that leave X together on the same day.",
        timezone="Europe/Brussels",
    )
    organisations = []
    for account in members:
        organisation, _key = join(
            store,
            campaign.slug,
            coordinator,
            account.handle,
            bluesky_handle=account.handle,
            bluesky_did=account.did,
        )
        store.pledge(organisation.id, 0)
        organisations.append(organisation)
    return store.campaign(campaign.slug), organisations


def records(sandbox: TestSandbox, did: str, collection: str) -> list[Any]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        return list(
            client.com.atproto.repo.list_records(
                {"repo": did, "collection": collection, "limit": 100}
            ).records
        )
    finally:
        client.request.close()


def curated(sandbox: TestSandbox, did: str) -> list[Any]:
    """The account's lists of members (not its moderation list)."""
    return [r for r in records(sandbox, did, LIST) if r.value.purpose.endswith("#referencelist")]


def appview(sandbox: TestSandbox, nsid: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.appview_url}/xrpc/{nsid}", params=params, timeout=10)
    if response.status_code != 200:
        return {}
    content: dict[str, Any] = response.json()
    return content


def eventually(check: Callable[[], bool], seconds: float = 20.0) -> None:
    if not poll(check, seconds):
        raise AssertionError("the AppView did not catch up")


def list_subjects(sandbox: TestSandbox, list_uri: str) -> set[str]:
    found = appview(sandbox, "app.bsky.graph.getList", list=list_uri, limit="100")
    return {item["subject"]["did"] for item in found.get("items", [])}


def test_the_list_follows_landings_and_departures_and_the_pack_points_at_it(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    office = sandbox.new_account("office")
    a, b, c, d = (sandbox.new_account(p) for p in ("alpha", "bravo", "charlie", "delta"))
    campaign, (org_a, org_b, org_c, org_d) = campaign_with(store, [a, b, c, d])
    lists = CoalitionLists(store, Vault(SECRET), sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    notifier = Notifier(store, base_url="http://coalition.test", list_sync=lists)

    # Open: the list and the pack exist before anyone lands; the board links to the pack.
    assert notifier.tick().errors == []
    list_uri, pack_uri = lists.graph(campaign)
    assert [r.uri for r in curated(sandbox, office.did)] == [list_uri]
    assert [r.uri for r in records(sandbox, office.did, STARTERPACK)] == [pack_uri]
    assert store.campaign(campaign.slug).starter_pack_url == pack_uri  # at:// in the sandbox
    listed = curated(sandbox, office.did)[0].value
    assert listed.purpose == "app.bsky.graph.defs#referencelist"
    assert len(listed.name) <= 64

    clock.now = campaign.departure_at + timedelta(hours=1)
    store.mark_landed(org_a.id)
    store.mark_landed(org_b.id)
    for _ in range(2):
        assert notifier.tick().errors == []
    items = records(sandbox, office.did, LISTITEM)
    assert {i.value.subject for i in items} == {a.did, b.did}
    assert {i.value.list for i in items} == {list_uri}

    store.mark_landed(org_c.id)
    store.unmark_landed(org_b.id)
    for _ in range(2):
        assert notifier.tick().errors == []
    assert {i.value.subject for i in records(sandbox, office.did, LISTITEM)} == {a.did, c.did}

    eventually(lambda: list_subjects(sandbox, list_uri) == {a.did, c.did})
    eventually(
        lambda: bool(appview(sandbox, "app.bsky.graph.getStarterPack", starterPack=pack_uri))
    )
    pack = appview(sandbox, "app.bsky.graph.getStarterPack", starterPack=pack_uri)["starterPack"]
    assert pack["record"]["list"] == list_uri
    assert pack["list"]["uri"] == list_uri
    assert len(pack["record"]["name"]) <= 50

    # Past a pack's capacity a second list and pack appear; nobody moves between packs.
    two_per_pack = CoalitionLists(store, Vault(SECRET), sandbox.pds_url, capacity=2)
    store.mark_landed(org_d.id)
    landed = [o for o in store.organisations(campaign.id) if o.landed_at]
    two_per_pack.sync(store.campaign(campaign.slug), landed)
    two_per_pack.sync(store.campaign(campaign.slug), landed)
    assert len(curated(sandbox, office.did)) == 2
    assert len(records(sandbox, office.did, STARTERPACK)) == 2
    by_list: dict[str, set[str]] = {}
    for item in records(sandbox, office.did, LISTITEM):
        by_list.setdefault(item.value.list, set()).add(item.value.subject)
    assert by_list[list_uri] == {a.did, c.did}
    assert list(by_list.values()).count({d.did}) == 1


def test_members_subscribe_to_the_shared_moderation_list_the_coordinator_keeps(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> None:
    office, member, troll = (sandbox.new_account(p) for p in ("modoff", "modmem", "troll"))
    campaign, (org,) = campaign_with(store, [member])
    lists = CoalitionLists(store, Vault(SECRET), sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    lists.sync(campaign, [])
    modlist = lists.modlist_uri(campaign)
    assert modlist.startswith(f"at://{office.did}/{LIST}/")
    assert lists.moderate(campaign, troll.did, block=True)
    assert not lists.moderate(campaign, troll.did, block=True)  # already there: no write
    lists.sync(campaign, [])  # the pass leaves the moderation list's items alone
    blocked = [r for r in records(sandbox, office.did, LISTITEM) if r.value.list == modlist]
    assert [r.value.subject for r in blocked] == [troll.did]
    eventually(lambda: list_subjects(sandbox, modlist) == {troll.did})
    kinds = {r.uri: r.value.purpose for r in records(sandbox, office.did, LIST)}
    assert kinds[modlist] == "app.bsky.graph.defs#modlist"

    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    day.prepare(org, "Hello", opted_in=False, app_password=member.app_password)
    assert day.subscribe(org, on=True)
    assert not day.subscribe(org, on=True)
    assert day.subscribed(org)
    subscriptions = records(sandbox, member.did, "app.bsky.graph.listblock")
    assert [r.value.subject for r in subscriptions] == [modlist]
    assert day.subscribe(org, on=False)
    assert records(sandbox, member.did, "app.bsky.graph.listblock") == []
    assert not day.subscribed(org)
    assert lists.moderate(campaign, troll.did, block=False)
    assert [r for r in records(sandbox, office.did, LISTITEM) if r.value.list == modlist] == []


def test_the_coordinator_connects_and_moderates_from_the_shell_and_tick_syncs(
    sandbox: TestSandbox, tmp_path: Path
) -> None:
    office, troll = sandbox.new_account("shell"), sandbox.new_account("shtroll")
    db = f"sqlite:///{tmp_path / 'shell.db'}"
    env = {"DEPARTURES_COALITION_SECRET": SECRET.decode(), "DEPARTURES_PLC_URL": sandbox.plc_url}
    soon = datetime.now(UTC) + timedelta(days=7)

    def run(*args: str, password: str | None = None) -> str:
        extra = {"DEPARTURES_APP_PASSWORD": password} if password else {}
        result = CliRunner().invoke(cli, ["coalition", *args], env={**env, **extra})
        assert result.exit_code == 0, result.output
        return result.output

    created = run(
        "campaign", "create", "--db", db, "--title", "Shell coalition", "--threshold", "2",
        "--deadline", soon.strftime("%Y-%m-%dT%H:%M"),
        "--departure", (soon + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "--timezone", "UTC",
    )  # fmt: skip
    token = created.strip().splitlines()[-1]
    env["DEPARTURES_COALITION_TOKEN"] = token
    run("campaign", "open", "--db", db, "shell-coalition")
    connected = run(
        "campaign", "connect-bluesky", "--db", db, "shell-coalition",
        "--handle", office.handle, "--bluesky-service", sandbox.pds_url,
        password=office.app_password,
    )  # fmt: skip
    assert office.handle in connected and office.app_password not in connected
    run("tick", "--db", db, "--handle-service", sandbox.pds_url,
        "--bluesky-service", sandbox.pds_url)  # fmt: skip
    assert len(curated(sandbox, office.did)) == 1
    assert len(records(sandbox, office.did, STARTERPACK)) == 1
    # No back door around due process: --block is refused with the way to propose.
    refused = CliRunner().invoke(cli, [
        "coalition", "campaign", "moderate", "--db", db, "shell-coalition",
        "--block", troll.handle, "--bluesky-service", sandbox.pds_url,
    ], env=env)  # fmt: skip
    assert refused.exit_code != 0  # the one line a user sees: test_coalition_modlist_coordinator
    assert "departures coalition modlist propose shell-coalition" in str(refused.exception)
    assert troll.did not in {r.value.subject for r in records(sandbox, office.did, LISTITEM)}
    raw = b"".join(path.read_bytes() for path in tmp_path.glob("shell.db*"))
    assert office.app_password.encode() not in raw
