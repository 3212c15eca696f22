"""The directory's pages: register an X account → Bluesky pairing with consent, withdraw it,
and see which accounts one followed on X are in the directory now.

A visitor signs in with their Bluesky handle and an app password: :class:`PdsSignIn` resolves
the handle to its DID and PDS and creates one session there, which proves control of the DID.
The password is never kept. The session the PDS created is kept for 30 minutes, encrypted in
the store (:mod:`departures.coalition.directory_follow`), so that "Follow all" can follow the
accounts found in the directory; the signed cookie holds the DID and a random token only.

Registering takes either the visitor's own archive's ``account.js`` (alone, or the archive's
zip, read in memory with :mod:`zipfile` and never extracted: only ``data/account.js`` and
``data/following.js`` are read) or a stated X handle and numeric id ("self-declared"). An
explicit consent checkbox is required. The following list, when given, is used once to show
the page of accounts now in the directory and then dropped: nothing of it is stored.

Uploads are ``multipart/form-data`` read by :func:`parse_multipart` (standard library only) up
to :data:`MAX_UPLOAD` bytes; every other form of these pages goes through the coalition app's
ordinary endpoint (CSRF, form size, rate limit, errors as pages).
"""

from __future__ import annotations

import email.policy
import hmac
import io
import json
import logging
import re
import zipfile
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.parser import BytesParser
from typing import TYPE_CHECKING, Any, Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from departures.bluesky.session import StoredSession
from departures.coalition import directory as directories
from departures.coalition import directory_follow as follows
from departures.coalition.errors import BadInput, NotAllowed, TooLarge, TooMany, WebError
from departures.coalition.forms import Form
from departures.coalition.i18n import _
from departures.coalition.security import new_token
from departures.coalition.store import utc_now
from departures.coalition.vault import Vault
from departures.errors import BlueskyError, DeparturesError

if TYPE_CHECKING:
    from departures.coalition.web import CoalitionApp, Ctx

__all__ = [
    "BlueskySignIn",
    "DirectoryPages",
    "PdsSignIn",
    "Upload",
    "parse_multipart",
    "read_upload",
    "upload_endpoint",
]

MAX_JS = 1024 * 1024  # account.js is a few hundred bytes; 1 MB is generous
MAX_FOLLOWING_JS = 32 * 1024 * 1024  # about 200,000 followed accounts
MAX_ZIP = 50 * 1024 * 1024
MAX_UPLOAD = MAX_ZIP + MAX_JS + 64 * 1024
MAX_PARTS = 8
log = logging.getLogger(__name__)
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error)
_X_ID = re.compile(r"^[0-9]{1,20}$")
_DID = "directory_did"
_HANDLE = "directory_handle"
_SESSION = "directory_session"  # a random token; the session itself is in the store, encrypted


class AlreadyRegistered(WebError):
    """The X account is paired with another Bluesky account already."""

    status = 409


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


# --- uploads (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """What an upload gave: the X account and, if present, the X ids it followed."""

    account: tuple[str, str] | None
    following: frozenset[str] | None


