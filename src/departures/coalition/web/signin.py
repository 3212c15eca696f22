"""Signing a directory visitor in with Bluesky: their handle and an app password, checked once
on the account's own PDS.

:class:`PdsSignIn` resolves the handle to its DID and PDS and creates one session there, which
proves control of the DID. The password is never kept; the session the PDS created is kept
for 30 minutes, encrypted in the store (:mod:`departures.coalition.directory_follow`), so that
"Follow all" can follow the accounts found in the directory.
"""

from __future__ import annotations

from typing import Protocol

from departures.bluesky.session import StoredSession
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.i18n import _
from departures.coalition.store import utc_now

__all__ = ["BlueskySignIn", "PdsSignIn"]


class BlueskySignIn(Protocol):
    """Proves that the visitor controls a Bluesky account (unit tests use a fake)."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        """(DID, handle) when ``password`` opens a session for ``handle``; raise otherwise."""
        ...


class PdsSignIn:
    """The real sign-in: resolve the handle, create one session on its PDS, keep nothing."""

    def __init__(self, service: str) -> None:
        self.service = service.rstrip("/")

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        """(DID, handle) once the account's own PDS accepted ``password``."""
        session = self.open_session(handle, password)
        return session.did, session.handle

    def open_session(self, handle: str, password: str) -> StoredSession:
        """The session the account's own PDS created for ``password`` (to keep encrypted)."""
        # The SDK is imported here, not at the top: it costs seconds of start-up that only a
        # sign-in needs.
        from atproto import Client
        from atproto_client.exceptions import (
            AtProtocolError,
            BadRequestError,
            NetworkError,
            UnauthorizedError,
        )

        from departures.bluesky.identity import resolve

        identity = resolve(handle, self.service)
        client = Client(base_url=identity.pds)
        try:
            client.login(identity.did, password, fetch_bsky_profile=False)
        except (UnauthorizedError, BadRequestError) as exc:
            raise NotAllowed(
                _("the Bluesky server refused this handle and app password"),
                _("Check the app password (Settings > Privacy and security > App passwords)"),
            ) from exc
        except (NetworkError, AtProtocolError) as exc:
            raise BadInput(
                _("the Bluesky server of this account does not answer"),
                _("Try again in a few minutes"),
            ) from exc
        finally:
            client.request.close()
        # The SDK keeps the created session here; the client itself is dropped.
        session = client._session
        if session is None or session.did != identity.did:
            raise NotAllowed(_("the Bluesky server answered for another account"))
        return StoredSession(
            handle=identity.handle,
            did=identity.did,
            pds=identity.pds,
            service=self.service,
            access_jwt=session.access_jwt,
            refresh_jwt=session.refresh_jwt,
            logged_in_at=utc_now().isoformat(),
        )
