"""The one write path: exactly once through timeouts, lost answers, kills and 429s.

The server here is an in-memory repository that fails on cue (the sandbox tests run the
same paths against the real PDS); the journal is the real workspace journal on SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

from departures.bluesky.budget import BudgetConfig, WriteBudget, WriteKind
from departures.bluesky.cid import cid_for_record
from departures.bluesky.pds import InvalidWrites, Pds, RateLimited, StoredRecord, Uncertain
from departures.bluesky.records import POST
from departures.bluesky.writer import Write, Writer
from departures.errors import BlueskyError, WorkspaceError
from departures.workspace.db import Workspace
from departures.workspace.journal import WorkspaceJournal

DID = "did:plc:test"


class Repo:
    """A repository that applies writes like a PDS and fails as told in ``script``."""

    def __init__(self) -> None:
        self.did = DID
        self.handle = "test.example"
        self.records: dict[str, dict[str, Any]] = {}
        self.script: list[str] = []  # per applyWrites call: ok, lost, down, 429, invalid
        self.calls = 0
        self.reads_fail = 0

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{self.did}/{collection}/{rkey}"

    def apply_writes(self, writes: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        self.calls += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "429":
            raise RateLimited(
                {
                    "ratelimit-limit": "5000",
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": "2000000000",
                    "ratelimit-policy": "5000;w=3600",
                }
            )
        if step == "invalid":
            raise InvalidWrites("InvalidRequest: bad record at $.writes[1].record.text", 1)
        if step == "down":
            raise Uncertain("InternalServerError (503)")
        for write in writes:  # all or nothing, like the PDS (a duplicate create fails it all)
            if write["$type"].endswith("#create") and write["rkey"] in self.records:
                raise Uncertain("InternalServerError (500)")
        results = []
        for write in writes:
            if write["$type"].endswith("#delete"):
                self.records.pop(write["rkey"], None)
                results.append({})
            else:
                self.records[write["rkey"]] = dict(write["value"])
                results.append(
                    {
                        "uri": self.uri(write["collection"], write["rkey"]),
                        "cid": cid_for_record(write["value"]),
                    }
                )
        if step == "lost":  # applied, but the answer never arrived
            raise Uncertain("ReadTimeout")
        return results, {}

    def get_record(self, collection: str, rkey: str) -> StoredRecord | None:
        if self.reads_fail:
            self.reads_fail -= 1
            raise Uncertain("connection reset")
        value = self.records.get(rkey)
        if value is None:
            return None
        return StoredRecord(self.uri(collection, rkey), cid_for_record(value), value)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.open(tmp_path / "ws")


class Sleeps(list[float]):
    """Sleeps that take no time but move the clock the budget reads."""

    def __init__(self, now: float = 1_999_999_000.0) -> None:
        super().__init__()
        self.now = now

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        self.now += seconds


def writer_for(repo: Repo, workspace: Workspace, sleeps: Sleeps) -> Writer:
    budget = WriteBudget(BudgetConfig(windows={3600: 10**9}), clock=lambda: sleeps.now)
    journal = WorkspaceJournal(workspace, DID)
    return Writer(cast(Pds, repo), journal, budget, sleep=sleeps, backoff=0.01)


def posts(n: int, start: int = 0) -> list[Write]:
    return [
        Write.create(
            f"k{i}",
            POST,
            f"3kabc{i:08d}",
            {"$type": POST, "text": f"post {i}", "createdAt": "2020-01-01T00:00:00.000Z"},
        )
        for i in range(start, start + n)
    ]


def published(workspace: Workspace) -> dict[str, str]:
    return dict(workspace.conn.execute("SELECT key, cid FROM published"))


def test_a_batch_is_journaled_before_and_after_and_recorded(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    writer = writer_for(repo, workspace, sleeps)
    batch = posts(3)
    results = writer.send(batch)
    assert [r.cid for r in results] == [w.expected_cid for w in batch]
    assert published(workspace) == {w.key: w.expected_cid for w in batch}
    assert workspace.conn.execute("SELECT state FROM write_batches").fetchall() == [("done",)]
    assert not writer.cid_mismatches


def test_a_lost_answer_is_reconciled_not_sent_again(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.script = ["lost"]
    writer = writer_for(repo, workspace, sleeps)
    results = writer.send(posts(4))
    assert repo.calls == 1  # found on the server: never sent twice
    assert all(r.existed for r in results) and len(published(workspace)) == 4


def test_a_failure_before_writing_sends_the_batch_again_once(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.script = ["down", "down"]
    writer = writer_for(repo, workspace, sleeps)
    writer.send(posts(4))
    assert repo.calls == 3 and len(repo.records) == 4 and len(sleeps) == 2
    assert len(published(workspace)) == 4


def test_records_already_on_the_server_are_recorded_and_only_the_rest_sent(
    workspace: Workspace,
) -> None:
    repo, sleeps = Repo(), Sleeps()
    writer = writer_for(repo, workspace, sleeps)
    first = posts(2)
    for write in first:  # written by an earlier run whose journal is gone
        repo.records[write.rkey] = dict(write.value or {})
    results = writer.send(posts(5))
    assert sorted(r.write.key for r in results if r.existed) == ["k0", "k1"]
    assert len(repo.records) == 5 and len(published(workspace)) == 5


def test_a_batch_killed_in_flight_is_settled_on_the_next_start(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    journal = WorkspaceJournal(workspace, DID)
    batch = posts(6)
    journal.begin_batch(batch)  # the process died after this, the server got half of it
    for write in batch[:3]:
        repo.records[write.rkey] = dict(write.value or {})
    writer = writer_for(repo, workspace, sleeps)
    settled = writer.reconcile()
    assert sorted(r.write.key for r in settled) == ["k0", "k1", "k2"]
    assert journal.open_batches() == []
    assert sorted(published(workspace)) == ["k0", "k1", "k2"]
    writer.send(batch[3:])
    assert len(repo.records) == 6 and repo.calls == 1


def test_reconcile_waits_out_a_server_that_is_down(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.reads_fail = 2
    WorkspaceJournal(workspace, DID).begin_batch(posts(1))
    writer_for(repo, workspace, sleeps).reconcile()
    assert len(sleeps) == 2


def test_a_server_down_for_good_stops_with_a_resumable_error(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.script = ["down"] * 20
    writer = writer_for(repo, workspace, sleeps)
    with pytest.raises(BlueskyError, match="keeps failing"):
        writer.send(posts(2))
    assert repo.records == {} and published(workspace) == {}
    assert WorkspaceJournal(workspace, DID).open_batches() == []


def test_a_429_waits_for_the_reset_then_sends(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.script = ["429"]
    writer = writer_for(repo, workspace, sleeps)
    writer.budget = WriteBudget(BudgetConfig(), clock=lambda: sleeps.now)
    writer.send(posts(2))
    assert sleeps and sleeps[0] == pytest.approx(1001.0)  # reset + 1 s of clock skew
    states = [s for (s,) in workspace.conn.execute("SELECT state FROM write_batches ORDER BY id")]
    assert states == ["refused", "done"] and len(repo.records) == 2


def test_an_invalid_batch_writes_nothing_and_names_the_write(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    repo.script = ["invalid"]
    writer = writer_for(repo, workspace, sleeps)
    with pytest.raises(InvalidWrites) as caught:
        writer.send(posts(3))
    assert caught.value.index == 1 and repo.records == {} and published(workspace) == {}


def test_undo_deletes_once_even_when_the_answer_is_lost(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    writer = writer_for(repo, workspace, sleeps)
    batch = posts(3)
    writer.send(batch)
    repo.script = ["lost"]
    deletes = [Write.delete(w.key, POST, w.rkey) for w in batch]
    results = writer.send(deletes)
    assert repo.records == {} and all(r.existed for r in results)
    undone = workspace.conn.execute("SELECT count(*) FROM published WHERE deleted_at IS NOT NULL")
    assert undone.fetchone()[0] == 3
    assert repo.calls == 2


def test_the_budget_state_survives_in_the_journal(workspace: Workspace) -> None:
    repo, sleeps = Repo(), Sleeps()
    writer = writer_for(repo, workspace, sleeps)
    writer.send(posts(2))
    saved = WorkspaceJournal(workspace, DID).load_budget()
    assert saved is not None and saved["windows"][0]["ledger"][0][1] == 6


def test_a_full_disk_stops_before_sending(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    repo, sleeps = Repo(), Sleeps()
    writer = writer_for(repo, workspace, sleeps)

    def full(_writes: Sequence[Write]) -> int:
        raise WorkspaceError("The publish journal cannot be written (database or disk is full)")

    monkeypatch.setattr(writer.journal, "begin_batch", full)
    with pytest.raises(WorkspaceError, match="disk is full"):
        writer.send(posts(2))
    assert repo.calls == 0
    del sqlite3


def test_writes_carry_their_kind_and_key() -> None:
    create = posts(1)[0]
    assert create.to_xrpc()["$type"] == "com.atproto.repo.applyWrites#create"
    delete = Write.delete("k", POST, "3kabc")
    assert delete.action is WriteKind.DELETE and "value" not in delete.to_xrpc()


def test_results_of_other_collections_reach_the_table_that_owns_them(
    workspace: Workspace,
) -> None:
    # The registry of result handlers is gone: the workspace journal itself records what a
    # settled follow means for ``audience_follows``, whoever sends or settles the batch.
    with workspace.transaction() as conn:
        conn.execute(
            "INSERT INTO audience_follows (key, did, collection, rkey, planned_at) "
            "VALUES ('follow:did:plc:friend', 'did:plc:friend', 'app.bsky.graph.follow', "
            "'3kfollow00001', '2026-01-01')"
        )
    repo, sleeps = Repo(), Sleeps()
    follow = Write.create(
        "follow:did:plc:friend",
        "app.bsky.graph.follow",
        "3kfollow00001",
        {
            "$type": "app.bsky.graph.follow",
            "subject": "did:plc:friend",
            "createdAt": "2026-01-01T00:00:00.000Z",
        },
    )
    writer_for(repo, workspace, sleeps).send([follow])
    seen = workspace.conn.execute("SELECT key, uri, state FROM audience_follows").fetchall()
    uri = f"at://{DID}/app.bsky.graph.follow/3kfollow00001"
    assert seen == [("follow:did:plc:friend", uri, "done")]
    assert published(workspace) == {}
