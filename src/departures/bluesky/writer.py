"""The one write path: journaled, budgeted, exactly-once batches of repo writes.

Every write the project makes to Bluesky — migrated posts, follows, list items, starter
packs, departure-day posts, undo deletions — goes through :class:`Writer`:

1. it waits until the :class:`~departures.bluesky.budget.WriteBudget` lets the batch go;
2. it journals the batch as *sent* in the owning database **before** sending (the
   :class:`Journal` protocol: the workspace for a migration, the coalition store for the
   coalition's writes);
3. it sends one ``com.atproto.repo.applyWrites`` (at most 200 writes, all or nothing);
4. it journals the result (uri and cid per write) and the budget's state.

Exactly once rests on record keys chosen by the caller (deterministic, derived from the
source) and on reconciliation: a batch journaled as sent but without a result (a kill, a
crash, a timeout, a 5xx, a dropped connection) is settled by asking the server which of its
records exist; those are recorded as they are, never written again, and only the missing
ones are sent again. A create the server refuses because the key exists (the reference PDS
answers 500) is settled the same way.

Opening one for a piece of work: :func:`open_writer` (the budget resumes from the state the
journal saved). Sending a piece of work's writes: :meth:`Writer.send_isolating` sends them
in batches and, when the server refuses one write (``applyWrites`` is all or nothing),
isolates it (by the index the server names, else by halving the batch) so the others still
go; the caller records the refused one as failed. See ``ARCHITECTURE.md``, "How to add a new
kind of Bluesky write".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from departures.bluesky.budget import MAX_BATCH, BudgetConfig, WriteBudget, WriteKind
from departures.bluesky.cid import cid_for_record
from departures.bluesky.pds import InvalidWrites, Pds, RateLimited, Uncertain
from departures.errors import BlueskyError

__all__ = [
    "InvalidWrites",
    "Journal",
    "MemoryJournal",
    "Refused",
    "Sent",
    "Write",
    "WriteResult",
    "Writer",
    "open_writer",
    "resume_budget",
]

_XRPC_TYPE = {
    WriteKind.CREATE: "com.atproto.repo.applyWrites#create",
    WriteKind.UPDATE: "com.atproto.repo.applyWrites#update",
    WriteKind.DELETE: "com.atproto.repo.applyWrites#delete",
}


@dataclass(frozen=True)
class Write:
    """One repo write. ``key`` is the owner's name for it (a plan key, a follow's id...)."""

    key: str
    action: WriteKind
    collection: str
    rkey: str
    value: Mapping[str, Any] | None = field(default=None, compare=False)
    expected_cid: str | None = None

    @classmethod
    def create(cls, key: str, collection: str, rkey: str, value: Mapping[str, Any]) -> Write:
        """A create with its CID computed locally (what the server will answer)."""
        return cls(key, WriteKind.CREATE, collection, rkey, value, cid_for_record(value))

    @classmethod
    def update(cls, key: str, collection: str, rkey: str, value: Mapping[str, Any]) -> Write:
        """An update (a whole new value) with its CID computed locally.

        Exactly once like a create: reconciliation counts it done only when the server
        holds a record with exactly this CID (see :meth:`Writer.check`).
        """
        return cls(key, WriteKind.UPDATE, collection, rkey, value, cid_for_record(value))

    @classmethod
    def delete(cls, key: str, collection: str, rkey: str) -> Write:
        """A delete."""
        return cls(key, WriteKind.DELETE, collection, rkey)

    def to_xrpc(self) -> dict[str, Any]:
        """The write as ``applyWrites`` takes it."""
        body: dict[str, Any] = {
            "$type": _XRPC_TYPE[self.action],
            "collection": self.collection,
            "rkey": self.rkey,
        }
        if self.action is not WriteKind.DELETE:
            body["value"] = dict(self.value or {})
        return body


@dataclass(frozen=True)
class WriteResult:
    """What a write became on the server. ``existed``: found by reconciliation."""

    write: Write
    uri: str
    cid: str | None
    existed: bool = False


class Journal(Protocol):
    """Where the writer records batches before and after sending them."""

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Record the intent to send ``writes`` (durably) and return the batch's id."""
        ...

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """Record what the batch's writes became (only those in ``results`` happened)."""
        ...

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """Record that the server refused the batch: none of its writes happened."""
        ...

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches begun but neither finished nor abandoned (values need not be kept)."""
        ...

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state saved by the last finish/abandon, if any."""
        ...


