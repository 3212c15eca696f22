"""Serving the coalition over HTTPS for the sandbox's OAuth, and Chromium that reaches it.

The reference PDS accepts an OAuth client only on ``https://`` and a non-local name: the
service is served on ``coalition.sandbox.internal`` with a certificate of the sandbox's CA
(:mod:`departures.sandbox.tls`); the sandbox's Node process resolves the name to 127.0.0.1
and trusts the CA, Chromium is told the same with ``--host-resolver-rules``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from departures.sandbox import tls
from helpers.ports import free_port

HOST = f"coalition.{tls.LOCAL_DOMAIN}"


@contextmanager
def serve_tls(make_app: Any, folder: Path) -> Iterator[str]:
    """Serve ``make_app(base_url)`` over HTTPS on ``HOST`` (loopback) in a thread."""
    port = free_port()
    base = f"https://{HOST}:{port}"
    issued = tls.issue(HOST, folder)
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(base),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            ssl_certfile=str(issued.cert_file),
            ssl_keyfile=str(issued.key_file),
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start")
            time.sleep(0.05)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def launch(playwright: Any, chromium: str, maps_to: str) -> Any:
    """Headless Chromium with the flags of tests/e2e/conftest.py and ``HOST`` → ``maps_to``."""
    return playwright.chromium.launch(
        executable_path=chromium,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--host-resolver-rules=MAP {HOST} {maps_to}",
        ],
    )


@pytest.fixture
def tls_browser(chromium: str) -> Iterator[Any]:
    """Chromium that resolves ``HOST`` to loopback (the service's certificate is accepted by
    each context's ``ignore_https_errors``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = launch(playwright, chromium, "127.0.0.1")
        try:
            yield launched
        finally:
            launched.close()


def follow_write(subject: str, rkey: str) -> dict[str, Any]:
    """One ``applyWrites`` create of a follow of ``subject`` under ``rkey``."""
    return {
        "$type": "com.atproto.repo.applyWrites#create",
        "collection": "app.bsky.graph.follow",
        "rkey": rkey,
        "value": {
            "$type": "app.bsky.graph.follow",
            "subject": subject,
            "createdAt": "2026-12-07T05:00:00.000Z",
        },
    }


def sign_in_at_the_pds(page: Any, password: str, *, accept: bool = True) -> None:
    """The sandbox PDS's own pages: the password, then the consent (or its refusal)."""
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Authorize" if accept else "Deny access").click()
