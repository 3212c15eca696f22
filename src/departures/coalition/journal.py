"""The coalition's Bluesky accounts and the writer's journal, in the coalition store.

Two things the one write path (:mod:`departures.bluesky.writer`) needs from its owner:

* :class:`AccountSessions` — where a Bluesky session lives. A member (for its welcome post)
  or the coordinator (for the campaign's list and starter pack) gives an app password once;
  it is used to log in right away and is never stored. The session the server returns
  (refresh token included) is kept in ``bluesky_accounts``, **encrypted** with a key derived
  from ``DEPARTURES_COALITION_SECRET`` or the ``coalition.secret`` file (mode 0600) next to
  the store (:func:`vault`). It implements the session module's ``SessionStore`` interface,
  so :func:`departures.bluesky.session.login` and ``open_client`` work unchanged and store
  refreshed tokens back here.
* :class:`CoalitionJournal` — the :class:`~departures.bluesky.writer.Journal` of one
  account: ``bluesky_batches`` (journaled as sent before a byte leaves) and
  ``bluesky_records`` (what each write became), plus the account's budget state.

SQLAlchemy Core only: the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, delete, insert, select, update

from departures.bluesky.budget import BudgetConfig, WriteBudget, WriteKind
from departures.bluesky.session import SessionStore, StoredSession
from departures.bluesky.writer import Write, WriteResult
from departures.coalition.schema import bluesky_accounts, bluesky_batches, bluesky_records
from departures.coalition.security import load_secret_key
from departures.coalition.store import utc_now
from departures.errors import BlueskyError

__all__ = [
    "Account",
    "AccountSessions",
    "CoalitionJournal",
    "Vault",
    "campaign_owner",
    "organisation_owner",
    "vault",
]

_KDF_CONTEXT = b"departures coalition: Bluesky sessions at rest, v1\x00"


class Vault:
    """Encrypts and decrypts secrets at rest (Fernet: AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, secret: bytes) -> None:
        # The configured secret is any string (it also signs cookies): derive a separate,
        # well-formed key from it, so that one secret never serves two purposes as is.
        key = hashlib.sha256(_KDF_CONTEXT + secret).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def __repr__(self) -> str:
        return "Vault(<key hidden>)"

    def encrypt(self, plain: str) -> str:
        """The encrypted token (ASCII) for ``plain``."""
        return self._fernet.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text of ``token``; a clear error when the key changed."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise BlueskyError(
                "A stored Bluesky session cannot be decrypted (the coalition secret changed)",
                "Restore DEPARTURES_COALITION_SECRET or coalition.secret, or connect the "
                "Bluesky account again with a new app password",
            ) from exc


def vault(directory: Path | None = None) -> Vault:
    """The vault keyed by ``DEPARTURES_COALITION_SECRET`` or ``coalition.secret`` (0600)."""
    return Vault(load_secret_key(directory))


def campaign_owner(campaign_id: int) -> str:
    """The owner name of a campaign's coordinator account."""
    return f"campaign:{campaign_id}"


def organisation_owner(organisation_id: int) -> str:
    """The owner name of a member organisation's account."""
    return f"organisation:{organisation_id}"


@dataclass(frozen=True)
class Account:
    """A connected Bluesky account (without its secret)."""

    id: int
    owner: str
    campaign_id: int
    organisation_id: int | None
    did: str
    handle: str
    service: str
    connected: bool