@dataclass(frozen=True)
class Refused:
    """A write the server refused as invalid (alone: the writes around it were sent)."""

    write: Write
    reason: str


@dataclass
class Sent:
    """What :meth:`Writer.send_isolating` did with a piece of work's writes.

    ``results``: what the sent writes became, in order; ``refused``: the writes the server
    refused; ``rest``: the writes not sent because an earlier one was refused and the
    caller asked to stop there (``stop_at_refusal``), in order.
    """

    results: list[WriteResult] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    rest: list[Write] = field(default_factory=list)


class MemoryJournal:
    """A :class:`Journal` kept in memory, for an owner without a database (a demo's fixtures).

    It forgets everything when the process ends, so it is only for writes with fixed record
    keys (a profile's ``self``): after a crash the server's refusal of the second create is
    what settles them (see the module docstring).
    """

    def __init__(self) -> None:
        self._open: dict[int, list[Write]] = {}
        self._budget: Mapping[str, Any] | None = None
        self._next = 1

    def begin_batch(self, writes: Sequence[Write]) -> int:
        """Remember the batch as sent."""
        batch_id, self._next = self._next, self._next + 1
        self._open[batch_id] = list(writes)
        return batch_id

    def finish_batch(
        self, batch_id: int, results: Sequence[WriteResult], budget: Mapping[str, Any]
    ) -> None:
        """The batch is settled."""
        self._open.pop(batch_id, None)
        self._budget = dict(budget)

    def abandon_batch(self, batch_id: int, reason: str, budget: Mapping[str, Any]) -> None:
        """The batch was refused."""
        self.finish_batch(batch_id, [], budget)

    def open_batches(self) -> list[tuple[int, list[Write]]]:
        """Batches sent without a result in this process."""
        return [(batch_id, list(writes)) for batch_id, writes in self._open.items()]

    def load_budget(self) -> Mapping[str, Any] | None:
        """The budget state of the last settled batch."""
        return self._budget


def counts(writes: Sequence[Write]) -> tuple[int, int, int]:
    """(creates, updates, deletes) of a batch, as the budget prices them."""
    c = sum(1 for w in writes if w.action is WriteKind.CREATE)
    u = sum(1 for w in writes if w.action is WriteKind.UPDATE)
    return c, u, len(writes) - c - u


Notify = Callable[[str], None]


