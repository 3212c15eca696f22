"""From a handle to the account's DID and the PDS that holds its repository.

A handle resolves to a DID on the service the user names (``resolveHandle``); the DID
document (the PLC directory for ``did:plc``, the domain for ``did:web``) names the PDS. A
sandbox's PLC directory is not the public one: when the PLC directory cannot be reached or
does not know the DID, the service's own ``describeRepo`` answers with the DID document.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from atproto import Client, models
from atproto_client.exceptions import AtProtocolError, BadRequestError, NetworkError
from atproto_core.did_doc import DidDocument, is_valid_did_doc
from atproto_identity.did.resolver import DidResolver  # type: ignore[import-untyped]

from departures.errors import BlueskyError, debug_detail

DEFAULT_SERVICE = "https://bsky.social"
SERVICE_ENV = "DEPARTURES_SERVICE"
DEFAULT_PLC = "https://plc.directory"
PLC_ENV = "DEPARTURES_PLC_URL"


@dataclass(frozen=True)
class Identity:
    """Who a handle is and where its repository lives."""

    handle: str
    did: str
    pds: str


def normalise_handle(handle: str) -> str:
    """``@Name.bsky.social`` → ``name.bsky.social``."""
    return handle.strip().removeprefix("@").lower()


def plc_url() -> str:
    """The PLC directory to ask: ``$DEPARTURES_PLC_URL`` or the public one."""
    return os.environ.get(PLC_ENV) or DEFAULT_PLC


def unreachable(service: str, exc: BaseException) -> BlueskyError:
    """The one-line error for a server that does not answer."""
    return BlueskyError(
        f"Cannot reach the Bluesky server at {service}{debug_detail(exc)}",
        "Check the address and your connection, or pass another --service URL",
        kind="unreachable",
    )


def resolve(handle: str, service: str, *, plc: str | None = None) -> Identity:
    """Resolve ``handle`` on ``service`` to its DID and PDS; one-line errors otherwise."""
    handle = normalise_handle(handle)
    client = Client(base_url=service)
    try:
        return _resolve(client, handle, service, plc)
    finally:
        client.request.close()


def _resolve(client: Client, handle: str, service: str, plc: str | None) -> Identity:
    try:
        response = client.com.atproto.identity.resolve_handle(
            models.ComAtprotoIdentityResolveHandle.Params(handle=handle)
        )
    except BadRequestError as exc:
        raise BlueskyError(
            f"The handle {handle} is not known to {service}",
            "Check the spelling (for example name.bsky.social), or pass the --service "
            "your account lives on",
            kind="handle-unknown",
            values={"handle": handle},
        ) from exc
    except NetworkError as exc:
        raise unreachable(service, exc) from exc
    except AtProtocolError as exc:
        raise unreachable(service, exc) from exc
    did = response.did
    pds = _pds_from_plc_or_web(did, plc or plc_url()) or _pds_from_service(client, did)
    if pds is None:
        raise BlueskyError(
            f"Cannot find the server that holds {handle} ({did})",
            "Pass --service with the address of your PDS",
        )
    return Identity(handle=handle, did=did, pds=pds.rstrip("/"))


def _pds_from_plc_or_web(did: str, plc: str) -> str | None:
    resolver = DidResolver(plc_url=plc, timeout=5.0)
    try:
        doc = resolver.resolve(did)
    except Exception:  # an unreachable or foreign PLC: the service's describeRepo is asked next
        return None
    finally:
        # The SDK's resolvers open HTTP clients they never close.
        for method in resolver._methods.values():
            client = getattr(method, "_client", None)
            if client is not None:
                client.close()
    if doc is None:
        return None
    endpoint: str | None = doc.get_pds_endpoint()
    return endpoint


def _pds_from_service(client: Client, did: str) -> str | None:
    try:
        response = client.com.atproto.repo.describe_repo(
            models.ComAtprotoRepoDescribeRepo.Params(repo=did)
        )
    except AtProtocolError:
        return None
    doc: Any = response.did_doc
    if not is_valid_did_doc(doc):
        return None
    endpoint: str | None = DidDocument.from_dict(doc).get_pds_endpoint()
    return endpoint
