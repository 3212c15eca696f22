"""The outgoing-request guard: no requests to inner networks, https only, bounded answers.

A small local HTTP server stands for an inner service (``/internal-admin``) and for a fake
Bluesky service whose DID documents name that inner address as the PDS; the tests prove the
guard refuses to reach it (while the same server *is* reachable when trusted, so the refusal
is the guard's doing) and that a refusal reads exactly like a server that does not answer.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from departures.coalition.errors import BadInput
from departures.coalition.web.signin import PdsSignIn
from departures.netguard import ALLOW_HOSTS_ENV, NetGuard, Unreachable, is_public_address

DID = "did:plc:abcdefghijklmnopqrstuvwx"


class Inner:
    """A local server: records every request; answers XRPC, PLC and a large body."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.pds = ""
        inner = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                inner.requests.append(self.path)
                if self.path.startswith("/xrpc/com.atproto.identity.resolveHandle"):
                    self._send(200, json.dumps({"did": DID}).encode())
                elif self.path == f"/{DID}":
                    self._send(200, json.dumps(did_document(inner.pds)).encode())
                elif self.path == "/large":
                    self.send_response(200)
                    self.end_headers()  # no length: the body is cut off while read
                    self.wfile.write(b"x" * (3 * 1024 * 1024))
                else:
                    self._send(200, b'{"secret": "internal"}')

            def do_POST(self) -> None:
                inner.requests.append(self.path)
                self._send(400, b'{"error": "InvalidRequest", "message": "no"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def did_document(pds: str) -> dict[str, Any]:
    return {
        "@context": ["https://www.w3.org/ns/did/v1"],
        "id": DID,
        "alsoKnownAs": ["at://victim.example.org"],
        "verificationMethod": [],
        "service": [
            {"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}
        ],
    }


@pytest.fixture
def inner() -> Iterator[Inner]:
    server = Inner()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_only_global_unicast_addresses_are_public() -> None:
    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "not-an-address",
    ):
        assert not is_public_address(address), address
    for address in ("93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"):
        assert is_public_address(address), address


def test_a_request_to_loopback_is_refused_though_the_server_answers(inner: Inner) -> None:
    with NetGuard().client() as client, pytest.raises(Unreachable):
        client.get(f"https://127.0.0.1:{inner.port}/internal-admin")
    with NetGuard().client() as client, pytest.raises(Unreachable):
        client.get(f"{inner.url}/internal-admin")
    assert inner.requests == []
    # The same address, trusted by the operator's setting, is reached: the guard refused.
    with NetGuard([f"127.0.0.1:{inner.port}"]).client() as client:
        assert client.get(f"{inner.url}/internal-admin").status_code == 200
    assert inner.requests == ["/internal-admin"]


def test_a_request_to_a_private_address_is_refused() -> None:
    for url in ("https://10.0.0.1/", "https://192.168.0.1/", "https://169.254.169.254/latest"):
        with NetGuard().client() as client, pytest.raises(Unreachable):
            client.get(url)


def test_a_name_resolving_to_loopback_is_refused(inner: Inner) -> None:
    def resolves_to_loopback(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    guard = NetGuard(resolve=resolves_to_loopback)
    with guard.client() as client, pytest.raises(Unreachable):
        client.get(f"https://innocent.example.org:{inner.port}/internal-admin")
    # And the real resolver's own loopback name.
    with NetGuard().client() as client, pytest.raises(Unreachable):
        client.get(f"https://localhost:{inner.port}/internal-admin")
    assert inner.requests == []


def test_a_name_with_one_inner_address_among_public_ones_is_refused() -> None:
    def mixed(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    with NetGuard(resolve=mixed).client() as client, pytest.raises(Unreachable):
        client.get("https://mixed.example.org/")


def test_plain_http_is_refused_unless_the_origin_is_configured() -> None:
    with NetGuard().client() as client, pytest.raises(Unreachable, match="https"):
        client.get("http://example.org/")
    guard = NetGuard(["http://dev.example.org:8080"])
    assert guard.trusts("http://dev.example.org:8080/xrpc")
    assert not guard.trusts("http://dev.example.org:8081/xrpc")
    assert not guard.trusts("http://other.example.org:8080/")
    assert NetGuard(["sandbox.test"]).trusts("http://sandbox.test:1234/")


def test_the_development_hosts_setting_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ALLOW_HOSTS_ENV, "127.0.0.1:2583, localhost")
    guard = NetGuard.for_service("https://public.api.bsky.app", None)
    assert guard.trusts("http://127.0.0.1:2583/xrpc")
    assert guard.trusts("http://localhost:9999/")
    assert guard.trusts("https://public.api.bsky.app/xrpc")
    assert not guard.trusts("http://127.0.0.1:2584/")


def test_the_connection_goes_to_the_checked_address_with_the_name_kept() -> None:
    seen: list[httpx.Request] = []

    def public(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    guard = NetGuard(resolve=public)
    transport = guard.transport()
    transport._inner = httpx.MockTransport(  # type: ignore[assignment]
        lambda request: seen.append(request) or httpx.Response(200, content=b"{}")
    )
    with httpx.Client(transport=transport) as client:
        assert client.get("https://pds.example.org/xrpc/x").status_code == 200
    (sent,) = seen
    assert sent.url.host == "93.184.216.34"
    assert sent.headers["host"] == "pds.example.org"
    assert sent.extensions["sni_hostname"] == "pds.example.org"


def test_a_large_answer_is_cut_off(inner: Inner) -> None:
    with NetGuard([inner.url]).client() as client, pytest.raises(Unreachable, match="large"):
        client.get(f"{inner.url}/large")


def test_sign_in_never_posts_to_an_inner_pds_and_says_it_does_not_answer(
    inner: Inner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The operator's service (and PLC) is this local server; the DID document it serves names
    # another inner server as the PDS: the guard must refuse to send the password there.
    admin = Inner()
    monkeypatch.setenv("DEPARTURES_PLC_URL", inner.url)
    try:
        for pds in (admin.url, f"https://127.0.0.1:{admin.port}", "https://10.0.0.1"):
            inner.pds = pds
            sign_in = PdsSignIn(inner.url, NetGuard([inner.url]))
            with pytest.raises(BadInput) as refused:
                sign_in.verify("victim.example.org", "app-password")
    finally:
        admin.server.shutdown()
        admin.server.server_close()
    assert admin.requests == []
    assert f"/{DID}" in inner.requests  # the DID document was read: the PDS was refused

    # A PDS that really does not answer gives the very same message.
    inner.pds = "http://127.0.0.1:9"
    down = PdsSignIn(inner.url, NetGuard([inner.url, "127.0.0.1:9"]))
    with pytest.raises(BadInput) as silent:
        down.verify("victim.example.org", "app-password")
    assert refused.value.message == silent.value.message
    assert refused.value.hint == silent.value.hint
    assert "does not answer" in refused.value.message