class Writer:
    """Sends batches of writes exactly once, within the budget (see the module docstring)."""

    def __init__(
        self,
        pds: Pds,
        journal: Journal,
        budget: WriteBudget,
        *,
        sleep: Callable[[float], None] = time.sleep,
        notify: Notify | None = None,
        max_attempts: int = 8,
        backoff: float = 1.0,
    ) -> None:
        self.pds = pds
        self.journal = journal
        self.budget = budget
        self._sleep = sleep
        self._notify = notify or (lambda _message: None)
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.cid_mismatches: list[WriteResult] = []

    # --- the budget ----------------------------------------------------------------------

    def capacity(self, kind: WriteKind = WriteKind.CREATE) -> int:
        """How many writes of ``kind`` the next batch may hold, waiting until it is at least 1."""
        while True:
            n = self.budget.how_many_now(kind)
            if n > 0:
                return min(n, MAX_BATCH)
            c, u, d = (1, 0, 0) if kind is WriteKind.CREATE else (0, 0, 1)
            if kind is WriteKind.UPDATE:
                c, u, d = 0, 1, 0
            self._wait(self.budget.reserve(c, u, d) or 1.0)

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self._notify(f"waiting {seconds:.0f}s for the write budget")
        self._sleep(seconds)

    def _wait_for(self, writes: Sequence[Write]) -> None:
        while True:
            wait = self.budget.reserve(*counts(writes))
            if wait <= 0:
                return
            self._wait(wait)

    # --- reconciliation ------------------------------------------------------------------

    def check(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Which of ``writes`` the server shows as done (created records, deleted keys)."""
        done: list[WriteResult] = []
        for write in writes:
            found = self.pds.get_record(write.collection, write.rkey)
            uri = self.pds.uri(write.collection, write.rkey)
            if write.action is WriteKind.DELETE:
                if found is None:
                    done.append(WriteResult(write, uri, None, existed=True))
            elif write.action is WriteKind.UPDATE:
                # The record existed before: only its new content says the update happened.
                if found is not None and found.cid == write.expected_cid:
                    done.append(WriteResult(write, found.uri, found.cid, existed=True))
            elif found is not None:
                done.append(WriteResult(write, found.uri, found.cid, existed=True))
        return done

    def _check_patiently(self, writes: Sequence[Write]) -> list[WriteResult]:
        for attempt in range(self.max_attempts):
            try:
                return self.check(writes)
            except Uncertain as exc:
                if attempt + 1 == self.max_attempts:
                    raise _unavailable(self.pds, str(exc)) from exc
                self._retry_pause(attempt, str(exc))
        raise AssertionError("unreachable")

    def reconcile(self) -> list[WriteResult]:
        """Settle every batch journaled as sent without a result; what the server holds."""
        settled: list[WriteResult] = []
        for batch_id, writes in self.journal.open_batches():
            done = self._check_patiently(writes)
            self.journal.finish_batch(batch_id, done, self.budget.to_dict())
            settled.extend(done)
        return settled

    def _retry_pause(self, attempt: int, reason: str) -> None:
        pause = min(60.0, self.backoff * (2**attempt))
        self._notify(f"the server failed ({reason}); trying again in {pause:.0f}s")
        self._sleep(pause)

    # --- sending -------------------------------------------------------------------------

    def send(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Send ``writes`` (at most 200) exactly once and return what each became.

        Raises :class:`InvalidWrites` when the server refuses the batch as invalid (nothing
        was written; ``index`` names the bad write when the server said which), and
        :class:`~departures.errors.BlueskyError` when the server stays unavailable or the
        session expired.
        """
        if len(writes) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} writes")
        pending = list(writes)
        results: list[WriteResult] = []
        failures = 0
        while pending:
            # Ctrl-C or a kill from here on leaves the batch open in the journal: the next
            # run reconciles it with the server.
            self._wait_for(pending)
            batch_id = self.journal.begin_batch(pending)
            try:
                raw, headers = self.pds.apply_writes([w.to_xrpc() for w in pending])
            except RateLimited as exc:
                c, u, d = counts(pending)
                wait = self.budget.on_429(exc.headers, n_creates=c, n_updates=u, n_deletes=d)
                self.journal.abandon_batch(batch_id, "rate limited (429)", self.budget.to_dict())
                self._notify(f"rate limited by the server: waiting {wait:.0f}s for its reset")
                self._sleep(wait)
                continue
            except InvalidWrites as exc:
                # The rate limiter counted the request before the handler refused it.
                self.budget.commit(*counts(pending))
                self.journal.abandon_batch(batch_id, exc.message, self.budget.to_dict())
                raise
            except Uncertain as exc:
                done = self._check_patiently(pending)
                self.budget.commit(*counts([r.write for r in done]))
                self.journal.finish_batch(batch_id, done, self.budget.to_dict())
                results.extend(done)
                settled = {r.write.rkey for r in done}
                pending = [w for w in pending if w.rkey not in settled]
                if pending:
                    failures += 1
                    if failures >= self.max_attempts:
                        raise _unavailable(self.pds, str(exc)) from exc
                    self._retry_pause(failures - 1, str(exc))
                continue
            sent = self._results(pending, raw)
            self.budget.commit(*counts(pending), headers=headers)
            self.journal.finish_batch(batch_id, sent, self.budget.to_dict())
            results.extend(sent)
            pending = []
        return results

    def send_isolating(
        self,
        writes: Sequence[Write],
        *,
        batch_size: int = MAX_BATCH,
        stop_at_refusal: bool = False,
    ) -> Sent:
        """Send ``writes`` in order, in batches, isolating the writes the server refuses.

        ``applyWrites`` is all or nothing: when the server refuses a batch, the refused write
        is found by the index the server names, else by halving the batch, and the writes
        around it are sent again without it. A refused create the server holds after all
        (written a moment ago by another process) is a result (``existed``), not refused.

        ``stop_at_refusal``: return at the first refused write, leaving the writes after it
        unsent in ``rest`` (for writes that refer to earlier ones, such as a thread's posts:
        the caller rebuilds them). Batches hold at most ``batch_size`` writes and no more than
        the budget lets go at once (the writer waits for the rest). Other errors propagate.
        """
        sent = Sent()
        pending = list(writes)
        while pending:
            kind = pending[0].action
            size = max(1, min(batch_size, MAX_BATCH, self.capacity(kind)))
            chunk, pending = pending[:size], pending[size:]
            unsent = self._isolate(chunk, sent, stop_at_refusal)
            if stop_at_refusal and sent.refused:
                sent.rest = [*unsent, *pending]
                return sent
        return sent

    def _isolate(self, chunk: list[Write], sent: Sent, stop: bool) -> list[Write]:
        """Send ``chunk``, isolating refused writes; with ``stop``, what is left unsent after
        the first refusal (``sent.refused`` then holds it)."""
        try:
            sent.results.extend(self.send(chunk))
            return []
        except InvalidWrites as exc:
            index = exc.index if exc.index is not None and exc.index < len(chunk) else None
            if index is None and len(chunk) > 1:
                # The server did not say which one: halve until it is alone.
                half = len(chunk) // 2
                unsent = self._isolate(chunk[:half], sent, stop)
                if stop and sent.refused:
                    return [*unsent, *chunk[half:]]
                return self._isolate(chunk[half:], sent, stop)
            index = index or 0
            if index:  # the writes before it were not written either: send them alone
                unsent = self._isolate(chunk[:index], sent, stop)
                if stop and sent.refused:
                    return [*unsent, *chunk[index:]]
            bad = chunk[index]
            found = self.settle([bad]) if bad.action is not WriteKind.DELETE else []
            if found:
                sent.results.extend(found)
            else:
                sent.refused.append(Refused(bad, exc.message))
                if stop:
                    return chunk[index + 1 :]
            after = chunk[index + 1 :]
            return self._isolate(after, sent, stop) if after else []

    def settle(self, writes: Sequence[Write]) -> list[WriteResult]:
        """Journal what the server already holds of ``writes`` (found, never written)."""
        batch_id = self.journal.begin_batch(writes)
        done = self._check_patiently(writes)
        self.journal.finish_batch(batch_id, done, self.budget.to_dict())
        return done

    def _results(self, writes: Sequence[Write], raw: Sequence[Any]) -> list[WriteResult]:
        out: list[WriteResult] = []
        for index, write in enumerate(writes):
            item = raw[index] if index < len(raw) and isinstance(raw[index], dict) else {}
            uri = str(item.get("uri") or self.pds.uri(write.collection, write.rkey))
            cid = item.get("cid")
            if write.action is not WriteKind.DELETE and cid is None:
                cid = write.expected_cid  # an old PDS without per-write results
            result = WriteResult(write, uri, None if cid is None else str(cid))
            if write.expected_cid and result.cid and result.cid != write.expected_cid:
                self.cid_mismatches.append(result)
            out.append(result)
        return out


