"""The coalition's writes on a stored account reach its PDS only through the outgoing guard.

A member's stored session names the PDS it signed in at. Whatever that says later (a DID
document changed to point inward, a rebinding name), the departure day, list sync and
reconnect open the account's PDS through :class:`departures.netguard.NetGuard`: an inner
address is refused before any byte is sent, with the same error as a server that is down.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from departures.bluesky.session import StoredSession
from departures.coalition.departure import account_writer
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import AccountSessions, Vault, organisation_owner
from departures.errors import BlueskyError
from departures.netguard import NetGuard
from helpers.coalition import join, open_campaign


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on loopback that records whatever reaches it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    received.append(conn.recv(4096))
                except OSError:
                    received.append(b"")

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], received
    stop.set()
    thread.join(2)
    server.close()


def token(scope: str) -> str:
    """A JWT-shaped token that the SDK reads as unexpired (the server never sees it)."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"scope": scope, "sub": "did:plc:org", "exp": int(time.time()) + 3600}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def stored_on(port: int) -> StoredSession:
    url = f"http://127.0.0.1:{port}"
    return StoredSession(
        "org.test",
        "did:plc:org",
        url,
        url,
        token("com.atproto.access"),
        token("com.atproto.refresh"),
        "t",
    )


def member_sessions(store: CoalitionStore) -> AccountSessions:
    coordinator, campaign = open_campaign(store)
    organisation, _key = join(store, campaign.slug, coordinator, "Oxfam")
    return AccountSessions(
        store.engine,
        Vault(b"k" * 32),
        organisation_owner(organisation.id),
        campaign_id=campaign.id,
        organisation_id=organisation.id,
    )


def test_a_stored_pds_on_loopback_is_never_contacted(
    store: CoalitionStore, listener: tuple[int, list[bytes]]
) -> None:
    port, received = listener
    sessions = member_sessions(store)
    sessions.put(stored_on(port))
    with pytest.raises((BlueskyError, OSError)):
        account_writer(sessions, guard=NetGuard.for_service())
    assert received == []


def test_the_operators_configured_service_is_reached(
    store: CoalitionStore, listener: tuple[int, list[bytes]]
) -> None:
    # The control case: the same stored session, its PDS trusted as configured, is contacted
    # (and fails there, as the listener speaks no HTTP) — so the refusal above is the guard's.
    port, received = listener
    sessions = member_sessions(store)
    sessions.put(stored_on(port))
    with pytest.raises(Exception):  # noqa: B017 (whatever fails after the bytes went out)
        account_writer(sessions, guard=NetGuard.for_service(f"http://127.0.0.1:{port}"))
    assert received and received[0].startswith((b"GET ", b"POST "))
