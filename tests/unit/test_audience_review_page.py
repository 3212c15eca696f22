"""``store.candidates_page``: pages follow on from each other, every candidate exactly once,
for one status and across all of them (proposed, then accepted, then rejected)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from departures.audience import store
from departures.audience.scoring import Evidence, Match, XSide
from departures.workspace.db import Workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.open(tmp_path / "ws")
    rng = random.Random(4)
    for i in range(230):
        score = rng.choice([0.5, 0.6, 0.95, round(rng.uniform(0.3, 0.99), 2)])  # many ties
        match = Match(score, (Evidence("the handle is the same", 0.5),))
        store.save_match(ws, XSide(i % 90, handle=f"h{i}"), f"did:plc:{i:024d}", f"h{i}", "", match)
    ids = [c.id for c in store.candidates(ws, status="proposed")]
    store.decide(ws, ids[:17], "rejected")
    return ws


@pytest.mark.parametrize("status", ["proposed", "accepted", "rejected", None])
@pytest.mark.parametrize("size", [1, 7, 50])
def test_pages_cover_every_candidate_once_best_first(
    workspace: Workspace, status: str | None, size: int
) -> None:
    seen = []
    offset = 0
    while page := store.candidates_page(workspace, status=status, offset=offset, limit=size):
        assert len(page) <= size
        seen += page
        offset += size
    expected = store.candidates(workspace, status=status)
    assert sorted(c.id for c in seen) == sorted(c.id for c in expected)
    assert len({c.id for c in seen}) == len(seen)
    order = store.REVIEW_ORDER
    keys = [(order.index(c.status), -c.score) for c in seen]
    assert keys == sorted(keys)


def test_a_page_past_the_end_is_empty(workspace: Workspace) -> None:
    assert store.candidates_page(workspace, status=None, offset=10_000) == []
    assert store.candidates_page(workspace, status="accepted", offset=10_000) == []


def test_x_profiles_say_name_handle_and_relation(workspace: Workspace) -> None:
    with workspace.transaction() as conn:
        conn.execute("INSERT INTO following (account_id) VALUES (3)")
        conn.execute("INSERT INTO followers (account_id) VALUES (3)")
        conn.execute(
            "INSERT INTO audience_names (x_id, handle, name, imported_at) "
            "VALUES (3, 'fairh', 'Fair Harvest', 'now')"
        )
    profiles = store.x_profiles(workspace, [3, 4])
    assert profiles[3] == store.XProfile(3, "Fair Harvest", "fairh", ("following", "followers"))
    assert profiles[4] == store.XProfile(4, "", "", ())
    assert store.x_profiles(workspace, []) == {}
