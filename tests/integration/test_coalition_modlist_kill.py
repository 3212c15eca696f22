"""An approved account goes on the coalition's moderation list once, even when the process
writing it is killed mid-write.

``departures coalition modlist sync`` is killed (SIGKILL) while its ``applyWrites`` of the list
item is on the wire: the PDS wrote the item, the answer never came back, the coalition's
journal holds the batch as sent and the store does not know the entry is listed. The next
``modlist sync`` settles the batch with the server, records the entry as listed — one
``listed`` line in the audit log — and writes nothing: the list holds the account once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from atproto import Client
from sqlalchemy import select

from departures.bluesky.records import LISTITEM
from departures.coalition import moderation
from departures.coalition.db import connect, migrate
from departures.coalition.listsync import CoalitionLists
from departures.coalition.store import CoalitionStore
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from departures.coalition.store.schema import bluesky_batches
from departures.coalition.vault import Vault
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.cli import cli_argv, run_cli
from helpers.coalition import join
from helpers.proxy import ProxyHandler, _Server

pytestmark = pytest.mark.sandbox

SECRET = b"a modlist kill test secret, long enough"


@dataclass
class Holder:
    """Lets the first ``applyWrites`` of a list item through to the PDS, then never answers."""

    target: str
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def should_hold(self, path: str, body: bytes) -> bool:
        return (
            path.startswith("/xrpc/com.atproto.repo.applyWrites")
            and LISTITEM.encode() in body
            and not self.held.is_set()
        )


def _handler(holder: Holder) -> type[ProxyHandler]:
    class Handler(ProxyHandler):
        def _forward(self) -> None:
            body = self.body()
            hold = self.command == "POST" and holder.should_hold(self.path, body)
            response = self.forward(holder.target, body)
            if hold:  # written on the server; the answer is lost with the killed process
                holder.held.set()
                holder.release.wait(120)
                self.close_connection = True
                return
            self.reply(response)

        do_GET = _forward
        do_POST = _forward

    return Handler


def items(sandbox: TestSandbox, did: str, list_uri: str) -> list[str]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        page = client.com.atproto.repo.list_records(
            {"repo": did, "collection": LISTITEM, "limit": 100}
        )
    finally:
        client.request.close()
    return [r.value.subject for r in page.records if r.value.list == list_uri]


def test_a_sync_killed_mid_write_leaves_the_account_on_the_list_once(
    sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    office, hostile = sandbox.new_account("kofice"), sandbox.new_account("khostile")
    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    engine = connect(db)
    migrate(engine)
    store = CoalitionStore(engine)
    coordinator, token = store.create_coordinator("Office")
    now = datetime.now(UTC)
    campaign = store.create_campaign(
        coordinator,
        title="Leave X",
        threshold=2,
        deadline=now + timedelta(days=7),
        departure_at=now + timedelta(days=14),
    )
    store.open_campaign(campaign.slug, coordinator)
    first = join(store, campaign.slug, coordinator, "First NGO")[0]
    second = join(store, campaign.slug, coordinator, "Second NGO")[0]
    lists = CoalitionLists(store, Vault(SECRET), sandbox.pds_url)
    lists.connect(campaign, office.handle, office.app_password)
    lists.sync(campaign, [])
    modlist = lists.modlist_uri(campaign)

    class Resolver:
        def resolve(self, handle: str) -> str:
            assert handle == hostile.handle
            return hostile.did

    made = moderation.propose(
        store, Resolver(), campaign, Actor.member(first.id), hostile.handle, "Threats.",
        ["https://bsky.app/profile/x.test/post/3kabc"],
    )  # fmt: skip
    # Approved without writing now (no list writer): the sync below writes it.
    moderation.decide(
        store, None, campaign, made.id, Actor.member(second.id), approve=True, reason="Yes."
    )

    holder = Holder(sandbox.pds_url)
    server = _Server(("127.0.0.1", 0), _handler(holder))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    proxy = f"http://127.0.0.1:{server.server_address[1]}"
    # The coordinator's kept session names its PDS: point it at the proxy.
    sessions = lists.sessions(campaign)
    stored = sessions.get()
    assert stored is not None
    stored.pds = proxy
    sessions.put(stored)
    env = {
        **os.environ,
        "DEPARTURES_COALITION_SECRET": SECRET.decode(),
        "DEPARTURES_COALITION_TOKEN": token,
        "DEPARTURES_PLC_URL": sandbox.plc_url,
    }
    sync = ("coalition", "modlist", "sync", campaign.slug, "--db", db, "--bluesky-service", proxy)
    try:
        child = subprocess.Popen(
            cli_argv(*sync), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            assert holder.held.wait(120), "the list item's write never came"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            holder.release.set()

        # Killed mid-write: on the server, not known to the store; one batch left open.
        assert items(sandbox, office.did, modlist) == [hostile.did]
        assert rows.proposal(engine, made.id).listed_uri == ""
        with engine.connect() as conn:
            open_batches = conn.execute(
                select(bluesky_batches.c.id).where(bluesky_batches.c.state == "sent")
            ).all()
        assert len(open_batches) == 1

        again = run_cli(*sync, env={k: env[k] for k in env if k.startswith("DEPARTURES_")})
        assert again.returncode == 0, again.stderr
        assert "0 writes sent; 1 accounts on the list." in again.stdout
    finally:
        server.shutdown()
        server.server_close()

    assert items(sandbox, office.did, modlist) == [hostile.did]
    entry = rows.proposal(engine, made.id)
    assert entry.listed_uri.startswith(f"at://{office.did}/{LISTITEM}/")
    actions = [e.action for e in rows.events(engine, campaign.id)]
    assert actions.count("listed") == 1
    with engine.connect() as conn:
        assert (
            conn.execute(
                select(bluesky_batches.c.id).where(bluesky_batches.c.state == "sent")
            ).all()
            == []
        )
    # A scheduler pass afterwards (straight to the PDS) writes nothing more.
    restored = sessions.get()
    assert restored is not None
    restored.pds = sandbox.pds_url
    sessions.put(restored)
    lists.sync(store.campaign(campaign.slug), [])
    assert items(sandbox, office.did, modlist) == [hostile.did]
    engine.dispose()
