"""Inviting organisations by e-mail: one at a time or from a CSV, sent again, revoked.

The coordinator gives a name, an e-mail address and a website (or a CSV of them, as a
spreadsheet exports it: UTF-8 with or without a byte-order mark, separated by commas,
semicolons or tabs, with or without a header row in English, Dutch or French); the service
creates one single-use invitation per organisation and queues its e-mail in the outbox, which
the scheduler pass delivers (:mod:`departures.coalition.notify`). A file with one bad row is
refused as a whole, naming the row: nothing is half-imported.

The link's token is derived from a random nonce with the service's secret key
(:func:`invitation_token`): only the nonce and the token's hash are stored, and the queued
e-mail holds a mark where the link goes, filled in by the sender (:func:`expand_link`) — so
the store never holds a working link, and the same link can be sent again.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine

from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.forms import Form
from departures.coalition.i18n import _, ngettext
from departures.coalition.rules import CoalitionError
from departures.coalition.security import hash_token
from departures.coalition.store import INVITE_TTL, Campaign, CoalitionStore
from departures.coalition.store import invitations as rows
from departures.coalition.store.invitations import LINK_MARK, Invitation, NewInvitation
from departures.i18n import (
    LANGUAGES,
    current_language,
    format_moment,
    normalise_language,
    use_language,
)

__all__ = [
    "MAX_CSV_BYTES",
    "MAX_CSV_ROWS",
    "Invitation",
    "Invitations",
    "Invitee",
    "check_invitee",
    "expand_link",
    "invitation_link",
    "invitation_token",
    "parse_csv",
]

MAX_CSV_BYTES = 512 * 1024
MAX_CSV_ROWS = 500

_KDF_CONTEXT = b"departures coalition: invitation link, v1\x00"

# Header names a spreadsheet may carry, in English, Dutch and French (lower case, no spaces).
_HEADERS = {
    "name": {"name", "organisation", "organization", "naam", "organisatie", "nom"},
    "email": {"email", "e-mail", "mail", "emailaddress", "e-mailadres", "courriel", "adresse"},
    "website": {"website", "web", "site", "sitweb", "siteweb", "url", "webpagina", "homepage"},
    "language": {"language", "lang", "taal", "langue"},
}
# What a coordinator may write in the language column, besides "nl", "fr-BE", "en" ...: the
# language's name in English, Dutch or French (lower case).
_LANGUAGE_WORDS = {
    "english": "en", "engels": "en", "anglais": "en",
    "dutch": "nl", "nederlands": "nl", "néerlandais": "nl", "neerlandais": "nl", "vlaams": "nl",
    "french": "fr", "frans": "fr", "français": "fr", "francais": "fr",
}  # fmt: skip


@dataclass(frozen=True)
class Invitee:
    """One organisation to invite: ``line`` is its row in the file (1 for a single one)."""

    line: int
    name: str
    email: str
    website: str
    language: str | None = None  # the e-mail's; None: the coordinator's page language


def invitation_token(secret_key: bytes, nonce: str) -> str:
    """The link's token for ``nonce``: HMAC-SHA256 under the service's key, URL-safe."""
    digest = hmac.new(secret_key, _KDF_CONTEXT + nonce.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def invitation_link(base_url: str, secret_key: bytes, nonce: str) -> str:
    """The invitation's link."""
    return f"{base_url.rstrip('/')}/invite/{invitation_token(secret_key, nonce)}"


def expand_link(
    engine: Engine, message: str, body: str, *, base_url: str, secret_key: bytes | None
) -> str | None:
    """``body`` with its link written in, for outbox ``message``; unchanged for other mail.

    None when the invitation is gone (revoked) or there is no key: the sender must not send it.
    """
    if not message.startswith("invitation:") or LINK_MARK not in body:
        return body
    if secret_key is None:
        return None
    invitation_id = int(message.removeprefix("invitation:").split("#", 1)[0])
    nonce = rows.invitation_nonce(engine, invitation_id)
    if nonce is None:
        return None
    return body.replace(LINK_MARK, invitation_link(base_url, secret_key, nonce))


