"""Logging in once and keeping the session: a user-level file, mode 0600.

``departures login`` creates a session with an app password and stores what the server
returned (access and refresh tokens, DID, handle, PDS, service) in
``~/.config/departures/sessions.json`` (or ``$DEPARTURES_CONFIG_DIR``), keyed by DID, never
in the workspace database and never in logs. The app password itself is not kept: the
refresh token is, and every later command refreshes the access token with it when it is
about to expire (the SDK does that; its session-change callback writes the new tokens back
here). A PDS allows 30 logins per 5 minutes: commands never log in again on their own.

Only the SDK's public session API is used (``Client.login`` with a password or a
``session_string``, ``export_session_string``, ``on_session_change``, ``Session`` and
``SessionEvent`` from ``atproto``), so that ``atproto`` can be a version range rather than
one pinned release. The facts behind all this: ``docs/bluesky-facts.md``, "Sessions".
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from atproto import Client, Session, SessionEvent
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    LoginRequiredError,
    NetworkError,
    UnauthorizedError,
)
from atproto_client.request import Request

from departures.bluesky.identity import Identity, resolve, unreachable
from departures.errors import BlueskyError

if TYPE_CHECKING:
    from departures.bluesky.oauth import LoopbackConfig, OAuthClient, OAuthSession

CONFIG_ENV = "DEPARTURES_CONFIG_DIR"
PASSWORD_ENV = "DEPARTURES_APP_PASSWORD"
SESSIONS_FILE = "sessions.json"


def config_dir() -> Path:
    """``$DEPARTURES_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/departures`` (``~/.config``)."""
    chosen = os.environ.get(CONFIG_ENV)
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "departures"


@dataclass
class StoredSession:
    """One account's session as stored in the sessions file."""

    handle: str
    did: str
    pds: str
    service: str
    access_jwt: str
    refresh_jwt: str
    logged_in_at: str
    #: A session granted through OAuth (the desk's "Continue with Bluesky"): the
    #: :class:`~departures.bluesky.oauth.OAuthSession` as JSON under ``session`` and the
    #: loopback client it was granted to (``redirect_uri``, ``scope``: refreshing and
    #: revoking must name the same ``client_id``). None for an app-password session, whose
    #: tokens are ``access_jwt`` and ``refresh_jwt``.
    oauth: dict[str, Any] | None = None

    def __repr__(self) -> str:  # tokens stay out of logs and tracebacks
        return f"StoredSession(handle={self.handle!r}, did={self.did!r}, pds={self.pds!r})"


