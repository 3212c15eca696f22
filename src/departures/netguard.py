"""Outgoing requests of a public service: only to the public internet, over HTTPS, bounded.

The coalition service fetches addresses that visitors choose: a handle names a DID, whose
document names a PDS, to which a sign-in posts the visitor's password. Without a check, anyone
could make the server call ``http://127.0.0.1:…/internal-admin`` or a cloud metadata address,
and map the inner network by the answers and their timing. Every server-side fetch of the
coalition service (handle resolution, DID documents, PDS sessions, webhooks) therefore goes
through one :class:`NetGuard`:

* **HTTPS only** — plain ``http://`` only to the *trusted origins*: the addresses the operator
  configured (the Bluesky service, the PLC directory, the webhook) and the development hosts of
  ``DEPARTURES_COALITION_ALLOW_HOSTS`` (the sandbox, a local PDS).
* **Public addresses only** — the name is resolved here, every address it resolves to must be
  global unicast (no loopback, private, link-local, shared, multicast, unspecified or reserved
  address, IPv4-mapped ones included), and the connection goes to *that checked address*
  (with the name kept for TLS SNI, the certificate check and the ``Host`` header), so a DNS
  answer that changes between the check and the connection (rebinding) cannot slip through.
  Redirects are requests too: each hop is checked the same way.
* **Bounded** — a timeout on each phase, a deadline for the whole answer and a maximum size.
* **One answer for "refused" and "does not answer"** — a refused address raises
  :class:`Unreachable`, a subclass of ``httpx.ConnectError``: callers (and the atproto SDK,
  which maps it to its ``NetworkError``) treat it exactly like a server that does not answer,
  with the same message.

Use :meth:`NetGuard.client` for plain httpx, :meth:`NetGuard.sdk_client` for the atproto SDK's
``Client`` (its request layer takes an httpx transport).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = [
    "ALLOW_HOSTS_ENV",
    "MAX_RESPONSE",
    "GuardedTransport",
    "NetGuard",
    "Unreachable",
    "is_public_address",
]

ALLOW_HOSTS_ENV = "DEPARTURES_COALITION_ALLOW_HOSTS"
MAX_RESPONSE = 1024 * 1024
"""The largest answer read from an outside server (a DID document, a session: a few KB)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class Unreachable(httpx.ConnectError):
    """The address may not be fetched — reported exactly like a server that does not answer."""


def is_public_address(text: str) -> bool:
    """Whether ``text`` (an IP address) is a global unicast address the service may reach."""
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public_address(str(mapped))
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    )


