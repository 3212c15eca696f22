"""A small HTTP proxy in front of a sandbox PDS, for tests that make the server's answers go
wrong (withheld, refused) while the requests themselves still reach it.

A test writes its own :class:`ProxyHandler` subclass (what to do with a request: refuse it,
hold its answer, or :meth:`~ProxyHandler.forward` and :meth:`~ProxyHandler.reply`), and
:func:`proxy_for` serves it on loopback with a CLI user's stored session pointed at it.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from helpers.cli import CliUser

# Hop-by-hop headers, and those httpx has already acted on (the body is sent decoded).
HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


class ProxyHandler(BaseHTTPRequestHandler):
    """A request to the proxy: the helpers a subclass's ``do_GET``/``do_POST`` build on."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what reached the server, not an access log."""
        return

    def body(self) -> bytes:
        """The request's body (empty without a ``Content-Length``)."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def forward(self, target: str, body: bytes) -> httpx.Response:
        """Send this request on to ``target`` (the PDS's base URL); its answer."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
        return httpx.request(
            self.command, target + self.path, content=body, headers=headers, timeout=60
        )

    def reply(self, response: httpx.Response) -> None:
        """Answer the client with ``response`` as the server gave it."""
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        self.wfile.write(response.content)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed command drops its connection mid-request: expected here, not worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def proxy_for(user: CliUser, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    """Serve ``handler`` on a free loopback port and point ``user``'s stored session (its
    ``sessions.json``) at it, so the CLI's requests to the PDS go through it; stopped after."""
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # The stored session names the account's PDS: point it at the proxy.
    sessions = user.config / "sessions.json"
    data = json.loads(sessions.read_text())
    data["accounts"][user.account.did]["pds"] = f"http://127.0.0.1:{server.server_address[1]}"
    sessions.write_text(json.dumps(data))
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
