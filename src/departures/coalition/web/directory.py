"""The directory's pages: register an X account → Bluesky pairing with consent, withdraw it,
see which accounts one followed on X are in the directory now and follow them all; and the
directory's public API (lookup, export), limited per client address.

A visitor signs in with Bluesky through AT Protocol OAuth (:mod:`.oauth`) when the service has
an OAuth client, otherwise (or with the ``DEPARTURES_COALITION_APP_PASSWORDS`` fallback) with
their handle and an app password (:mod:`.signin`); the session then holds their DID, handle and
a random token naming their kept Bluesky session.

Registering takes either the visitor's own archive's ``account.js`` (alone, or the archive's
zip; :mod:`.archive_upload`) or a stated X handle and numeric id ("self-declared"). An
explicit consent checkbox is required. The following list, when given, is used once to show
the page of accounts now in the directory and then dropped: nothing of it is stored.

The two multipart forms (register, follow all) check the sign-in before reading their body and
have their own limits (:data:`REGISTER_UPLOAD`, :data:`FOLLOW_ALL_FORM`); the other forms are
ordinary small forms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

from starlette.responses import Response
from starlette.routing import Route

from departures.bluesky.session import StoredSession
from departures.coalition import directory as directories
from departures.coalition import directory_follow as follows
from departures.coalition.errors import BadInput, NotAllowed, WebError
from departures.coalition.i18n import _, lazy_gettext
from departures.coalition.oauth import app_passwords_allowed, revoke_visitor_sessions
from departures.coalition.store import access, utc_now
from departures.coalition.vault import Vault
from departures.coalition.web import middleware
from departures.coalition.web.archive_upload import MAX_UPLOAD, MAX_ZIP, read_upload
from departures.coalition.web.guards import (
    BLUESKY_DID,
    BLUESKY_HANDLE,
    bluesky_signed_in,
    sign_in_return,
)
from departures.coalition.web.sessions import Ctx
from departures.coalition.web.signin import BlueskySignIn
from departures.coalition.web.site import Site, redirect
from departures.coalition.web.uploads import Files, UploadLimits
from departures.errors import BlueskyError
from departures.netguard import NetGuard

__all__ = [
    "FOLLOW_ALL_FORM",
    "REGISTER_UPLOAD",
    "AlreadyRegistered",
    "DirectoryViews",
    "routes",
    "visitor",
]

log = logging.getLogger(__name__)

_DID = BLUESKY_DID
_HANDLE = BLUESKY_HANDLE
_SESSION = "directory_session"  # a random token; the session itself is in the store, encrypted
_OAUTH_SESSION = "directory_oauth"  # the same for a session granted through OAuth (web/oauth.py)

REGISTER_UPLOAD = UploadLimits(
    max_body=MAX_UPLOAD,
    max_files=2,  # archive (zip or account.js) and following.js
    # csrf, consent, x_handle, x_id; and the file inputs, which a client that leaves them empty
    # may send as text fields (httpx does), with room to spare.
    max_fields=8,
    max_field_size=1024,
    # Translated when shown, in the language of that request.
    too_large_hint=cast(
        str, lazy_gettext("Upload data/account.js and data/following.js on their own")
    ),
)
FOLLOW_ALL_FORM = UploadLimits(
    # Multipart because up to 1,000 DIDs are more than an ordinary form's 32 KB.
    max_body=512 * 1024,
    max_files=1,  # the page's form sends none; room for a client's empty placeholder
    max_fields=4,  # csrf, dids, and room for that placeholder as a text field
    max_field_size=400 * 1024,  # 1,000 DIDs of up to 261 characters, with separators
    # Translated when shown, in the language of that request.
    too_large_hint=cast(str, lazy_gettext("Register again with your following.js")),
)


class AlreadyRegistered(WebError):
    """The X account is paired with another Bluesky account already (no longer raised: both
    claims are kept since proof levels; kept for callers that name it)."""

    status = 409


def visitor(ctx: Ctx) -> tuple[str, str]:
    """The signed-in visitor's (DID, handle); refused otherwise (a guard: session only)."""
    return bluesky_signed_in(ctx)