class AccountSessions(SessionStore):
    """One owner's session in ``bluesky_accounts``, encrypted (a ``SessionStore``)."""

    def __init__(
        self,
        engine: Engine,
        secrets: Vault,
        owner: str,
        *,
        campaign_id: int,
        organisation_id: int | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        # Deliberately not SessionStore.__init__: nothing of this store is in a file.
        self.engine = engine
        self.secrets = secrets
        self.owner = owner
        self.campaign_id = campaign_id
        self.organisation_id = organisation_id
        self.clock = clock

    def __repr__(self) -> str:
        return f"AccountSessions(owner={self.owner!r})"

    def account(self) -> Account | None:
        """The owner's account, if one was ever connected."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(bluesky_accounts).where(bluesky_accounts.c.owner == self.owner)
            ).first()
        if row is None:
            return None
        return Account(
            row.id,
            row.owner,
            row.campaign_id,
            row.organisation_id,
            row.did,
            row.handle,
            row.service,
            bool(row.secret),
        )

    def get(self, who: str | None = None) -> StoredSession | None:
        """The owner's session (``who`` is ignored: one account per owner)."""
        with self.engine.connect() as conn:
            secret = conn.execute(
                select(bluesky_accounts.c.secret).where(bluesky_accounts.c.owner == self.owner)
            ).scalar()
        if not secret:
            return None
        return StoredSession(**json.loads(self.secrets.decrypt(secret)))

    def put(self, session: StoredSession, *, make_current: bool = True) -> None:
        """Store (or replace) the owner's session, encrypted."""
        now = self.clock()
        values = {
            "did": session.did,
            "handle": session.handle,
            "service": session.service,
            "secret": self.secrets.encrypt(json.dumps(asdict(session))),
            "updated_at": now,
        }
        with self.engine.begin() as conn:
            found = conn.execute(
                select(bluesky_accounts.c.id).where(bluesky_accounts.c.owner == self.owner)
            ).scalar()
            if found is None:
                conn.execute(
                    insert(bluesky_accounts).values(
                        owner=self.owner,
                        campaign_id=self.campaign_id,
                        organisation_id=self.organisation_id,
                        budget="",
                        created_at=now,
                        **values,
                    )
                )
            else:
                conn.execute(
                    update(bluesky_accounts).where(bluesky_accounts.c.id == found).values(**values)
                )

    def remove(self, who: str | None = None) -> StoredSession | None:
        """Forget the session (the journal stays: it records what was written)."""
        found = self.get(who)
        with self.engine.begin() as conn:
            conn.execute(
                update(bluesky_accounts)
                .where(bluesky_accounts.c.owner == self.owner)
                .values(secret="", updated_at=self.clock())
            )
        return found


@dataclass(frozen=True)
class JournaledRecord:
    """The last journaled write of a key: what exists on the server as far as we know."""

    key: str
    action: WriteKind
    collection: str
    rkey: str
    uri: str
    cid: str


class CoalitionJournal:
    """The writer's journal of one account, in the coalition store."""

    def __init__(
        self, engine: Engine, account_id: int, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self.engine = engine
        self.account_id = account_id
        self.clock = clock

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Journal ``writes`` as sent (committed before the request goes out)."""
        listed = [
            {
                "key": w.key,
                "action": str(w.action),
                "collection": w.collection,
                "rkey": w.rkey,
                "expected_cid": w.expected_cid,
            }
            for w in writes
        ]
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(bluesky_batches).values(
                    account_id=self.account_id,
                    writes=json.dumps(listed),
                    state="sent",
                    reason="",
                    created_at=self.clock(),
                )
            )
            assert result.inserted_primary_key is not None
            return int(result.inserted_primary_key[0])

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """Record what the batch's writes became, and the budget, in one transaction."""
        now = self.clock()
        with self.engine.begin() as conn:
            if results:
                conn.execute(
                    insert(bluesky_records),
                    [
                        {
                            "account_id": self.account_id,
                            "batch_id": batch_id,
                            "key": r.write.key,
                            "action": str(r.write.action),
                            "collection": r.write.collection,
                            "rkey": r.write.rkey,
                            "uri": r.uri,
                            "cid": r.cid or "",
                            "existed": r.existed,
                            "at": now,
                        }
                        for r in results
                    ],
                )
            conn.execute(
                update(bluesky_batches)
                .where(bluesky_batches.c.id == batch_id)
                .values(state="done", settled_at=now)
            )
            self._save_budget(conn, budget)

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """The server refused the whole batch: none of it happened."""
        with self.engine.begin() as conn:
            conn.execute(
                update(bluesky_batches)
                .where(bluesky_batches.c.id == batch_id)
                .values(state="abandoned", reason=reason[:500], settled_at=self.clock())
            )
            self._save_budget(conn, budget)

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches journaled as sent without a result (a kill, a crash, a timeout)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(bluesky_batches.c.id, bluesky_batches.c.writes)
                .where(
                    bluesky_batches.c.account_id == self.account_id,
                    bluesky_batches.c.state == "sent",
                )
                .order_by(bluesky_batches.c.id)
            ).all()
        return [
            (
                int(row.id),
                [
                    Write(
                        w["key"],
                        WriteKind(w["action"]),
                        w["collection"],
                        w["rkey"],
                        None,
                        w.get("expected_cid"),
                    )
                    for w in json.loads(row.writes)
                ],
            )
            for row in rows
        ]

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state saved with the last settled batch."""
        with self.engine.connect() as conn:
            saved = conn.execute(
                select(bluesky_accounts.c.budget).where(bluesky_accounts.c.id == self.account_id)
            ).scalar()
        if not saved:
            return None
        state: dict[str, Any] = json.loads(saved)
        return state

    def budget(self, config: BudgetConfig | None = None) -> WriteBudget:
        """The account's budget with its saved state."""
        saved = self.load_budget()
        return WriteBudget.from_dict(saved, config) if saved else WriteBudget(config)

    def _save_budget(self, conn: Any, budget: Mapping[str, Any]) -> None:
        conn.execute(
            update(bluesky_accounts)
            .where(bluesky_accounts.c.id == self.account_id)
            .values(budget=json.dumps(dict(budget)))
        )

    # --- questions ------------------------------------------------------------------------

    def last(self, key_prefix: str = "") -> dict[str, JournaledRecord]:
        """The last journaled write of every key starting with ``key_prefix``."""
        query = (
            select(bluesky_records)
            .where(bluesky_records.c.account_id == self.account_id)
            .order_by(bluesky_records.c.id)
        )
        if key_prefix:
            query = query.where(bluesky_records.c.key.startswith(key_prefix, autoescape=True))
        found: dict[str, JournaledRecord] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                found[row.key] = JournaledRecord(
                    row.key, WriteKind(row.action), row.collection, row.rkey, row.uri, row.cid
                )
        return found

    def forget_open_batches(self) -> int:
        """Drop batches never sent (tests; an operator's last resort). How many."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    delete(bluesky_batches).where(
                        bluesky_batches.c.account_id == self.account_id,
                        bluesky_batches.c.state == "sent",
                    )
                ).rowcount
            )