def resume_budget(journal: Journal, config: BudgetConfig | None = None) -> WriteBudget:
    """The account's budget with the state its journal saved with the last batch."""
    saved = journal.load_budget()
    return WriteBudget.from_dict(saved, config) if saved else WriteBudget(config)


def open_writer(
    pds: Pds,
    journal: Journal,
    config: BudgetConfig | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    notify: Notify | None = None,
    max_attempts: int = 8,
    reconcile: bool = False,
) -> Writer:
    """The one way to open a writer for a piece of work (see the module docstring).

    The journal is the owner's (the workspace's, the coalition store's); the budget resumes
    from the state it saved. ``sleep`` is every wait of the writer (the budget, a 429's
    reset, retries): a caller that must not wait long raises from it. ``reconcile`` settles
    the journal's open batches with the server before returning (the pds is closed if that
    fails).
    """
    writer = Writer(
        pds,
        journal,
        resume_budget(journal, config),
        sleep=sleep,
        notify=notify,
        max_attempts=max_attempts,
    )
    if reconcile:
        try:
            writer.reconcile()
        except BaseException:
            pds.close()
            raise
    return writer


def _unavailable(pds: Pds, reason: str) -> BlueskyError:
    return BlueskyError(
        f"The server of {pds.handle} keeps failing ({reason})",
        "Everything sent so far is recorded; run the command again later to resume",
    )