@dataclass
class DirectoryViews:
    """The directory's views, with what they share: the directory, the sign-in, the vault."""

    site: Site
    sign_in: BlueskySignIn | None
    directory: directories.Directory
    vault: Vault

    # --- the public API -----------------------------------------------------------------------

    def lookup(self, site: Site, ctx: Ctx) -> Response:
        """Consented X id → DID pairs for up to 1,000 X ids (``?x_ids=1,2,…``)."""
        return directories.lookup_response(
            self.directory, ctx.request.query_params.get("x_ids", "")
        )

    def export(self, site: Site, ctx: Ctx) -> Response:
        """Every consented pair, for ``departures audience import-directory``."""
        return directories.export_response(self.directory)

    # --- the pages ----------------------------------------------------------------------------

    def _page(self, ctx: Ctx, code: int = 200, **values: Any) -> Response:
        did = ctx.session.get(_DID)
        entries = self.directory.entries_for(did) if isinstance(did, str) else []
        return self.site.render(
            ctx,
            "directory.html",
            code=code,
            did=did if isinstance(did, str) else None,
            handle=ctx.session.get(_HANDLE),
            entries=entries,
            can_sign_in=self.sign_in is not None
            and (self.site.oauth is None or app_passwords_allowed()),
            oauth=self.site.oauth is not None,
            can_follow=self._sessions(ctx) is not None or self._oauth_token(ctx) is not None,
            max_follow=follows.MAX_FOLLOW_ALL,
            max_zip_mb=MAX_ZIP // (1024 * 1024),
            can_prove_x=self.site.settings.x_sign_in_configured,
            **values,
        )

    def page(self, site: Site, ctx: Ctx) -> Response:
        """Sign-in form, or the visitor's entries with the register and withdraw forms."""
        return self._page(ctx)

    def sign_in_form(self, site: Site, ctx: Ctx) -> Response:
        """Check the handle and app password once on the account's PDS; keep only the DID."""
        if self.sign_in is None or (self.site.oauth is not None and not app_passwords_allowed()):
            raise BadInput(
                _("this service does not offer Bluesky sign-in"),
                _("Ask the coordinator to add you to the directory"),
            )
        ctx.form.text("handle", _("Bluesky handle"), max_length=253, required=True)
        handle = ctx.form.bluesky_handle("handle", _("Bluesky handle"))
        password = ctx.form.text("password", _("App password"), max_length=200, required=True)
        site.sign_in_throttle.check(ctx.client, handle)
        self._drop_session(ctx)
        opener = getattr(self.sign_in, "open_session", None)
        try:
            if callable(opener):
                stored = opener(handle, password)
                assert isinstance(stored, StoredSession)
                did, checked = stored.did, stored.handle
                token = follows.VisitorSessions.keep(site.store.engine, self.vault, stored)
                ctx.set(_SESSION, token)
            else:
                did, checked = self.sign_in.verify(handle, password)
        except BlueskyError as error:
            site.sign_in_throttle.failed(ctx.client, handle)
            hint = middleware.public_text(error.hint) if error.hint else None
            # Its kind too, so the page says it in the visitor's words (page_errors).
            values = {k: middleware.public_text(v) for k, v in error.values.items()}
            raise BadInput(
                middleware.public_text(error.message), hint, kind=error.kind, values=values
            ) from None
        ctx.set(_DID, did)
        ctx.set(_HANDLE, checked)
        ctx.renew_csrf()
        return redirect(sign_in_return(ctx.form.text("next", "next", max_length=300)))

    def sign_out(self, site: Site, ctx: Ctx) -> Response:
        """Forget the signed-in DID and delete the kept Bluesky session."""
        self._drop_session(ctx)
        ctx.session.pop(_DID, None)
        ctx.session.pop(_HANDLE, None)
        ctx.renew_csrf()
        return redirect("/directory")

    def withdraw(self, site: Site, ctx: Ctx) -> Response:
        """Consent withdrawn: everything that names the signed-in DID is deleted.

        Its kept Bluesky sessions are revoked at the PDS first; then one transaction deletes
        its pairs and all that names it, its sessions included: the visitor is signed out.
        """
        did, _handle = visitor(ctx)
        self._revoke_kept(did)
        removed = self.directory.withdraw(did)
        ctx.session.clear()
        ctx.renew_csrf()
        return self._page(ctx, withdrawn=removed)

    def sign_out_everywhere(self, site: Site, ctx: Ctx) -> Response:
        """End every session of the signed-in DID, here and on its PDS."""
        did, _handle = visitor(ctx)
        self._revoke_kept(did)
        access.end_sessions(site.store.engine, did=did)
        ctx.session.clear()
        ctx.renew_csrf()
        return redirect("/directory")

    def _request(self) -> Any:
        """The SDK request layer for the visitor's PDS: through the sign-in's guard, if any.

        The PDS was checked at sign-in; checking every connection again keeps a name that
        resolves elsewhere later (DNS rebinding) from reaching an inner address.
        """
        guard = getattr(self.sign_in, "guard", None)
        return guard.sdk_request(timeout=60.0) if isinstance(guard, NetGuard) else None

    def _revoke(self, stored: StoredSession | None) -> None:
        """Revoke a kept session at its PDS (best effort: the local deletion never waits)."""
        revoke = getattr(self.sign_in, "revoke", None)
        if stored is not None and callable(revoke) and not revoke(stored):
            log.info("a directory visitor's Bluesky session could not be revoked at its PDS")

    def _revoke_kept(self, did: str) -> None:
        for stored in follows.VisitorSessions.of_did(self.site.store.engine, self.vault, did):
            self._revoke(stored)
        if self.site.oauth is not None:  # the sessions granted through OAuth
            revoke_visitor_sessions(self.site.store.engine, self.vault, did, self.site.oauth.guard)

    def register(self, site: Site, ctx: Ctx, files: Files) -> Response:
        """Register the pairing (from the archive or as stated), then show the reconnect list."""
        did, handle = visitor(ctx)
        if not ctx.form.flag("consent"):
            raise BadInput(
                _("the consent box is not ticked"),
                _("Tick it to be listed; without it nothing is stored"),
            )
        archive, following_file = files.get("archive"), files.get("following")
        upload = read_upload(
            archive.file if archive else None, following_file.file if following_file else None
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
        # Another account's claim on the same X id does not lock this one out: both are
        # kept, the stronger proof wins and a tie goes to the coordinators' review queue.
        level = self.directory.register(x_id, username, did, handle, source=source)
        found = self._in_directory(upload.following, exclude=did)
        packs = [
            (c.title, c.starter_pack_url)
            for c in site.store.campaigns()
            if c.opened_at is not None and c.starter_pack_url
        ]
        return self._page(
            ctx,
            registered=username,
            registered_level=level,
            found=found,
            following_count=None if upload.following is None else len(upload.following),
            starter_packs=packs,
        )

    def _sessions(self, ctx: Ctx) -> follows.VisitorSessions | None:
        """The signed-in visitor's kept session store, if it holds a live session."""
        token, did = ctx.session.get(_SESSION), ctx.session.get(_DID)
        if not isinstance(token, str) or not isinstance(did, str):
            return None
        sessions = follows.VisitorSessions(self.site.store.engine, self.vault, token)
        stored = sessions.get()
        return sessions if stored is not None and stored.did == did else None

    def _oauth_token(self, ctx: Ctx) -> str | None:
        """The token of the visitor's kept OAuth session (web/oauth.py), if any."""
        token = ctx.session.get(_OAUTH_SESSION)
        return token if isinstance(token, str) and self.site.oauth is not None else None

    def _drop_session(self, ctx: Ctx) -> None:
        oauth_token = self._oauth_token(ctx)
        if oauth_token is not None and self.site.oauth is not None:
            # Sign-out revokes the grant at the visitor's server, then forgets it here.
            if not self.site.oauth.revoke_visitor(oauth_token):
                log.info("a directory visitor's OAuth session could not be revoked")
            follows.VisitorSessions(self.site.store.engine, self.vault, oauth_token).remove()
        ctx.drop(_OAUTH_SESSION)
        token = ctx.session.get(_SESSION)
        if isinstance(token, str):
            sessions = follows.VisitorSessions(self.site.store.engine, self.vault, token)
            stored = sessions.get()
            sessions.remove()
            self._revoke(stored)
        ctx.drop(_SESSION)

    def follow_all(self, site: Site, ctx: Ctx, files: Files) -> Response:
        """Follow every listed account in the directory with the visitor's kept session."""
        # The Bluesky client is imported here: it costs seconds of start-up that only this
        # button needs.
        from departures.bluesky.pds import Pds
        from departures.bluesky.session import expired as expired_error
        from departures.bluesky.session import open_client

        did, _handle = visitor(ctx)
        if files:
            raise BadInput(_("this form takes no files"), _("Use the form on the page"))
        found = follows.parse_follow_dids(ctx.form.fields.get("dids", ""), did, site.store.engine)
        sessions = self._sessions(ctx)
        oauth_token = self._oauth_token(ctx)
        expired = NotAllowed(
            _("your Bluesky sign-in on this page has expired (it lasts 30 minutes)"),
            # Signed in through OAuth, there is no app password to type: the page offers
            # Sign in with Bluesky again.
            _("Sign in with Bluesky again, then press Follow all again")
            if oauth_token is not None
            else _("Sign in again with your app password, then press Follow all again"),
        )
        oauth_pds = (
            self.site.oauth.visitor_pds(oauth_token)
            if oauth_token is not None and self.site.oauth is not None
            else None
        )
        if oauth_pds is not None:
            pds = oauth_pds  # signed in through OAuth: DPoP-bound, refreshed as needed
        else:
            if sessions is None:
                raise expired
            try:
                client = open_client(did, store=sessions, request=self._request())
            except BlueskyError:
                self._drop_session(ctx)
                raise expired from None
            stored = sessions.get()
            pds = Pds(client, did, stored.handle if stored else "")
        journal = follows.VisitorJournal(site.store.engine, did)
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

    def _in_directory(
        self, following: frozenset[str] | None, *, exclude: str
    ) -> list[dict[str, str]]:
        """The directory's entries among ``following`` (but the visitor's own)."""
        if not following:
            return []
        ids = sorted(following)
        found: list[dict[str, str]] = []
        for start in range(0, len(ids), directories.MAX_LOOKUP):
            found.extend(self.directory.lookup(ids[start : start + directories.MAX_LOOKUP]))
        return [entry for entry in found if entry["did"] != exclude]


def routes(
    site: Site,
    sign_in: BlueskySignIn | None,
    limits: directories.ApiLimits | None = None,
) -> list[Route]:
    """The ``/directory`` pages and the directory's API."""
    limits = limits or directories.ApiLimits()
    views = DirectoryViews(
        site,
        sign_in,
        directories.Directory(
            site.store.engine, max_unverified=site.settings.max_unverified_claims
        ),
        Vault(site.secret_key),
    )
    return [
        Route(
            "/directory/lookup",
            middleware.limited(
                site,
                limits.lookup_bucket(),
                "directory lookups",
                views.lookup,
                limits.lookup_stored(site.store.engine),
            ),
        ),
        Route(
            "/directory/export.json",
            middleware.limited(
                site,
                limits.export_bucket(),
                "directory exports",
                views.export,
                limits.export_stored(site.store.engine),
            ),
        ),
        Route("/directory", middleware.page(site, views.page)),
        Route("/directory/sign-in", middleware.page(site, views.sign_in_form), methods=["POST"]),
        Route("/directory/sign-out", middleware.page(site, views.sign_out), methods=["POST"]),
        Route(
            "/directory/sign-out-everywhere",
            middleware.page(site, views.sign_out_everywhere, guard=visitor),
            methods=["POST"],
        ),
        Route(
            "/directory/withdraw",
            middleware.page(site, views.withdraw, guard=visitor),
            methods=["POST"],
        ),
        Route(
            "/directory/register",
            middleware.upload(site, views.register, REGISTER_UPLOAD, guard=visitor),
            methods=["POST"],
        ),
        Route(
            "/directory/follow-all",
            middleware.upload(site, views.follow_all, FOLLOW_ALL_FORM, guard=visitor),
            methods=["POST"],
        ),
    ]
