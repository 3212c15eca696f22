"""Kept Bluesky sessions are revoked at the real PDS (``deleteSession``), on the local sandbox:
a session revoked there no longer refreshes; and the guarded sign-in reaches the sandbox only
because its addresses are the configured ones."""

from __future__ import annotations

from dataclasses import replace

import pytest
from atproto_client.exceptions import AtProtocolError

from departures.coalition.errors import BadInput
from departures.coalition.handles import open_session, revoke_session
from departures.coalition.web import PdsSignIn
from departures.netguard import NetGuard
from departures.sandbox.pytest_plugin import TestSandbox

pytestmark = pytest.mark.sandbox


def test_a_revoked_session_no_longer_refreshes(
    sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    person = sandbox.new_account("revoked")
    sign_in = PdsSignIn(sandbox.pds_url)
    kept = sign_in.open_session(person.handle, person.app_password)
    other = sign_in.open_session(person.handle, person.app_password)

    # Before: the refresh token refreshes.
    client = sign_in.guard.sdk_client(kept.pds)
    try:
        refreshed = client.com.atproto.server.refresh_session(
            headers={"Authorization": f"Bearer {kept.refresh_jwt}"}
        )
        assert refreshed.did == person.did
    finally:
        client.request.close()
    # The refresh rotated the token: keep the new one, as the vault would.
    kept.refresh_jwt = refreshed.refresh_jwt

    assert sign_in.revoke(kept) is True
    client = sign_in.guard.sdk_client(kept.pds)
    try:
        with pytest.raises(AtProtocolError):
            client.com.atproto.server.refresh_session(
                headers={"Authorization": f"Bearer {kept.refresh_jwt}"}
            )
        # Only that session: another one of the same account still refreshes.
        still = client.com.atproto.server.refresh_session(
            headers={"Authorization": f"Bearer {other.refresh_jwt}"}
        )
        assert still.did == person.did
    finally:
        client.request.close()
    # A PDS that refuses (a token it does not know) is reported, never raised.
    assert revoke_session(replace(kept, refresh_jwt="not-a-token"), sign_in.guard) is False


def test_the_sandbox_is_reached_only_as_a_configured_address(
    sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    person = sandbox.new_account("guarded")
    # With the service configured, the sandbox's loopback PDS is the configured address.
    session = open_session(
        person.handle,
        person.app_password,
        sandbox.pds_url,
        NetGuard.for_service(sandbox.pds_url, sandbox.plc_url),
    )
    assert session.did == person.did
    # A guard that trusts only the service, not its PLC (another port): the DID document is
    # then asked of the service itself, and the PDS is the service: still fine.
    assert PdsSignIn(sandbox.pds_url, NetGuard([sandbox.pds_url])).verify(
        person.handle, person.app_password
    ) == (person.did, person.handle)
    # Trusting nothing: loopback is refused, answered as "does not answer".
    with pytest.raises(BadInput, match="does not answer"):
        PdsSignIn(sandbox.pds_url, NetGuard()).verify(person.handle, person.app_password)
