"""How the publisher turns plan rows into records, and what ``status`` counts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest

from departures.bluesky.pds import Pds
from departures.bluesky.records import POST
from departures.errors import WorkspaceError
from departures.migrate.publish import (
    Blocked,
    PlanRow,
    Publisher,
    budget_config,
    check_account,
    status,
)
from departures.workspace.db import Workspace
from departures.workspace.journal import WorkspaceJournal, published_keys

DID = "did:plc:me"


class NoServer:
    did = DID
    handle = "me.example"

    def uri(self, collection: str, rkey: str) -> str:
        return f"at://{DID}/{collection}/{rkey}"


def row(key: str, **refs: Any) -> PlanRow:
    record = {"$type": POST, "text": key, "createdAt": "2020-01-01T00:00:00.000Z"}
    return PlanRow(
        key, 0, "3kabc", refs.get("root"), refs.get("parent"), refs.get("quote"), record, []
    )


@pytest.fixture
def publisher(tmp_path: Path) -> Publisher:
    return Publisher(Workspace.open(tmp_path / "ws"), cast(Pds, NoServer()))


REFS = {"a": ("at://x/p/a", "cidA"), "b": ("at://x/p/b", "cidB")}


def test_a_reply_gets_root_and_parent_strong_refs(publisher: Publisher) -> None:
    record = publisher.build_record(row("c", root="a", parent="b"), REFS, {})
    assert record["reply"] == {
        "root": {"uri": "at://x/p/a", "cid": "cidA"},
        "parent": {"uri": "at://x/p/b", "cid": "cidB"},
    }


def test_a_quote_becomes_a_record_embed(publisher: Publisher) -> None:
    record = publisher.build_record(row("c", quote="a"), REFS, {})
    assert record["embed"] == {
        "$type": "app.bsky.embed.record",
        "record": {"uri": "at://x/p/a", "cid": "cidA"},
    }


def test_a_reply_to_a_failed_post_is_blocked_with_the_reason(publisher: Publisher) -> None:
    with pytest.raises(Blocked, match="too long"):
        publisher.build_record(row("c", root="z", parent="z"), REFS, {"z": "too long"})
    with pytest.raises(Blocked, match="neither published nor earlier"):
        publisher.build_record(row("c", quote="q"), REFS, {})


def test_one_workspace_publishes_as_one_account(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    check_account(ws, DID)
    check_account(ws, DID)
    with pytest.raises(WorkspaceError, match="publishes as did:plc:me"):
        check_account(ws, "did:plc:someone-else")


def test_status_counts_planned_published_pending_and_failed(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    with ws.transaction() as conn:
        for i, key in enumerate(["1:0", "2:0", "3:0", "4:0"]):
            conn.execute(
                "INSERT INTO plan_posts (key, tweet_id, part, parts, seq, rkey, record, "
                "planned_at) VALUES (?, ?, 0, 1, ?, ?, ?, '2020')",
                (key, i + 1, i, f"3kabc{i}", json.dumps({"text": key})),
            )
        conn.execute(
            "INSERT INTO published (key, uri, cid, published_at) VALUES ('1:0', 'u', 'c', 'now')"
        )
    WorkspaceJournal(ws, DID).fail("2:0", "refused by the server: too long")
    WorkspaceJournal(ws, DID).fail("3:0", "the post it replies to failed", status="blocked")
    state = status(ws).to_json()
    assert (state["planned"], state["published"], state["pending"], state["failed"]) == (
        4,
        1,
        1,
        2,
    )
    assert state["blocked"] == 1 and state["failures"][0]["reason"].startswith("refused")
    assert published_keys(ws.conn) == {"1:0"}
    assert state["eta_seconds"] >= 0


def test_pace_and_margin_shape_the_budget() -> None:
    assert budget_config("gentle").max_writes_per_hour == 500
    assert budget_config(120, 0.1).max_writes_per_hour == 120
    assert budget_config("full", 0.1).safety_margin == 0.1
    assert budget_config(None, unlimited=True).windows[3600] > 10**9


def test_run_without_a_plan_says_to_plan_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from departures.cli import main

    monkeypatch.delenv("DEPARTURES_DEBUG", raising=False)
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "cfg"))
    with pytest.raises(SystemExit) as exited:
        main(["--workspace", str(tmp_path / "ws"), "migrate", "run"])
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "Error: Nothing is planned yet. Run 'departures migrate plan' first.\n"
    )