def _decode(data: bytes) -> str:
    if len(data) > MAX_CSV_BYTES:
        raise BadInput(
            _("the file is larger than %(kb)d KB") % {"kb": MAX_CSV_BYTES // 1024},
            _("Invite at most %(n)d organisations per file") % {"n": MAX_CSV_ROWS},
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BadInput(
            _("the file is not UTF-8 text (row %(line)d has a byte UTF-8 does not allow)")
            % {"line": line},
            _("Save it from your spreadsheet as “CSV UTF-8”; nothing was imported"),
        ) from None


def _separator(text: str) -> str:
    first = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: first.count(sep) for sep in (";", ",", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _column(cell: str) -> str | None:
    key = cell.strip().lower().replace(" ", "").replace("_", "")
    for column, names in _HEADERS.items():
        if key in names:
            return column
    return None


def parse_csv(data: bytes) -> list[Invitee]:
    """The organisations of a CSV file: name, e-mail address, website (in that order, or as
    its header row names them). Every row is checked; the first bad one is named in a
    :class:`BadInput`, and nothing is returned."""
    text = _decode(data)
    if "\x00" in text:
        raise BadInput(
            _("the file is not a CSV text file"),
            _("Export the sheet as CSV (name, e-mail, website); nothing was imported"),
        )
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=_separator(text)))
    numbered = [(n, row) for n, row in enumerate(table, start=1) if any(c.strip() for c in row)]
    if not numbered:
        raise BadInput(
            _("the file has no rows"),
            _("Give one organisation per row: name, e-mail, website; nothing was imported"),
        )
    order = ["name", "email", "website"]
    header = [_column(cell) for cell in numbered[0][1]]
    if "email" in header and "name" in header:
        order = [c or "" for c in header]
        numbered = numbered[1:]
    if len(numbered) > MAX_CSV_ROWS:
        raise BadInput(
            _("the file has %(n)d organisations; at most %(max)d at once")
            % {"n": len(numbered), "max": MAX_CSV_ROWS},
            _("Split it in several files; nothing was imported"),
        )
    invitees: list[Invitee] = []
    for line, row in numbered:
        if len(row) < 2 or (len(row) > len(order) and any(c.strip() for c in row[len(order) :])):
            raise BadInput(
                ngettext(
                    "row %(line)d has %(num)d column; expected name, e-mail and website",
                    "row %(line)d has %(num)d columns; expected name, e-mail and website",
                    len(row),
                )
                % {"line": line, "num": len(row)},
                _("Correct that row and import the file again; nothing was imported"),
            )
        cells = {column: row[i].strip() for i, column in enumerate(order) if i < len(row)}
        invitee = _check(
            line, cells.get("name", ""), cells.get("email", ""), cells.get("website", "")
        )
        invitees.append(replace(invitee, language=_language(line, cells.get("language", ""))))
    return invitees


def choose_language(value: str) -> str | None:
    """The service's language a coordinator names ("nl", "fr-BE", "Français", "Engels"), None
    for an empty value; :class:`BadInput` for anything else."""
    word = value.strip().lower()
    if not word:
        return None
    chosen = normalise_language(word) or _LANGUAGE_WORDS.get(word)
    if chosen is None:
        raise BadInput(
            _("“%(value)s” is not a language of the service") % {"value": value.strip()[:40]},
            _("Write %(codes)s, or leave it empty for the language of this page")
            % {"codes": ", ".join(LANGUAGES)},
        )
    return chosen


def _language(line: int, value: str) -> str | None:
    try:
        return choose_language(value)
    except BadInput as error:
        raise BadInput(
            _("row %(line)d: %(problem)s") % {"line": line, "problem": error.message},
            error.hint,
        ) from None


def _check(line: int, name: str, email: str, website: str, *, in_file: bool = True) -> Invitee:
    form = Form({"name": name, "email": email, "website": website})
    try:
        checked_name = form.text("name", _("the name"), max_length=200, required=True)
        # The value itself names the field in the message: "“info@” is not an e-mail address".
        checked_email = form.email("email", _("“%(value)s”") % {"value": email.strip()[:80]})
        if not checked_email:
            raise BadInput(_("the e-mail address is missing"))
        checked_site = form.url("website", _("“%(value)s”") % {"value": website.strip()[:80]})
    except BadInput as error:
        if not in_file:
            raise
        raise BadInput(
            _("row %(line)d: %(problem)s") % {"line": line, "problem": error.message},
            _("Correct that row and import the file again; nothing was imported"),
        ) from None
    return Invitee(line, checked_name, checked_email, checked_site)


def check_invitee(name: str, email: str, website: str, language: str = "") -> Invitee:
    """One organisation given in a form, checked like a CSV row (``language``: the e-mail's,
    empty for the coordinator's page language)."""
    return replace(
        _check(1, name, email, website, in_file=False), language=choose_language(language)
    )


class Invitations:
    """The coordinator's invitations of one store, signed with the service's key."""

    def __init__(self, store: CoalitionStore, secret_key: bytes, base_url: str) -> None:
        self.store = store
        self.secret_key = secret_key
        self.base_url = base_url.rstrip("/")

    def _campaign(self, slug: str, coordinator_id: int) -> Campaign:
        campaign = self.store.campaign(slug)
        if campaign.coordinator_id != coordinator_id:
            raise NotAllowed(_("only the campaign's coordinator can manage it"))
        if campaign.closed_at is not None:
            raise CoalitionError(_("The campaign is closed"))
        if campaign.opened_at is not None and self.store.clock() >= campaign.deadline:
            raise CoalitionError(
                _("the pledge deadline has passed: new organisations could not pledge"),
                _("Invite them to your next campaign"),
            )
        return campaign

    def _texts(
        self, campaign: Campaign, name: str, expires: datetime, language: str
    ) -> tuple[str, str]:
        """The e-mail's subject and body, written in ``language``."""
        with use_language(language):
            return self._written(campaign, name, expires)

    def _written(self, campaign: Campaign, name: str, expires: datetime) -> tuple[str, str]:
        def show(moment: datetime) -> str:
            return format_moment(moment, campaign.zone)

        coordinator = self.store.coordinator_name(campaign.coordinator_id)
        subject = _("Invitation: %(title)s") % {"title": campaign.title}
        body = _(
            "Hello %(name)s,\n\n"
            "%(coordinator)s invites your organisation to “%(title)s”. Organisations pledge "
            "to leave X together on %(departure)s and land on Bluesky; the campaign goes ahead "
            "only if at least %(threshold)d organisations pledge, and you may pledge on "
            "condition that enough others go.\n\n"
            "Join with this link before %(expires)s (it admits one organisation):\n%(link)s\n\n"
            "Pledges are open until %(deadline)s.\n"
        ) % {
            "name": name,
            "coordinator": coordinator,
            "title": campaign.title,
            "departure": show(campaign.departure_at),
            "threshold": campaign.threshold,
            "expires": show(expires),
            "link": LINK_MARK,
            "deadline": show(campaign.deadline),
        }
        return subject, body

    def invite(
        self,
        slug: str,
        coordinator_id: int,
        invitees: Sequence[Invitee],
        ttl: timedelta = INVITE_TTL,
        language: str | None = None,
    ) -> list[int]:
        """Create the invitations and queue their e-mails, all or none; their ids. Each
        e-mail is in its invitee's language, else in ``language``, else in the current one
        (the coordinator's page)."""
        campaign = self._campaign(slug, coordinator_id)
        now = self.store.clock()
        fallback = normalise_language(language) or current_language()
        new: list[NewInvitation] = []
        for invitee in invitees:
            nonce = secrets.token_hex(16)
            chosen = invitee.language or fallback
            subject, body = self._texts(campaign, invitee.name, now + ttl, chosen)
            new.append(
                NewInvitation(
                    line=invitee.line,
                    name=invitee.name,
                    email=invitee.email,
                    website=invitee.website,
                    nonce=nonce,
                    token_hash=hash_token(invitation_token(self.secret_key, nonce)),
                    subject=subject,
                    body=body,
                    language=chosen,
                )
            )
        return rows.create_invitations(self.store.engine, campaign.id, new, now=now, ttl=ttl)

    def invite_csv(
        self,
        slug: str,
        coordinator_id: int,
        data: bytes,
        ttl: timedelta = INVITE_TTL,
        language: str | None = None,
    ) -> list[int]:
        """Invite every organisation of a CSV file (see :func:`parse_csv`), all or none; a
        row without a language gets ``language`` (else the current one)."""
        self._campaign(slug, coordinator_id)
        return self.invite(slug, coordinator_id, parse_csv(data), ttl, language)

    def resend(
        self, slug: str, coordinator_id: int, invitation_id: int, ttl: timedelta = INVITE_TTL
    ) -> None:
        """Send the invitation's e-mail again (same link, valid ``ttl`` from now)."""
        campaign = self._campaign(slug, coordinator_id)
        found = next((i for i in self.of_campaign(campaign) if i.id == invitation_id), None)
        if found is None:
            raise BadInput(_("there is no such invitation in this campaign"))
        now = self.store.clock()
        # In the language the invitation was made in (older ones: the coordinator's now).
        subject, body = self._texts(
            campaign, found.name, now + ttl, found.language or current_language()
        )
        nonce = rows.invitation_nonce_any(self.store.engine, invitation_id)
        assert nonce is not None  # listed just above
        rows.resend_invitation(
            self.store.engine,
            campaign.id,
            invitation_id,
            subject=subject,
            body=body,
            now=now,
            ttl=ttl,
            token_hash=hash_token(invitation_token(self.secret_key, nonce)),
        )

    def revoke(self, slug: str, coordinator_id: int, invitation_id: int) -> None:
        """Revoke an invitation not yet accepted: its link stops working."""
        campaign = self.store.campaign(slug)
        if campaign.coordinator_id != coordinator_id:
            raise NotAllowed(_("only the campaign's coordinator can manage it"))
        rows.revoke_invitation(self.store.engine, campaign.id, invitation_id, self.store.clock())

    def of_campaign(self, campaign: Campaign) -> list[Invitation]:
        """The campaign's e-mailed invitations, newest first."""
        return rows.list_invitations(self.store.engine, campaign.id)

    def link(self, invitation_id: int) -> str | None:
        """The invitation's link (for the coordinator to pass on by hand), if still live."""
        nonce = rows.invitation_nonce(self.store.engine, invitation_id)
        return invitation_link(self.base_url, self.secret_key, nonce) if nonce else None
