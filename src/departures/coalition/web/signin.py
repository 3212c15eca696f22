"""Signing a directory visitor in with Bluesky: their handle and an app password, checked once
on the account's own PDS.

:class:`PdsSignIn` resolves the handle to its DID and PDS and creates one session there, which
proves control of the DID. The password is never kept; the session the PDS created is kept
for 30 minutes, encrypted in the store (:mod:`departures.coalition.directory_follow`), so that
"Follow all" can follow the accounts found in the directory.
"""

from __future__ import annotations

from typing import Protocol

from departures.bluesky.identity import plc_url
from departures.bluesky.session import StoredSession
from departures.coalition import handles
from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.handles import HandleError
from departures.coalition.i18n import _
from departures.netguard import NetGuard

__all__ = ["BlueskySignIn", "PdsSignIn"]


class BlueskySignIn(Protocol):
    """Proves that the visitor controls a Bluesky account (unit tests use a fake)."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        """(DID, handle) when ``password`` opens a session for ``handle``; raise otherwise."""
        ...


class PdsSignIn:
    """The real sign-in: resolve the handle, create one session on its PDS, keep nothing.

    Every request goes through a :class:`~departures.netguard.NetGuard`: the configured
    ``service`` is trusted, the PDS a visitor's DID document names must be a public HTTPS
    address — and a refused address gets the same answer as a PDS that does not answer.
    """

    def __init__(self, service: str, guard: NetGuard | None = None) -> None:
        self.service = service.rstrip("/")
        self.guard = guard or NetGuard.for_service(self.service, plc_url())

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        """(DID, handle) once the account's own PDS accepted ``password``."""
        session = self.open_session(handle, password)
        return session.did, session.handle

    def open_session(self, handle: str, password: str) -> StoredSession:
        """The session the account's own PDS created for ``password`` (to keep encrypted)."""
        try:
            return handles.open_session(handle, password, self.service, self.guard)
        except handles.PasswordRefused as exc:
            raise NotAllowed(
                _("the Bluesky server refused this handle and app password"),
                _("Check the app password (Settings > Privacy and security > App passwords)"),
            ) from exc
        except (handles.PdsUnreachable, HandleError) as exc:
            raise BadInput(
                _("the Bluesky server of this account does not answer"),
                _("Try again in a few minutes"),
            ) from exc

    def revoke(self, stored: StoredSession) -> bool:
        """Revoke a kept session at its PDS (sign-out, withdrawal); False when it failed."""
        return handles.revoke_session(stored, self.guard)
