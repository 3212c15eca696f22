"""The one "send a piece of work, isolate the refused write" routine of the write path.

``applyWrites`` is all or nothing: one invalid write refuses the whole batch. The writer's
:meth:`~departures.bluesky.writer.Writer.send_isolating` finds the refused write (by the
index the server names, else by halving), sends the others, and answers a refused create the
server holds after all (another process wrote it a moment ago) as a result. The server here
is an in-memory repository (the sandbox tests run the same paths against the real PDS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest

from departures.bluesky.budget import BudgetConfig, WriteBudget
from departures.bluesky.pds import InvalidWrites, Pds, StoredRecord
from departures.bluesky.records import FOLLOW, POST
from departures.bluesky.writer import MemoryJournal, Write, Writer, open_writer, resume_budget

DID = "did:plc:sender"


class Repo:
    """A repository that refuses writes whose subject is in ``bad`` (all or nothing)."""

    def __init__(self, bad: set[str], *, says_index: bool) -> None:
        self.did, self.handle = DID, "sender.test"
        self.bad, self.says_index = bad, says_index
        self.records: dict[str, dict[str, Any]] = {}
        self.calls: list[int] = []  # the size of every applyWrites call
        self.closed = False

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{self.did}/{collection}/{rkey}"

    def apply_writes(self, writes: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        self.calls.append(len(writes))
        for index, write in enumerate(writes):
            if write["value"]["subject"] in self.bad:
                where = index if self.says_index else None
                raise InvalidWrites(f"InvalidRequest: bad subject at $.writes[{index}]", where)
        for write in writes:
            self.records[write["rkey"]] = dict(write["value"])
        return [{"uri": self.uri(w["collection"], w["rkey"]), "cid": "bafy"} for w in writes], {}

    def get_record(self, collection: str, rkey: str) -> StoredRecord | None:
        value = self.records.get(rkey)
        return None if value is None else StoredRecord(self.uri(collection, rkey), "bafy", value)

    def close(self) -> None:
        self.closed = True


def follows(n: int) -> list[Write]:
    return [
        Write.create(
            f"follow:s{i}",
            FOLLOW,
            f"3kfollow{i:05d}",
            {"$type": FOLLOW, "subject": f"s{i}", "createdAt": "2026-01-01T00:00:00.000Z"},
        )
        for i in range(n)
    ]


def writer_on(repo: Repo, journal: MemoryJournal | None = None) -> Writer:
    budget = WriteBudget(BudgetConfig(windows={3600: 10**9}))
    return Writer(cast(Pds, repo), journal or MemoryJournal(), budget, sleep=lambda _s: None)


@pytest.mark.parametrize("says_index", [True, False])
def test_the_refused_write_is_isolated_and_every_other_one_is_written(says_index: bool) -> None:
    repo = Repo({"s3", "s11"}, says_index=says_index)
    sent = writer_on(repo).send_isolating(follows(16), batch_size=8)
    assert sorted(r.write.key for r in sent.refused) == ["follow:s11", "follow:s3"]
    assert all("bad subject" in r.reason for r in sent.refused)
    written = sorted(v["subject"] for v in repo.records.values())
    assert written == sorted(f"s{i}" for i in range(16) if i not in (3, 11))
    assert [r.write.key for r in sent.results] == [
        f"follow:s{i}" for i in range(16) if i not in (3, 11)
    ]
    assert sent.rest == []
    assert max(repo.calls) <= 8


def warmed(repo: Repo) -> Writer:
    """A writer past the budget's first batch of one (sent to read the server's headers)."""
    writer = writer_on(repo)
    writer.send(follows(1))
    repo.records.clear()
    repo.calls.clear()
    return writer


def test_with_the_index_named_the_others_go_in_one_more_call_each_side() -> None:
    repo = Repo({"s2"}, says_index=True)
    warmed(repo).send_isolating(follows(6))
    # the refused batch, then the two before it, then the three after it
    assert repo.calls == [6, 2, 3]


def test_without_an_index_halving_finds_the_refused_write() -> None:
    repo = Repo({"s5"}, says_index=False)
    sent = warmed(repo).send_isolating(follows(8))
    assert [r.write.key for r in sent.refused] == ["follow:s5"]
    assert len(repo.calls) < 8  # not one by one
    assert len(repo.records) == 7


def test_stop_at_refusal_leaves_the_writes_after_it_unsent_in_order() -> None:
    repo = Repo({"s2"}, says_index=True)
    writes = follows(6)
    sent = writer_on(repo).send_isolating(writes, stop_at_refusal=True)
    assert [r.write.key for r in sent.results] == ["follow:s0", "follow:s1"]
    assert [r.write.key for r in sent.refused] == ["follow:s2"]
    assert sent.rest == writes[3:]
    assert sorted(repo.records) == sorted(w.rkey for w in writes[:2])


def test_a_refused_create_the_server_holds_is_a_result_not_a_refusal() -> None:
    repo = Repo(set(), says_index=True)
    writes = follows(3)
    repo.records[writes[1].rkey] = {"subject": "s1"}  # another process wrote it just now
    repo.bad = {"s1"}  # and the server refuses ours
    journal = MemoryJournal()
    sent = writer_on(repo, journal).send_isolating(writes)
    assert sent.refused == []
    assert sorted(r.write.key for r in sent.results) == ["follow:s0", "follow:s1", "follow:s2"]
    assert [r.existed for r in sent.results if r.write.key == "follow:s1"] == [True]
    assert journal.open_batches() == []


def test_open_writer_resumes_the_budget_the_journal_saved_and_reconciles() -> None:
    repo = Repo(set(), says_index=True)
    journal = MemoryJournal()
    first = open_writer(cast(Pds, repo), journal)
    first.send(follows(2))
    saved = journal.load_budget()
    assert saved is not None
    again = open_writer(cast(Pds, repo), journal, BudgetConfig())
    assert again.budget.to_dict() == resume_budget(journal).to_dict() == saved
    # A batch left open (a kill) is settled by reconcile=True: the server has it.
    journal.begin_batch(follows(1))
    open_writer(cast(Pds, repo), journal, reconcile=True)
    assert journal.open_batches() == []


def test_posts_refused_mid_batch_do_not_hide_the_rest() -> None:
    repo = Repo({"p1"}, says_index=False)
    writes = [
        Write.create(
            f"k{i}",
            POST,
            f"3kpost0000{i:03d}",
            {"$type": POST, "text": "x", "subject": f"p{i}", "createdAt": "2026-01-01T00:00Z"},
        )
        for i in range(4)
    ]
    sent = writer_on(repo).send_isolating(writes, stop_at_refusal=True)
    assert [r.write.key for r in sent.results] == ["k0"]
    assert [r.write.key for r in sent.refused] == ["k1"]
    assert sent.rest == writes[2:]
