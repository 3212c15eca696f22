"""``departures audience`` against the real sandbox: matches found on the AppView, directory
matches, and follows made exactly once (kill -9 and resume), checked with listRecords.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from departures.audience import store
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser, logged_in_user

pytestmark = pytest.mark.sandbox

FOLLOW = "app.bsky.graph.follow"
_B32 = "abcdefghijklmnopqrstuvwxyz234567"


Setup = CliUser


def seed(path: Path, following: list[int], names: dict[int, str]) -> Workspace:
    ws = Workspace.open(path)
    with ws.transaction() as conn:
        conn.execute(
            "INSERT INTO archive_imports (imported_at, archive_path, counts, warnings) "
            "VALUES ('2026-01-01', 'x.zip', '{}', '[]')"
        )
        conn.executemany("INSERT INTO following (account_id) VALUES (?)", [(i,) for i in following])
        conn.executemany(
            "INSERT INTO screen_name_sightings (user_id, screen_name, tweet_id, field) "
            "VALUES (?, ?, 1, 'mention')",
            list(names.items()),
        )
    return ws


def put_profile(sandbox: TestSandbox, account: Account, name: str, bio: str) -> None:
    response = httpx.post(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.putRecord",
        headers={"Authorization": f"Bearer {account.access_jwt}"},
        json={
            "repo": account.did,
            "collection": "app.bsky.actor.profile",
            "rkey": "self",
            "record": {"$type": "app.bsky.actor.profile", "displayName": name, "description": bio},
        },
        timeout=30,
    )
    response.raise_for_status()


@pytest.fixture
def setup(sandbox: TestSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Setup]:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)
    yield logged_in_user(sandbox, tmp_path, "org", Setup)


def fake_did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice(_B32) for _ in range(24))


def test_search_finds_candidates_with_evidence_and_only_proofs_are_accepted(
    setup: Setup,
) -> None:
    box = setup.sandbox
    proven = box.new_account("fairh")
    proven_x = proven.handle.removesuffix(".test")
    put_profile(box, proven, "Fair Harvest", f"Moved from x.com/{proven_x}")
    lookalike = box.new_account("janp")
    lookalike_x = lookalike.handle.removesuffix(".test")
    seed(setup.workspace, [1, 2, 3], {2: lookalike_x, 3: "nobodyhere_xyz"})
    names = setup.workspace.parent / "names.csv"
    names.write_text(f"id,handle,name\n1,{proven_x},Fair Harvest\n", encoding="utf-8")
    assert setup.cli("audience", "import-names", str(names)).returncode == 0
    deadline = time.monotonic() + 30
    while True:  # a fresh profile reaches the AppView's index a moment later
        result = setup.cli("audience", "match", "--appview", box.appview_url)
        assert result.returncode == 0, result.stderr
        ws = Workspace.open(setup.workspace)
        found = {c.x_id: c for c in store.candidates(ws)}
        if (1 in found and found[1].score >= 0.9) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert found[1].did == proven.did and found[1].status == "accepted"
    assert any("x.com/" + proven_x in line for line in found[1].evidence)
    # equal handle alone: proposed, never followed without a person
    assert found[2].did == lookalike.did and found[2].status == "proposed"
    assert 3 not in found
    shown = setup.cli("audience", "review")
    assert lookalike.handle in shown.stdout
    assert setup.cli("audience", "accept", str(found[2].id)).returncode == 0
    follow = setup.cli("audience", "follow", "--no-budget", "--per-hour", "0")
    assert follow.returncode == 0, follow.stderr
    subjects = sorted(r["value"]["subject"] for r in setup.records(FOLLOW))
    assert subjects == sorted([proven.did, lookalike.did])


def test_follow_killed_at_random_moments_then_resumed_follows_each_once(setup: Setup) -> None:
    rng = random.Random(6)
    dids = [fake_did(rng) for _ in range(160)]
    ids = list(range(1000, 1000 + len(dids)))
    seed(setup.workspace, ids, {})
    export = setup.workspace.parent / "directory.json"
    export.write_text(
        json.dumps(
            {
                "entries": [
                    {"x_id": str(i), "did": d, "level": "vouched"}
                    for i, d in zip(ids, dids, strict=True)
                ]
            }
        )
    )
    assert setup.cli("audience", "import-directory", str(export)).returncode == 0
    # Someone already followed one of them by hand: it must not be followed again.
    manual = httpx.post(
        f"{setup.sandbox.pds_url}/xrpc/com.atproto.repo.createRecord",
        headers={"Authorization": f"Bearer {setup.account.access_jwt}"},
        json={
            "repo": setup.account.did,
            "collection": FOLLOW,
            "record": {"$type": FOLLOW, "subject": dids[5], "createdAt": "2026-01-01T00:00:00Z"},
        },
        timeout=30,
    )
    manual.raise_for_status()
    args = ("audience", "follow", "--no-budget", "--per-hour", "0", "--batch", "2")
    kills = 0
    for _ in range(4):
        # Killed once it has followed a random few more: a moment inside the run whatever
        # the machine's speed (a fixed sleep let a fast machine finish before the kill).
        target = len(setup.records(FOLLOW)) + rng.randint(8, 40)
        child = subprocess.Popen(
            setup.argv(*args),
            env=setup.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while child.poll() is None and time.monotonic() < deadline:
            if len(setup.records(FOLLOW)) >= target:
                break
            time.sleep(0.05)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait()
    assert kills >= 2
    final = setup.cli(*args)
    assert final.returncode == 0, final.stderr
    subjects = [r["value"]["subject"] for r in setup.records(FOLLOW)]
    assert len(subjects) == len(set(subjects)), "a subject followed twice"
    assert sorted(subjects) == sorted(dids)
    assert "1 already followed" in final.stdout and "0 pending" in final.stdout


def test_daily_cap_stops_the_run_and_says_when_to_resume(setup: Setup) -> None:
    rng = random.Random(7)
    dids = [fake_did(rng) for _ in range(7)]
    ids = list(range(1, 8))
    seed(setup.workspace, ids, {})
    export = setup.workspace.parent / "directory.json"
    export.write_text(
        json.dumps(
            [{"x_id": i, "did": d, "level": "vouched"} for i, d in zip(ids, dids, strict=True)]
        )
    )
    assert setup.cli("audience", "import-directory", str(export)).returncode == 0
    first = setup.cli("audience", "follow", "--no-budget", "--per-hour", "0", "--daily-cap", "5")
    assert first.returncode == 0, first.stderr
    assert "Daily cap of 5 reached" in first.stdout and "2 pending" in first.stdout
    assert len(setup.records(FOLLOW)) == 5
    again = setup.cli("audience", "follow", "--no-budget", "--per-hour", "0", "--daily-cap", "5")
    assert "Followed 0 now" in again.stdout
    assert len(setup.records(FOLLOW)) == 5


def test_list_mode_adds_matches_to_one_curated_list_once(setup: Setup) -> None:
    rng = random.Random(8)
    dids = [fake_did(rng) for _ in range(4)]
    seed(setup.workspace, [1, 2, 3, 4], {})
    export = setup.workspace.parent / "directory.json"
    export.write_text(
        json.dumps([{"x_id": i + 1, "did": d, "level": "vouched"} for i, d in enumerate(dids)])
    )
    assert setup.cli("audience", "import-directory", str(export)).returncode == 0
    for _ in range(2):
        result = setup.cli("audience", "follow", "--no-budget", "--list", "From X")
        assert result.returncode == 0, result.stderr
    lists = setup.records("app.bsky.graph.list")
    assert [r["value"]["name"] for r in lists] == ["From X"]
    items = setup.records("app.bsky.graph.listitem")
    assert sorted(r["value"]["subject"] for r in items) == sorted(dids)
    assert {r["value"]["list"] for r in items} == {lists[0]["uri"]}
    assert setup.records(FOLLOW) == []