def _origin(entry: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a configured URL or ``host[:port]``; port None: any port."""
    text = entry.strip()
    if not text:
        return None
    parts = urlsplit(text if "//" in text else f"//{text}")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    if port is None and parts.scheme in _DEFAULT_PORTS:
        port = _DEFAULT_PORTS[parts.scheme]
    return host, port


class NetGuard:
    """The policy of outgoing requests: which origins are trusted, and the bounds of each."""

    def __init__(
        self,
        trusted: Iterable[str] = (),
        *,
        timeout: float = 10.0,
        max_response: int = MAX_RESPONSE,
        resolve: Any = socket.getaddrinfo,
    ) -> None:
        self._trusted = {origin for origin in map(_origin, trusted) if origin is not None}
        self.timeout = timeout
        self.max_response = max_response
        self._getaddrinfo = resolve

    @classmethod
    def for_service(cls, *configured: str | None, timeout: float = 10.0) -> NetGuard:
        """The guard of a service: its configured URLs and the development hosts are trusted.

        ``configured`` are the addresses the operator gave (``None`` and ``""`` are skipped);
        ``DEPARTURES_COALITION_ALLOW_HOSTS`` adds comma-separated ``host[:port]`` entries.
        """
        extra = os.environ.get(ALLOW_HOSTS_ENV, "").split(",")
        return cls([url for url in configured if url] + extra, timeout=timeout)

    def __repr__(self) -> str:
        return f"NetGuard(trusted={sorted(self._trusted, key=str)!r})"

    def trusts(self, url: httpx.URL | str) -> bool:
        """Whether ``url``'s origin was configured by the operator (no address check)."""
        parsed = httpx.URL(str(url))
        host = parsed.host.lower().rstrip(".")
        port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme)
        return (host, port) in self._trusted or (host, None) in self._trusted

    def address_for(self, url: httpx.URL) -> str | None:
        """The checked IP address to connect to for ``url``; None for a trusted origin.

        Raises :class:`Unreachable` for http to an untrusted origin, a name that does not
        resolve, or one that resolves to any address that is not public.
        """
        if self.trusts(url):
            return None
        if url.scheme != "https":
            raise Unreachable("only https:// addresses may be fetched")
        host = url.host
        port = url.port or 443
        try:
            answers = self._getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Unreachable("the name does not resolve") from exc
        addresses = [str(answer[4][0]) for answer in answers]
        # Every address must be public: a name that also resolves to an inner address could
        # be tried by the connection on another attempt.
        if not addresses or not all(is_public_address(a) for a in addresses):
            raise Unreachable("the address is not on the public internet")
        # IPv4 first: many servers that publish an AAAA record are not reachable over IPv6.
        return sorted(addresses, key=lambda address: ":" in address)[0]

    def transport(self) -> GuardedTransport:
        """An httpx transport that checks every request (and redirect hop) of a client."""
        return GuardedTransport(self)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client through this guard (no redirects unless asked)."""
        return httpx.Client(transport=self.transport(), timeout=self._timeouts(), **kwargs)

    def sdk_request(self, *, timeout: float | None = None) -> Any:
        """The atproto SDK's request layer (``atproto_client.request.Request``) through this
        guard, for SDK clients made elsewhere (``bluesky.session.open_client(request=…)``)."""
        # The SDK costs seconds of start-up: only a process that fetches pays for it.
        from atproto_client.request import Request

        return Request(transport=self.transport(), timeout=self._timeouts(timeout))

    def sdk_client(self, base_url: str, *, timeout: float | None = None) -> Any:
        """An atproto SDK ``Client`` whose every request goes through this guard."""
        from atproto import Client

        return Client(base_url=base_url, request=self.sdk_request(timeout=timeout))

    def _timeouts(self, total: float | None = None) -> httpx.Timeout:
        seconds = total or self.timeout
        return httpx.Timeout(seconds, connect=min(5.0, seconds))


class GuardedTransport(httpx.BaseTransport):
    """Resolves, checks and connects to the checked address; bounds the answer's size and time."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard
        self._inner = httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to its checked address (the name kept for TLS and ``Host``)."""
        address = self.guard.address_for(request.url)
        outgoing = request
        if address is not None:
            # The Host header was set from the name when the request was built; SNI and the
            # certificate check use the name through httpcore's "sni_hostname" extension.
            outgoing = httpx.Request(
                request.method,
                request.url.copy_with(host=address),
                headers=request.headers,
                stream=request.stream,
                extensions={**request.extensions, "sni_hostname": request.url.host},
            )
        deadline = time.monotonic() + self.guard.timeout * 2
        response = self._inner.handle_request(outgoing)
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.guard.max_response:
            response.close()
            raise Unreachable("the answer is too large")
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_Bounded(response, self.guard.max_response, deadline),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close the pooled connections."""
        self._inner.close()


class _Bounded(httpx.SyncByteStream):
    """An answer's body, cut off past ``limit`` bytes or the ``deadline``."""

    def __init__(self, response: httpx.Response, limit: int, deadline: float) -> None:
        self._response = response
        self._limit = limit
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        stream = self._response.stream
        assert isinstance(stream, httpx.SyncByteStream)
        for chunk in stream:
            seen += len(chunk)
            if seen > self._limit:
                raise Unreachable("the answer is too large")
            if time.monotonic() > self._deadline:
                raise httpx.ReadTimeout("the answer took too long")
            yield chunk

    def close(self) -> None:
        self._response.close()
