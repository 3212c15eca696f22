"""Sign in with Bluesky through AT Protocol OAuth, for real: headless Chromium on the sandbox
PDS's own sign-in and consent pages, then a write with the granted (DPoP-bound) session.

The coalition service is served over HTTPS on ``coalition.sandbox.internal`` with a
certificate of the sandbox's CA (:mod:`departures.sandbox.tls`): the reference PDS fetches
the client metadata from the ``client_id`` URL and accepts only ``https://`` on a non-local
name. The sandbox's Node process resolves that name to 127.0.0.1 and trusts the CA;
Chromium is told the same with ``--host-resolver-rules`` and accepts the certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from departures.bluesky.pds import Pds
from departures.coalition.directory import Directory
from departures.coalition.oauth import OAuthService, load_secret
from departures.coalition.store import CoalitionStore
from departures.coalition.store.schema import directory_sessions
from departures.coalition.vault import Vault
from departures.errors import BlueskyError
from departures.sandbox import tls
from departures.sandbox.pytest_plugin import TestSandbox
from helpers import web
from helpers.oauth import HOST, follow_write, serve_tls, sign_in_at_the_pds, tls_browser
from helpers.uploads import following_js

__all__ = ["tls_browser"]  # the fixture, imported for this module's tests


@pytest.fixture
def oauth_site(
    engine: Engine, sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, CoalitionStore, OAuthService]]:
    """The coalition app with OAuth on the sandbox, served over HTTPS."""
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    store = CoalitionStore(engine)
    made: list[OAuthService] = []

    def make(base: str) -> Any:
        service = OAuthService(
            engine, Vault(b"test-key"), base, service=sandbox.pds_url, plc=sandbox.plc_url
        )
        made.append(service)
        return web.coalition_app(
            store,
            base_url=base,
            oauth=service,
            **web.on_sandbox(sandbox.pds_url),
        )

    with serve_tls(make, tmp_path / "tls") as base:
        yield base, store, made[0]


@pytest.mark.sandbox
def test_directory_sign_in_through_oauth_then_follow_all(
    tls_browser: Any,
    oauth_site: tuple[str, CoalitionStore, OAuthService],
    sandbox: TestSandbox,
    tmp_path: Path,
) -> None:
    base, store, _service = oauth_site
    organisation, person = sandbox.new_account("oaorg"), sandbox.new_account("oafan")
    Directory(store.engine).register(
        "900", "org_on_x", organisation.did, organisation.handle, source="coordinator"
    )
    following = tmp_path / "following.js"
    following.write_bytes(following_js("900", "901"))
    # The client documents the PDS fetched are the service's own.
    port = base.rsplit(":", 1)[1]
    metadata = httpx.get(
        f"https://127.0.0.1:{port}/oauth/client-metadata.json",
        headers={"Host": f"{HOST}:{port}"},
        verify=ssl.create_default_context(cafile=str(tls.ca_file())),
    ).json()
    assert metadata["client_id"] == f"{base}/oauth/client-metadata.json"
    assert metadata["token_endpoint_auth_method"] == "private_key_jwt"
    assert metadata["dpop_bound_access_tokens"] is True

    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/directory")
    # OAuth is on and app passwords are not allowed as a fallback: no password field here.
    assert page.locator("#password").count() == 0
    page.get_by_label("Your Bluesky handle").fill(person.handle)
    page.get_by_role("button", name="Continue with Bluesky").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, person.password)
    page.wait_for_selector("#signed-in-handle")
    assert person.handle in page.inner_text("#signed-in-handle")

    page.get_by_label("X handle").fill("oauth_fan_x")
    page.get_by_label("X account id (digits)").fill("31339")
    page.get_by_label("Optional: data/following.js").set_input_files(str(following))
    page.get_by_label("I agree that this directory stores").check()
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_selector("#registered")
    page.get_by_role("button", name="Follow all 1 on Bluesky").click()
    page.wait_for_selector("#follow-result")
    assert "Followed 1 account on Bluesky" in page.inner_text("#follow-result")
    records = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": person.did, "collection": "app.bsky.graph.follow"},
    ).json()["records"]
    assert [r["value"]["subject"] for r in records] == [organisation.did]

    # Sign-out revokes the grant at the PDS and forgets it here: the session as it was kept
    # (decrypted with the service's vault) no longer writes.
    with store.engine.connect() as conn:
        secret = conn.execute(
            select(directory_sessions.c.secret).where(directory_sessions.c.did == person.did)
        ).scalar_one()
    kept, _client_id = load_secret(Vault(b"test-key").decrypt(secret))
    page.get_by_role("button", name="Sign out of the directory").click()
    page.wait_for_selector("#oauth-directory")
    with store.engine.connect() as conn:
        left = conn.execute(
            select(directory_sessions.c.did).where(directory_sessions.c.did == person.did)
        ).all()
    assert left == []
    client = _service.client()
    pds = Pds(client.sdk_client(kept, lambda changed: None), kept.did, kept.handle)
    with pytest.raises(BlueskyError, match="expired or was revoked"):
        pds.apply_writes([follow_write(organisation.did, "3kaaaaaaaaaa2")])
    pds.close()
    context.close()


@pytest.mark.sandbox
def test_declining_at_the_pds_says_so_in_one_line(
    tls_browser: Any,
    oauth_site: tuple[str, CoalitionStore, OAuthService],
    sandbox: TestSandbox,
) -> None:
    base, _store, _service = oauth_site
    person = sandbox.new_account("oadeny")
    context = tls_browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/directory")
    page.get_by_label("Your Bluesky handle").fill(person.handle)
    page.get_by_role("button", name="Continue with Bluesky").click()
    page.wait_for_url(f"{sandbox.pds_url}/oauth/authorize**")
    sign_in_at_the_pds(page, person.password, accept=False)
    page.wait_for_url(f"{base}/oauth/callback**")
    assert "cancelled at your Bluesky server" in page.inner_text("main")
    assert "Traceback" not in page.content()
    context.close()
