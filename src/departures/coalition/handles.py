"""Bluesky identities of member organisations: handle → DID, the verified-domain mark, landing.

Resolution is behind small interfaces so that the web app does not care where answers come
from: in production :class:`XrpcHandleResolver` asks an AppView or PDS
(``com.atproto.identity.resolveHandle``, default ``https://public.api.bsky.app``); in tests the
same class asks the local sandbox.

**Verified domain.** A handle that resolves is proof that whoever runs the account controls the
handle's domain (DNS TXT or ``/.well-known/atproto-did``). The board marks an organisation
"verified domain" when its handle *equals* the host of its website, ignoring a leading
``www.`` and letter case: ``oxfam.be`` for ``https://www.oxfam.be/``. A subdomain handle
(``comms.oxfam.be``) is deliberately not enough: on shared hosts and in large organisations a
subdomain may belong to a team, a person or a tenant, and the mark should mean "this is the
organisation's own domain".
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import urlsplit

from departures.errors import DeparturesError

__all__ = [
    "DEFAULT_SERVICE",
    "HandleError",
    "HandleResolver",
    "LandingChecker",
    "XrpcHandleResolver",
    "normalise_handle",
    "verified_domain",
    "website_host",
]

DEFAULT_SERVICE = "https://public.api.bsky.app"

# A handle is a domain name: labels of letters, digits and hyphens, at least two of them.
_HANDLE = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
)


class HandleError(DeparturesError):
    """A Bluesky handle is malformed or does not resolve to an account."""


def normalise_handle(handle: str) -> str:
    """``@Name.bsky.social `` → ``name.bsky.social``; a :class:`HandleError` if malformed."""
    cleaned = handle.strip().lstrip("@").lower()
    if not _HANDLE.match(cleaned):
        raise HandleError(
            f"{handle.strip()[:80]!r} is not a Bluesky handle",
            "Give it as shown on the profile, e.g. example.bsky.social or example.org",
        )
    return cleaned


def website_host(website: str) -> str:
    """The host of a website address, lower-case, without ``www.`` ("" when there is none)."""
    text = website.strip()
    if not text:
        return ""
    if "//" not in text:
        text = "https://" + text
    try:
        host = (urlsplit(text).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""
    return host.removeprefix("www.")


def verified_domain(handle: str, website: str) -> bool:
    """Whether ``handle`` is the website's own domain (see the module's note)."""
    host = website_host(website)
    return bool(host) and handle.lower().removeprefix("www.") == host


class HandleResolver(Protocol):
    """Resolves a Bluesky handle to the account's DID."""

    def resolve(self, handle: str) -> str:
        """The DID of ``handle``; a :class:`HandleError` when it does not resolve."""
        ...


class LandingChecker(Protocol):
    """Tells whether an account has landed: it exists and has posted on Bluesky."""

    def has_posted(self, did: str) -> bool:
        """True when the account has at least one post."""
        ...


class XrpcHandleResolver:
    """Handle resolution and landing checks through an AppView's or PDS's XRPC API."""

    def __init__(self, service_url: str = DEFAULT_SERVICE, timeout: float = 10.0) -> None:
        self.service_url = service_url.rstrip("/")
        self.timeout = timeout

    def _client(self) -> Any:
        # The SDK takes seconds to import: only a running service pays for it. One client per
        # call, closed after it: the web app calls from many worker threads.
        from atproto import Client

        client = Client(base_url=f"{self.service_url}/xrpc")
        client.request._client.timeout = self.timeout
        return client

    def resolve(self, handle: str) -> str:
        """The DID of ``handle`` via ``com.atproto.identity.resolveHandle``."""
        from atproto import models
        from atproto_client.exceptions import (
            BadRequestError,
            InvokeTimeoutError,
            NetworkError,
            RequestErrorBase,
        )

        params = models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
        client = self._client()
        try:
            response = client.com.atproto.identity.resolve_handle(params)
        except BadRequestError:
            raise HandleError(
                f"the Bluesky handle {handle} does not exist",
                "Check the spelling, or create the account first and come back",
            ) from None
        except (NetworkError, InvokeTimeoutError, RequestErrorBase):
            raise HandleError(
                f"could not check the Bluesky handle {handle} right now "
                f"({self.service_url} did not answer)",
                "Try again in a minute",
            ) from None
        finally:
            client.request.close()
        return str(response.did)

    def has_posted(self, did: str) -> bool:
        """True when ``app.bsky.actor.getProfile`` reports at least one post."""
        from atproto import models
        from atproto_client.exceptions import InvokeTimeoutError, NetworkError, RequestErrorBase

        params = models.AppBskyActorGetProfile.Params(actor=did)
        client = self._client()
        try:
            profile = client.app.bsky.actor.get_profile(params)
        except (NetworkError, InvokeTimeoutError, RequestErrorBase):
            return False
        finally:
            client.request.close()
        return bool(profile.posts_count)