class SessionStore:
    """The sessions file: ``{"current": did, "accounts": {did: StoredSession}}``."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or config_dir()
        self.path = self.directory / SESSIONS_FILE

    def _load(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"current": None, "accounts": {}}
        except (OSError, ValueError) as exc:
            raise BlueskyError(
                f"The sessions file {self.path} cannot be read ({exc})",
                "Delete it and run 'departures login' again",
            ) from exc
        data.setdefault("accounts", {})
        return data

    def _save(self, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Written to a 0600 temporary file, then renamed: never readable by others, never
        # half-written.
        fd, tmp = tempfile.mkstemp(prefix=".sessions-", dir=self.directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, who: str | None = None) -> StoredSession | None:
        """The session of ``who`` (handle or DID), or the current one."""
        data = self._load()
        accounts: dict[str, Any] = data["accounts"]
        if who is None:
            who = data.get("current")
            if who is None:
                return None
        who = who.strip().removeprefix("@").lower()
        matches = [
            saved
            for did, saved in accounts.items()
            if who in (did.lower(), str(saved.get("handle", "")).lower())
        ]
        if not matches:
            return None
        # A handle can move to another DID (a sandbox started afresh, an account recreated):
        # the latest login is the one that counts.
        return StoredSession(**max(matches, key=lambda saved: str(saved.get("logged_in_at", ""))))

    def put(self, session: StoredSession, *, make_current: bool = True) -> None:
        """Store (or replace) a session."""
        data = self._load()
        handle = session.handle.lower()
        # One handle names one account at a time: a new login for it replaces older ones.
        for did in [
            did
            for did, saved in data["accounts"].items()
            if did != session.did and str(saved.get("handle", "")).lower() == handle
        ]:
            del data["accounts"][did]
            if data.get("current") == did:
                data["current"] = None
        data["accounts"][session.did] = asdict(session)
        if make_current or data.get("current") is None:
            data["current"] = session.did
        self._save(data)

    def remove(self, who: str | None = None) -> StoredSession | None:
        """Forget the session of ``who`` (or the current one); what was removed."""
        found = self.get(who)
        if found is None:
            return None
        data = self._load()
        data["accounts"].pop(found.did, None)
        if data.get("current") == found.did:
            data["current"] = next(iter(data["accounts"]), None)
        self._save(data)
        return found


def create_session(handle: str, password: str, service: str) -> StoredSession:
    """A new session for ``handle`` at its own PDS with ``password``, not stored.

    Errors: the password refused, the login refused, the PDS unreachable (one-line
    :class:`BlueskyError` each).
    """
    identity: Identity = resolve(handle, service)
    client = Client(base_url=identity.pds)
    try:
        # No profile lookup: a PDS without an AppView (the sandbox's rate-limited one, a
        # self-hosted PDS) does not serve app.bsky.actor.getProfile.
        client.login(identity.did, password, fetch_bsky_profile=False)
        session = Session.decode(client.export_session_string())
    except UnauthorizedError as exc:
        raise BlueskyError(
            f"The server refused the password for {identity.handle}",
            "Check the app password (Settings > Privacy and security > App passwords), "
            "or create a new one",
            kind="password-refused",
            values={"handle": identity.handle},
        ) from exc
    except BadRequestError as exc:
        raise BlueskyError(
            f"The server refused the login for {identity.handle} ({_reason(exc)})",
            "Check the handle and the app password",
            kind="login-refused",
            values={"handle": identity.handle, "reason": _reason(exc)},
        ) from exc
    except (NetworkError, AtProtocolError) as exc:
        raise unreachable(identity.pds, exc) from exc
    finally:
        client.request.close()
    return StoredSession(
        handle=session.handle,
        did=session.did,
        pds=identity.pds,
        service=service.rstrip("/"),
        access_jwt=session.access_jwt,
        refresh_jwt=session.refresh_jwt,
        logged_in_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def login(
    handle: str, password: str, service: str, *, store: SessionStore | None = None
) -> StoredSession:
    """Resolve ``handle``, create a session at its PDS with ``password`` and store it."""
    stored = create_session(handle, password, service)
    (store or SessionStore()).put(stored)
    return stored


def _reason(exc: AtProtocolError) -> str:
    response = getattr(exc, "response", None)
    content = getattr(response, "content", None)
    message = getattr(content, "message", None) or getattr(content, "error", None)
    return str(message or type(exc).__name__)


def open_client(
    who: str | None = None,
    *,
    store: SessionStore | None = None,
    request: Request | None = None,
) -> Client:
    """An SDK client on the stored session, refreshing (and re-storing) tokens as needed.

    Close it with ``client.request.close()`` when done. ``request``: the SDK request layer to
    use (a public service passes one whose transport checks every address it connects to).

    Errors: nobody logged in, or the refresh token expired or was revoked: "log in again".
    """
    store = store or SessionStore()
    stored = store.get(who)
    if stored is None:
        raise BlueskyError(
            "Nobody is logged in" if who is None else f"{who} is not logged in",
            "Run 'departures login --handle HANDLE' first",
            kind="not-logged-in",
        )
    if stored.oauth is not None:
        return _open_oauth_client(stored, store)
    # A batch of 200 posts can take the server more than the SDK's default 5 s.
    client = Client(base_url=stored.pds, request=request or Request(timeout=60.0))

    def on_change(event: SessionEvent, session: Session) -> None:
        if event in (SessionEvent.REFRESH, SessionEvent.CREATE):
            stored.access_jwt = session.access_jwt
            stored.refresh_jwt = session.refresh_jwt
            store.put(stored, make_current=False)

    client.on_session_change(on_change)
    try:
        client.login(session_string=session_string(stored), fetch_bsky_profile=False)
        # The SDK refreshes the access token, when it is about to expire, before a request:
        # one cheap request now (getSession) makes it do so, and checks the server still
        # accepts the session, so that an expired or revoked one is reported before any
        # work starts.
        client.com.atproto.server.get_session()
    except (UnauthorizedError, BadRequestError, LoginRequiredError) as exc:
        client.request.close()
        raise expired(stored.handle) from exc
    except (NetworkError, AtProtocolError) as exc:
        client.request.close()
        raise unreachable(stored.pds, exc) from exc
    return client


def store_oauth(
    granted: OAuthSession,
    config: LoopbackConfig,
    service: str,
    *,
    store: SessionStore | None = None,
) -> StoredSession:
    """Store a session granted through OAuth to the loopback client ``config`` (current)."""
    stored = StoredSession(
        handle=granted.handle,
        did=granted.did,
        pds=granted.pds,
        service=service.rstrip("/"),
        access_jwt="",
        refresh_jwt="",
        logged_in_at=datetime.now(UTC).isoformat(timespec="seconds"),
        oauth={
            "session": granted.to_json(),
            "redirect_uri": config.redirect_uri,
            "scope": config.scope,
        },
    )
    (store or SessionStore()).put(stored)
    return stored


def oauth_client_of(stored: StoredSession) -> tuple[OAuthClient, OAuthSession]:
    """The OAuth client a stored OAuth session was granted to, and the session."""
    import httpx

    from departures.bluesky.identity import plc_url
    from departures.bluesky.oauth import LoopbackConfig, OAuthClient, OAuthSession

    assert stored.oauth is not None
    config = LoopbackConfig(str(stored.oauth["redirect_uri"]), str(stored.oauth["scope"]))
    # A batch of 200 posts can take the server more than httpx's default 5 s.
    client = OAuthClient(config, httpx.Client(timeout=60.0), service=stored.service, plc=plc_url())
    return client, OAuthSession.from_json(str(stored.oauth["session"]))


def _open_oauth_client(stored: StoredSession, store: SessionStore) -> Client:
    """An SDK client on a stored OAuth session: DPoP-bound, refreshed (and re-stored) as
    needed; checked with one ``getSession`` as app-password sessions are."""
    oauth, granted = oauth_client_of(stored)

    def on_change(changed: OAuthSession) -> None:
        assert stored.oauth is not None
        stored.oauth["session"] = changed.to_json()
        store.put(stored, make_current=False)

    client: Client = oauth.sdk_client(granted, on_change)
    try:
        client.com.atproto.server.get_session()
    except (UnauthorizedError, BadRequestError, LoginRequiredError) as exc:
        client.request.close()
        raise expired(stored.handle) from exc
    except BlueskyError:
        client.request.close()
        raise
    except (NetworkError, AtProtocolError) as exc:
        client.request.close()
        raise unreachable(stored.pds, exc) from exc
    return client


def revoke(stored: StoredSession) -> bool:
    """Revoke an OAuth session at its server (True if it accepted); False for an
    app-password session (a password session ends by being forgotten). Never raises."""
    if stored.oauth is None:
        return False
    oauth, granted = oauth_client_of(stored)
    try:
        return oauth.revoke(granted)
    finally:
        oauth.http.close()


def session_string(stored: StoredSession) -> str:
    """The SDK's session string for a stored session (what ``Client.login`` imports)."""
    text: str = Session(
        stored.handle, stored.did, stored.access_jwt, stored.refresh_jwt, stored.pds
    ).encode()
    return text


def expired(handle: str) -> BlueskyError:
    """The one-line error for a session the server no longer accepts."""
    return BlueskyError(
        f"The session of {handle} has expired or was revoked",
        f"Log in again with: departures login --handle {handle}",
        kind="session-expired",
        values={"handle": handle},
    )
