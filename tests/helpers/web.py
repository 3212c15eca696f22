"""Driving the coalition's web app from tests: in-process through httpx (one
:class:`InProcessBrowser` per visitor), or served by uvicorn on loopback (:func:`serve`) for a
real browser or a process of its own."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.ports import free_port

TEST_SERVER = "http://testserver"
# Nothing listens on port 9: handle checks answer "could not check" (tested as such); real
# resolution is tested against the sandbox.
CLOSED_PORT = "http://127.0.0.1:9"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def coalition_app(store: CoalitionStore, **options: Any) -> CoalitionApp:
    """The coalition app on ``store`` with a test cookie key and handles checked against a
    closed port, unless ``options`` say otherwise (any ``CoalitionApp`` keyword)."""
    settings: dict[str, Any] = {
        "secret_key": b"test-key",
        "resolver": XrpcHandleResolver(CLOSED_PORT),
        **options,
    }
    return CoalitionApp(store, **settings)


def on_sandbox(pds_url: str) -> dict[str, Any]:
    """``coalition_app`` options for a sandbox: handles resolved and Bluesky sign-ins checked
    on its PDS (``coalition_app(store, **on_sandbox(sandbox.pds_url))``)."""
    from departures.coalition.web import PdsSignIn

    return {"resolver": XrpcHandleResolver(pds_url), "bluesky_sign_in": PdsSignIn(pds_url)}


def csrf_token(html: str) -> str:
    """The CSRF token of the (first) form in a page."""
    found = _CSRF.search(html)
    assert found, html
    return found.group(1)


class InProcessBrowser:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))``: one visitor
    with its own cookie jar, driving the app in-process on a private event loop."""

    __test__ = False  # not a test class

    def __init__(self, app: Any, base_url: str = TEST_SERVER) -> None:
        self._loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, follow_redirects=True
        )

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request; redirects followed."""
        return self._loop.run_until_complete(self.client.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET ``path``."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST to ``path`` as given (no CSRF token added)."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        """PUT to ``path``."""
        return self.request("PUT", path, **kwargs)

    def csrf(self, page: str) -> str:
        """The CSRF token of the form on ``page``, as the visitor's browser would send it."""
        return csrf_token(self.get(page).text)

    def submit(
        self, path: str, data: Mapping[str, str], page: str, **kwargs: Any
    ) -> httpx.Response:
        """Send the form on ``page`` to ``path``: ``data`` with the page's CSRF token."""
        return self.post(path, data={"csrf": self.csrf(page), **data}, **kwargs)

    def sign_in_to_directory(self, handle: str, password: str) -> httpx.Response:
        """Sign in on the directory page with a Bluesky handle and app password."""
        return self.submit(
            "/directory/sign-in", {"handle": handle, "password": password}, "/directory"
        )

    def close(self) -> None:
        """Close the client and its event loop."""
        self._loop.run_until_complete(self.client.aclose())
        self._loop.close()

    def __enter__(self) -> InProcessBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def serve(make_app: Callable[[str], Any]) -> Iterator[str]:
    """Serve ``make_app(base_url)`` with uvicorn on a free loopback port in a thread; yields
    the base URL once the server accepts connections, and stops it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            make_app(base), host="127.0.0.1", port=port, log_level="warning", access_log=False
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


def goto_settled(page: Any, url: str) -> None:
    """Open ``url``; a page that reloads itself when its job ends (the progress pages) may
    abort the navigation it races with: then wait for its load and go again."""
    for attempt in range(3):
        try:
            page.goto(url)
            return
        except Exception as error:  # playwright's Error: ERR_ABORTED or "interrupted by another"
            aborted = "ERR_ABORTED" in str(error) or "interrupted by another" in str(error)
            if not aborted or attempt == 2:
                raise
            page.wait_for_load_state()
