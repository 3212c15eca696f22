"""Erasing a listed account forgets its entry and still takes it off the list on Bluesky:
``erase_did`` keeps only the item's record key (no DID, no reasons, no audit lines), the next
scheduler pass deletes the item from the PDS, once, and then nothing of the entry is left.
Also an entry whose upheld appeal was not yet written when the account was erased."""

from __future__ import annotations

import pytest
from atproto import Client
from sqlalchemy import select

from departures.bluesky.records import LISTITEM
from departures.coalition import moderation
from departures.coalition.listsync import CoalitionLists
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore
from departures.coalition.store import access as access_rows
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from departures.coalition.store.schema import modlist_proposals
from departures.coalition.vault import Vault
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.coalition import join, open_campaign

pytestmark = pytest.mark.sandbox

SECRET = b"a modlist erasure secret, long enough"
POST = "https://bsky.app/profile/x.test/post/3kabc"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def items(sandbox: TestSandbox, did: str, list_uri: str) -> list[str]:
    """The subjects of the list's items in the owner's repository (one per record)."""
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": LISTITEM, "limit": 100}
        )
    finally:
        client.request.close()
    return sorted(r.value.subject for r in page.records if r.value.list == list_uri)


def test_an_erased_listed_account_leaves_the_list_on_the_next_pass(
    sandbox: TestSandbox, store: CoalitionStore
) -> None:
    office = sandbox.new_account("eraseoff")
    erased, appealed, kept = (sandbox.new_account(p) for p in ("erasee", "eraseapp", "erasekeep"))
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=2)
    first = join(store, campaign.slug, coordinator, "First NGO")[0]
    second = join(store, campaign.slug, coordinator, "Second NGO")[0]
    lists = CoalitionLists(store, Vault(SECRET), sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    notifier = Notifier(store, base_url="http://coalition.test", list_sync=lists)
    assert notifier.tick().errors == []
    modlist = lists.modlist_uri(campaign)
    for account in (erased, appealed, kept):
        made = rows.propose(
            store.engine, campaign.id, Actor.member(first.id), did=account.did, handle="",
            reasons="Threats.", evidence=[POST], now=store.clock(),
        )  # fmt: skip
        moderation.decide(
            store, None, campaign, made.id, Actor.member(second.id), approve=True, reason=""
        )
    assert notifier.tick().errors == []
    assert items(sandbox, office.did, modlist) == sorted([erased.did, appealed.did, kept.did])
    # An upheld appeal not yet written to the list when the account is erased.
    _entry, appeal = moderation.appeal(store, campaign, appealed.did, "Mistaken identity.")
    moderation.decide_appeal(
        store, None, campaign, appeal.id, Actor.coordinator(coordinator), uphold=True,
        reason="Another account.",
    )  # fmt: skip

    access_rows.erase_did(store.engine, erased.did)
    access_rows.erase_did(store.engine, appealed.did)
    with store.engine.connect() as conn:
        left = conn.execute(select(modlist_proposals)).all()
    named = {row.subject_did for row in left}
    assert named == {kept.did, ""}  # what is left of the erased entries names no DID
    assert all(row.reasons == "" for row in left if not row.subject_did)
    assert [e.subject_did for e in rows.events(store.engine, campaign.id)] == [kept.did] * 3
    assert [p.subject_did for p in rows.proposals(store.engine, campaign.id)] == [kept.did]

    assert notifier.tick().errors == []
    assert items(sandbox, office.did, modlist) == [kept.did]
    with store.engine.connect() as conn:
        left = conn.execute(select(modlist_proposals)).all()
    assert [row.subject_did for row in left] == [kept.did]  # and then nothing else is kept
    assert notifier.tick().errors == []
    assert items(sandbox, office.did, modlist) == [kept.did]
