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

**Outgoing requests.** Every request made here goes through a
:class:`~departures.netguard.NetGuard`: the configured service (and PLC directory) are trusted
as configured, while the PDS and ``did:web`` hosts that a visitor's DID document names must be
public HTTPS addresses. :func:`open_session` (a sign-in's ``createSession``),
:func:`resolve_identity` and :func:`revoke_session` (``deleteSession``) are the coalition's
guarded counterparts of :mod:`departures.bluesky.session`'s login.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from departures.errors import BlueskyError, DeparturesError
from departures.i18n import _
from departures.netguard import NetGuard

if TYPE_CHECKING:
    from departures.bluesky.identity import Identity
    from departures.bluesky.session import StoredSession

__all__ = [
    "DEFAULT_SERVICE",
    "HandleError",
    "HandleResolver",
    "LandingChecker",
    "PasswordRefused",
    "PdsUnreachable",
    "XrpcHandleResolver",
    "normalise_handle",
    "open_session",
    "resolve_identity",
    "revoke_session",
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
            _("%(handle)r is not a Bluesky handle") % {"handle": handle.strip()[:80]},
            _("Give it as shown on the profile, e.g. example.bsky.social or example.org"),
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

    def __init__(
        self,
        service_url: str = DEFAULT_SERVICE,
        timeout: float = 10.0,
        guard: NetGuard | None = None,
    ) -> None:
        self.service_url = service_url.rstrip("/")
        self.timeout = timeout
        self.guard = guard or NetGuard.for_service(self.service_url, timeout=timeout)

    def _client(self) -> Any:
        # One client per call, closed after it: the web app calls from many worker threads.
        return self.guard.sdk_client(f"{self.service_url}/xrpc", timeout=self.timeout)

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
                _("the Bluesky handle %(handle)s does not exist") % {"handle": handle},
                _("Check the spelling, or create the account first and come back"),
            ) from None
        except (NetworkError, InvokeTimeoutError, RequestErrorBase):
            raise HandleError(
                _(
                    "could not check the Bluesky handle %(handle)s right now "
                    "(%(url)s did not answer)"
                )
                % {"handle": handle, "url": self.service_url},
                _("Try again in a minute"),
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


# --- guarded sessions: sign-in, the member's welcome-post login, revocation ----------------


class PasswordRefused(BlueskyError):
    """The account's PDS refused the handle and app password."""


class PdsUnreachable(BlueskyError):
    """The account's PDS (or its DID document) does not answer — or may not be fetched."""


def _unreachable(handle: str) -> PdsUnreachable:
    # One message for an inner address refused by the guard and a server that is down: the
    # answer must not tell an attacker which addresses exist.
    return PdsUnreachable(
        f"The Bluesky server of {handle} does not answer",
        "Try again in a few minutes",
        kind="unreachable",
    )


def _pds_of(document: Any) -> str | None:
    """The PDS endpoint a DID document names (a dict, or the SDK's parsed model), if any."""
    from atproto_core.did_doc import DidDocument, is_valid_did_doc

    try:
        if not isinstance(document, DidDocument):
            # describeRepo's didDoc arrives as an SDK model or a plain dict.
            for convert in ("model_dump", "to_dict"):
                method = getattr(document, convert, None)
                if not isinstance(document, dict) and callable(method):
                    document = method()
            if not isinstance(document, dict) or not is_valid_did_doc(document):
                return None
            document = DidDocument.from_dict(document)
        endpoint: str | None = document.get_pds_endpoint()
    except (TypeError, ValueError):
        return None
    return endpoint


def _did_document(did: str, plc: str, guard: NetGuard) -> Any:
    """The DID document of ``did`` (PLC directory or ``did:web``), None when none answers."""
    import httpx

    if did.startswith("did:plc:"):
        url = f"{plc.rstrip('/')}/{did}"
    elif did.startswith("did:web:"):
        host = did.removeprefix("did:web:")
        if ":" in host or "/" in host:  # no port, no path: only a plain domain is fetched
            return None
        url = f"https://{host}/.well-known/did.json"
    else:
        return None
    try:
        with guard.client() as client:
            response = client.get(url)
        return response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def resolve_identity(
    handle: str, service: str, guard: NetGuard, *, plc: str | None = None
) -> Identity:
    """The DID and PDS of ``handle``: resolveHandle on ``service``, then its DID document.

    The DID document comes from the PLC directory (``did:plc``) or the domain (``did:web``);
    when neither answers (a sandbox's own PLC), the service's ``describeRepo`` is asked. The
    PDS it names is only *read* here; the guard checks it when a request goes there.
    """
    from atproto import models
    from atproto_client.exceptions import AtProtocolError, BadRequestError

    from departures.bluesky.identity import Identity, plc_url

    handle = normalise_handle(handle)
    client = guard.sdk_client(service)
    try:
        try:
            did = client.com.atproto.identity.resolve_handle(
                models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
            ).did
        except BadRequestError:
            raise HandleError(
                _("the Bluesky handle %(handle)s does not exist") % {"handle": handle},
                _("Check the spelling, or create the account first and come back"),
            ) from None
        except AtProtocolError:
            raise _unreachable(handle) from None
        pds = _pds_of(_did_document(did, plc or plc_url(), guard))
        if pds is None:
            try:
                described = client.com.atproto.repo.describe_repo(
                    models.ComAtprotoRepoDescribeRepo.Params(repo=did)
                )
                pds = _pds_of(described.did_doc)
            except AtProtocolError:
                pds = None
    finally:
        client.request.close()
    if pds is None:
        raise _unreachable(handle)
    return Identity(handle=handle, did=did, pds=pds.rstrip("/"))


def open_session(handle: str, password: str, service: str, guard: NetGuard) -> StoredSession:
    """A new session for ``handle`` at its own PDS with ``password`` (not stored).

    Errors: :class:`HandleError` (no such handle), :class:`PasswordRefused`,
    :class:`PdsUnreachable` (down, or an address the guard refuses: the same message).
    """
    from atproto_client.exceptions import (
        AtProtocolError,
        BadRequestError,
        UnauthorizedError,
    )

    from departures.bluesky.session import StoredSession

    identity = resolve_identity(handle, service, guard)
    client = guard.sdk_client(identity.pds)
    try:
        client.login(identity.did, password, fetch_bsky_profile=False)
    except (UnauthorizedError, BadRequestError) as exc:
        raise PasswordRefused(
            f"The server refused the password for {identity.handle}",
            "Check the app password (Settings > Privacy and security > App passwords), "
            "or create a new one",
        ) from exc
    except AtProtocolError as exc:
        raise _unreachable(identity.handle) from exc
    finally:
        client.request.close()
    # The SDK keeps the created session on the client, which is dropped.
    session = client._session
    if session is None or session.did != identity.did:
        raise PasswordRefused(f"The server answered for another account than {identity.handle}")
    return StoredSession(
        handle=identity.handle,
        did=identity.did,
        pds=identity.pds,
        service=service.rstrip("/"),
        access_jwt=session.access_jwt,
        refresh_jwt=session.refresh_jwt,
        logged_in_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def revoke_session(stored: StoredSession, guard: NetGuard) -> bool:
    """Revoke ``stored`` at its PDS (``deleteSession`` with the refresh token); True if done.

    Never raises: a PDS that does not answer must not keep the coalition from forgetting the
    session on its side (the refresh token then expires at the PDS on its own).
    """
    from atproto_client.exceptions import AtProtocolError

    client = guard.sdk_client(stored.pds)
    try:
        client.com.atproto.server.delete_session(
            headers={"Authorization": f"Bearer {stored.refresh_jwt}"}
        )
    except AtProtocolError:
        return False
    finally:
        client.request.close()
    return True