def parse_multipart(body: bytes, content_type: str) -> tuple[Form, dict[str, tuple[str, bytes]]]:
    """The text fields and the files (name → (filename, bytes)) of a multipart body."""
    if content_type.split(";")[0].strip().lower() != "multipart/form-data":
        raise BadInput(_("this address takes the upload form only"), _("Use the form on the page"))
    header = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    if not message.is_multipart():
        raise BadInput(_("the upload could not be read"), _("Send it again from the page"))
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for count, part in enumerate(message.iter_parts()):
        if count >= MAX_PARTS:
            raise BadInput(_("the upload has too many parts"), _("Use the form on the page"))
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name or name in fields or name in files:
            raise BadInput(_("the upload could not be read"), _("Send it again from the page"))
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if data:
                files[name] = (str(filename)[:200], data)
            continue
        try:
            fields[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(
                _("the form could not be read"), _("Remove unusual characters and try again")
            ) from None
    return Form(fields), files


def _bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    # The declared size can lie (a zip bomb): read at most limit + 1 bytes and judge those.
    if info.file_size > limit:
        raise TooLarge(
            _("%(name)s in this zip is too large") % {"name": info.filename[-60:]},
            _("Upload data/account.js on its own instead"),
        )
    with archive.open(info) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(_("this zip file unpacks to more than it says"), _("Upload account.js"))
    return data


def following_from_archive(data: bytes) -> frozenset[str]:
    """The X ids in a ``following.js`` (``[{"following": {"accountId": …}}]``)."""
    text = data.decode("utf-8-sig", errors="replace")
    start = text.find("[")
    try:
        items: Any = json.loads(text[start:]) if start >= 0 else None
        ids = {str(item["following"]["accountId"]) for item in items}
    except (ValueError, TypeError, KeyError) as exc:
        raise BadInput(
            _("this file is not the following.js of an X archive"),
            _("Upload data/following.js from your own archive"),
        ) from exc
    return frozenset(x_id for x_id in ids if _X_ID.match(x_id))


def _zip_member(archive: zipfile.ZipFile, wanted: str) -> zipfile.ZipInfo | None:
    for info in archive.infolist():
        # Only the archive's own data folder, at the top or one folder down; nothing is
        # extracted, so a name with ../ in it is merely not what we look for.
        parts = info.filename.split("/")
        if parts[-2:] == ["data", wanted] and len(parts) <= 3 and ".." not in parts:
            return info
    return None


def read_upload(
    archive_file: bytes | None, following_file: bytes | None, *, require_account: bool = True
) -> Upload:
    """Read an upload: a zip (its data/account.js and data/following.js) or single .js files.

    ``require_account=False`` (a member organisation's page, which wants the following list)
    accepts a zip without ``data/account.js``.
    """
    account: tuple[str, str] | None = None
    following: frozenset[str] | None = None
    if archive_file is not None and archive_file.startswith(b"PK"):
        if len(archive_file) > MAX_ZIP:
            raise TooLarge(_("this zip file is larger than 50 MB"), _("Upload account.js only"))
        try:
            with zipfile.ZipFile(io.BytesIO(archive_file)) as archive:
                member = _zip_member(archive, "account.js")
                if member is None and require_account:
                    raise BadInput(
                        _("this zip has no data/account.js"),
                        _("Upload the zip of your X archive, or its data/account.js"),
                    )
                if member is not None:
                    account = directories.account_from_archive(_bounded(archive, member, MAX_JS))
                listed = _zip_member(archive, "following.js")
                if listed is not None and following_file is None:
                    following = following_from_archive(_bounded(archive, listed, MAX_FOLLOWING_JS))
        except (
            zipfile.BadZipFile,
            zipfile.LargeZipFile,
            NotImplementedError,
            EOFError,
            zlib.error,
        ) as exc:
            raise BadInput(_("this zip file cannot be read"), _("Upload account.js")) from exc
        except RuntimeError as exc:  # an encrypted member
            raise BadInput(_("this zip file is encrypted"), _("Upload account.js")) from exc
    elif archive_file is not None:
        if len(archive_file) > MAX_JS:
            raise TooLarge(_("this account.js is larger than 1 MB"), _("Upload account.js"))
        account = directories.account_from_archive(archive_file)
    if following_file is not None:
        if len(following_file) > MAX_FOLLOWING_JS:
            raise TooLarge(_("this following.js is too large"), _("Split it or ask for help"))
        following = following_from_archive(following_file)
    return Upload(account, following)


# --- the pages ------------------------------------------------------------------------------


class DirectoryPages:
    """The ``/directory`` pages, served by a :class:`~departures.coalition.web.CoalitionApp`."""

    def __init__(
        self,
        app: CoalitionApp,
        sign_in: BlueskySignIn | None,
        limits: directories.ApiLimits | None = None,
    ) -> None:
        self.app = app
        self.sign_in = sign_in
        self.directory = directories.Directory(app.store.engine)
        limits = limits or directories.ApiLimits()
        self.lookup_bucket = limits.lookup_bucket()
        self.export_bucket = limits.export_bucket()
        self.vault = Vault(app.secret_key)

    def routes(self) -> list[Route]:
        """The routes to add to the app."""
        endpoint = self.app._endpoint
        return [
            Route(
                "/directory/lookup",
                self._limited(self.lookup_bucket, "directory lookups", self.lookup),
            ),
            Route(
                "/directory/export.json",
                self._limited(self.export_bucket, "directory exports", self.export),
            ),
            Route("/directory", endpoint(self.page)),
            Route("/directory/sign-in", endpoint(self.sign_in_form), methods=["POST"]),
            Route("/directory/sign-out", endpoint(self.sign_out), methods=["POST"]),
            Route("/directory/withdraw", endpoint(self.withdraw), methods=["POST"]),
            Route("/directory/register", self._upload_endpoint(self.register), methods=["POST"]),
            # Multipart: up to 1,000 DIDs are more than an ordinary form's 32 KB.
            Route(
                "/directory/follow-all", self._upload_endpoint(self.follow_all), methods=["POST"]
            ),
        ]

    def _upload_endpoint(
        self, view: Callable[[Ctx, dict[str, tuple[str, bytes]]], Response]
    ) -> Callable[[Request], Awaitable[Response]]:
        return upload_endpoint(self.app, view)

    # --- the public API: lookup and export, limited per client address -----------------------

    def _limited(
        self, bucket: directories.TokenBucket, what: str, view: Callable[[Ctx], Response]
    ) -> Callable[[Request], Awaitable[Response]]:
        from departures.coalition.web import Ctx

        inner = self.app._endpoint(view)

        async def endpoint(request: Request) -> Response:
            client = request.client.host if request.client else "unknown"
            wait = bucket.take(client)
            if wait <= 0:
                return await inner(request)
            ctx = Ctx(request, self.app._load_session(request))
            return self.app._finish(ctx, directories.too_many_response(what, wait))

        return endpoint

    def lookup(self, ctx: Ctx) -> Response:
        """Consented X id → DID pairs for up to 1,000 X ids (``?x_ids=1,2,…``)."""
        return directories.lookup_response(
            self.directory, ctx.request.query_params.get("x_ids", "")
        )

    def export(self, ctx: Ctx) -> Response:
        """Every consented pair, for ``departures audience import-directory``."""
        return directories.export_response(self.directory)

    def _signed_in(self, ctx: Ctx) -> tuple[str, str]:
        did, handle = ctx.session.get(_DID), ctx.session.get(_HANDLE)
        if not isinstance(did, str) or not isinstance(handle, str):
            raise NotAllowed(
                _("sign in with your Bluesky account first"),
                _("Use the form at /directory"),
            )
        return did, handle

    def _page(self, ctx: Ctx, code: int = 200, **values: Any) -> Response:
        did = ctx.session.get(_DID)
        entries = self.directory.entries_for(did) if isinstance(did, str) else []
        return self.app._render(
            ctx,
            "directory.html",
            code=code,
            did=did if isinstance(did, str) else None,
            handle=ctx.session.get(_HANDLE),
            entries=entries,
            can_sign_in=self.sign_in is not None,
            can_follow=self._sessions(ctx) is not None,
            max_follow=follows.MAX_FOLLOW_ALL,
            max_zip_mb=MAX_ZIP // (1024 * 1024),
            **values,
        )

    def page(self, ctx: Ctx) -> Response:
        """Sign-in form, or the visitor's entries with the register and withdraw forms."""
        return self._page(ctx)

    def sign_in_form(self, ctx: Ctx) -> Response:
        """Check the handle and app password once on the account's PDS; keep only the DID."""
        if self.sign_in is None:
            raise BadInput(
                _("this service does not offer Bluesky sign-in"),
                _("Ask the coordinator to add you to the directory"),
            )
        ctx.form.text("handle", _("Bluesky handle"), max_length=253, required=True)
        handle = ctx.form.bluesky_handle("handle", _("Bluesky handle"))
        password = ctx.form.text("password", _("App password"), max_length=200, required=True)
        self._drop_session(ctx)
        opener = getattr(self.sign_in, "open_session", None)
        try:
            if callable(opener):
                stored = opener(handle, password)
                assert isinstance(stored, StoredSession)
                did, checked = stored.did, stored.handle
                token = follows.VisitorSessions.keep(self.app.store.engine, self.vault, stored)
                ctx.set(_SESSION, token)
            else:
                did, checked = self.sign_in.verify(handle, password)
        except BlueskyError as error:
            raise BadInput(error.message, error.hint) from None
        ctx.set(_DID, did)
        ctx.set(_HANDLE, checked)
        ctx.set("csrf", new_token())
        return self.app._redirect("/directory")

    def sign_out(self, ctx: Ctx) -> Response:
        """Forget the signed-in DID and delete the kept Bluesky session."""
        self._drop_session(ctx)
        ctx.session.pop(_DID, None)
        ctx.session.pop(_HANDLE, None)
        ctx.set("csrf", new_token())
        return self.app._redirect("/directory")

    def withdraw(self, ctx: Ctx) -> Response:
        """Consent withdrawn: every pair of the signed-in DID is deleted."""
        did, _handle = self._signed_in(ctx)
        removed = self.directory.withdraw(did)
        self._drop_session(ctx)
        return self._page(ctx, withdrawn=removed)

    def register(self, ctx: Ctx, files: dict[str, tuple[str, bytes]]) -> Response:
        """Register the pairing (from the archive or as stated), then show the reconnect list."""
        did, handle = self._signed_in(ctx)
        if not ctx.form.flag("consent"):
            raise BadInput(
                _("the consent box is not ticked"),
                _("Tick it to be listed; without it nothing is stored"),
            )
        archive = files.get("archive")
        following_file = files.get("following")
        upload = read_upload(
            archive[1] if archive else None, following_file[1] if following_file else None
        )
        if upload.account is not None:
            x_id, username = upload.account
            source = "self"
        else:
            username = ctx.form.x_handle("x_handle", _("X handle"))
            x_id = ctx.form.text("x_id", _("X account id"), max_length=20).strip()
            if not x_id:
                raise BadInput(
                    _("upload your account.js, or give your X handle and numeric X id"),
                    _("The id is accountId in data/account.js of your archive"),
                )
            source = "declared"
        owners = self.directory.lookup([x_id]) if _X_ID.match(x_id) else []
        if owners and owners[0]["did"] != did:
            raise AlreadyRegistered(
                _("this X account is already paired with another Bluesky account"),
                _("If it is yours, ask the coordinator of your campaign to correct it"),
            )
        self.directory.register(x_id, username, did, handle, source=source)
        found = self._reconnect(upload.following, exclude=did)
        packs = [
            (c.title, c.starter_pack_url)
            for c in self.app.store.campaigns()
            if c.opened_at is not None and c.starter_pack_url
        ]
        return self._page(
            ctx,
            registered=username,
            found=found,
            following_count=None if upload.following is None else len(upload.following),
            starter_packs=packs,
        )

    def _sessions(self, ctx: Ctx) -> follows.VisitorSessions | None:
        """The signed-in visitor's kept session store, if it holds a live session."""
        token, did = ctx.session.get(_SESSION), ctx.session.get(_DID)
        if not isinstance(token, str) or not isinstance(did, str):
            return None
        sessions = follows.VisitorSessions(self.app.store.engine, self.vault, token)
        stored = sessions.get()
        return sessions if stored is not None and stored.did == did else None

    def _drop_session(self, ctx: Ctx) -> None:
        token = ctx.session.get(_SESSION)
        if isinstance(token, str):
            follows.VisitorSessions(self.app.store.engine, self.vault, token).remove()
        if _SESSION in ctx.session:
            ctx.session.pop(_SESSION, None)
            ctx.dirty = True

    def follow_all(self, ctx: Ctx, files: dict[str, tuple[str, bytes]]) -> Response:
        """Follow every listed account in the directory with the visitor's kept session."""
        from departures.bluesky.pds import Pds
        from departures.bluesky.session import expired as expired_error
        from departures.bluesky.session import open_client

        did, _handle = self._signed_in(ctx)
        if files:
            raise BadInput(_("this form takes no files"), _("Use the form on the page"))
        found = follows.parse_follow_dids(
            ctx.form.fields.get("dids", ""), did, self.app.store.engine
        )
        sessions = self._sessions(ctx)
        expired = NotAllowed(
            _("your Bluesky sign-in on this page has expired (it lasts 30 minutes)"),
            _("Sign in again with your app password, then press Follow all again"),
        )
        if sessions is None:
            raise expired
        try:
            client = open_client(did, store=sessions)
        except BlueskyError:
            self._drop_session(ctx)
            raise expired from None
        stored = sessions.get()
        pds = Pds(client, did, stored.handle if stored else "")
        journal = follows.VisitorJournal(self.app.store.engine, did)
        try:
            outcome = follows.follow_all(
                follows.writer_for(pds, journal),
                [entry["did"] for entry in found],
                lambda: utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            )
        except BlueskyError as error:
            if error.message == expired_error(pds.handle).message:
                # The server revoked the kept session: what was sent is journaled and on the
                # server, so pressing again after signing in follows only the rest.
                self._drop_session(ctx)
                raise expired from None
            log.warning("follow all for a directory visitor stopped: %s", error.message)
            outcome = follows.FollowOutcome(stopped=_("the Bluesky server refused or failed"))
        finally:
            pds.close()
        return self._page(
            ctx, follow=outcome, found=found, follow_dids=" ".join(entry["did"] for entry in found)
        )

    def _reconnect(self, following: frozenset[str] | None, *, exclude: str) -> list[dict[str, str]]:
        if not following:
            return []
        ids = sorted(following)
        found: list[dict[str, str]] = []
        for start in range(0, len(ids), directories.MAX_LOOKUP):
            found.extend(self.directory.lookup(ids[start : start + directories.MAX_LOOKUP]))
        return [entry for entry in found if entry["did"] != exclude]


def upload_endpoint(
    app: CoalitionApp, view: Callable[[Ctx, dict[str, tuple[str, bytes]]], Response]
) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint for a multipart upload form: rate limit, size limit, CSRF, errors as pages.

    ``view`` gets the form's text fields in ``ctx.form`` and its files by field name.
    """
    from departures.coalition.web import Ctx

    async def endpoint(request: Request) -> Response:

        ctx = Ctx(request, app._load_session(request))
        try:
            client = request.client.host if request.client else "unknown"
            if not app.form_limiter.allow(client):
                raise TooMany(
                    _("too many forms sent from your address in the last minute"),
                    _("Wait a minute and send it again"),
                )
            body = await _read_body(request)
            ctx.form, files = parse_multipart(body, request.headers.get("content-type", ""))
            del body
            expected = ctx.session.get("csrf")
            sent = ctx.form.fields.get("csrf", "")
            if not isinstance(expected, str) or not hmac.compare_digest(
                expected.encode(), sent.encode()
            ):
                raise NotAllowed(
                    _("this form has expired or did not come from this site"),
                    _("Reload the page and send the form again (cookies must be enabled)"),
                )
            response = await run_in_threadpool(view, ctx, files)
        except DeparturesError as error:
            response = app._error_response(ctx, error)
        except Exception:
            log.exception("error handling an upload to %s", request.url.path)
            response = app._server_error(ctx)
        return app._finish(ctx, response)

    return endpoint


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = TooLarge(
        _("this upload is larger than %(mb)d MB") % {"mb": MAX_UPLOAD // (1024 * 1024)},
        _("Upload data/account.js and data/following.js on their own"),
    )
    if declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_UPLOAD:
            raise too_large
    return bytes(body)
