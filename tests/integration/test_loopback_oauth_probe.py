"""The sandbox PDS accepts the desk as an AT Protocol OAuth loopback client.

A public client (no key, no metadata document) whose ``client_id`` is ``http://localhost``
with the redirect URI and the scope in its query: the PDS takes the pushed request (PKCE,
DPoP with its nonce) and serves its sign-in page for it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from departures.bluesky.oauth import DESK_SCOPE, LoopbackConfig, OAuthClient
from departures.sandbox.pytest_plugin import TestSandbox


@pytest.mark.sandbox
def test_the_sandbox_pds_takes_a_loopback_client(sandbox: TestSandbox) -> None:
    account = sandbox.new_account("loopprobe")
    config = LoopbackConfig("http://127.0.0.1:8765/publish/oauth/callback")
    assert parse_qs(urlsplit(config.client_id).query) == {
        "redirect_uri": ["http://127.0.0.1:8765/publish/oauth/callback"],
        "scope": [DESK_SCOPE],
    }
    with httpx.Client() as http:
        client = OAuthClient(config, http, service=sandbox.pds_url, plc=sandbox.plc_url)
        url, pending = client.start(account.handle)
        assert url.startswith(f"{sandbox.pds_url}/oauth/authorize?")
        assert pending.scope == DESK_SCOPE and pending.did == account.did
        # The authorisation page itself accepts the client (it checks it again); it answers
        # only what looks like a browser's top-level navigation.
        page = http.get(
            url,
            headers={
                "Sec-Fetch-Site": "cross-site",
                "Sec-Fetch-Mode": "navigate",
                "Sec-Fetch-Dest": "document",
                "Accept": "text/html",
            },
        )
        assert page.status_code == 200, re.findall(r"errorData[^<]{0,400}", page.text)


def test_a_loopback_client_redirects_to_a_loopback_address_only() -> None:
    with pytest.raises(ValueError, match="not a loopback redirect URI"):
        LoopbackConfig("http://localhost:8765/cb")
    with pytest.raises(ValueError, match="not a loopback redirect URI"):
        LoopbackConfig("https://127.0.0.1:8765/cb")
