"""The CLI's directory client obeys the directory's 429: a short Retry-After is waited for,
a long one is a one-line error saying when to try again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from departures.audience import inputs

DID = "did:plc:" + "a" * 24


class Directory:
    """A directory that refuses the first ``refusals`` lookups with ``retry_after``."""

    def __init__(self, refusals: int, retry_after: str) -> None:
        self.refusals = refusals
        self.retry_after = retry_after
        self.calls = 0


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[ThreadingHTTPServer] = []

    def start(directory: Directory) -> str:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                directory.calls += 1
                if directory.calls <= directory.refusals:
                    body = b'{"ok": false, "status": 429, "error": "too many"}'
                    self.send_response(429)
                    self.send_header("Retry-After", directory.retry_after)
                else:
                    body = b'{"entries": [{"x_id": "12", "did": "' + DID.encode() + b'"}]}'
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_short_retry_after_is_waited_for_then_the_lookup_goes_on(serve: Any) -> None:
    directory = Directory(refusals=2, retry_after="3")
    waits: list[float] = []
    entries = inputs.lookup(serve(directory), [12], sleep=waits.append)
    assert waits == [3.0, 3.0] and directory.calls == 3
    assert [(e.x_id, e.did) for e in entries] == [(12, DID)]


def test_a_long_retry_after_is_a_clear_error_without_waiting(serve: Any) -> None:
    directory = Directory(refusals=1, retry_after="600")
    waits: list[float] = []
    with pytest.raises(inputs.InputError, match="limits lookups") as error:
        inputs.lookup(serve(directory), [12], sleep=waits.append)
    assert error.value.hint == "Try again in 600 seconds"
    assert waits == [] and directory.calls == 1


def test_a_directory_that_keeps_refusing_is_an_error_after_a_few_waits(serve: Any) -> None:
    directory = Directory(refusals=100, retry_after="1")
    waits: list[float] = []
    with pytest.raises(inputs.InputError, match="limits lookups"):
        inputs.lookup(serve(directory), [12], sleep=waits.append)
    assert len(waits) == 3
