"""Through the CLI: organisations found on Bluesky are mentioned there in the migrated posts.

A small hand-made archive mentions two organisations; the directory knows one, a search
match (accepted by a person) gives the other later. Planning makes Bluesky mention facets
for what is known, re-planning after the new match updates the unpublished posts only, and
the preview shows the mentions as Bluesky mentions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from archive_builders import account_item, mention, snowflake, tweet, write_archive, ytd
from departures.audience import store
from departures.audience.scoring import Evidence, Match, XSide
from departures.cli import cli
from departures.workspace.db import Workspace

BASE_MS = 1_700_000_000_000
OXFAM, GREEN = "2001", "2002"
DID_OXFAM = "did:plc:oxfamoxfamoxfamoxfamoxfa"
DID_GREEN = "did:plc:greengreengreengreengree"
MENTION = "app.bsky.richtext.facet#mention"


def archive(root: Path) -> tuple[Path, list[str]]:
    ids = [snowflake(BASE_MS + i * 60_000) for i in range(3)]
    texts = [
        "Thank you @oxfam_be for the harvest day",
        "With @green_future and @oxfam_be at the market",
        "Great work by @green_future",
    ]
    entities = [
        [mention(texts[0], "oxfam_be", OXFAM)],
        [mention(texts[1], "green_future", GREEN), mention(texts[1], "oxfam_be", OXFAM)],
        [mention(texts[2], "green_future", GREEN)],
    ]
    tweets = [
        tweet(i, text, mentions=found) for i, text, found in zip(ids, texts, entities, strict=True)
    ]
    following = [{"following": {"accountId": x, "userLink": ""}} for x in (OXFAM, GREEN)]
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in tweets]),
        "following.js": ytd("following.part0", following),
    }
    return write_archive(root / "archive", files), ids


def invoke(ws: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def mentions_of(ws_path: Path) -> dict[int, list[tuple[str, str]]]:
    """For each planned tweet: (shown text, DID or X profile URI) of its mentions."""
    ws = Workspace.open(ws_path)
    out: dict[int, list[tuple[str, str]]] = {}
    for tweet_id, record in ws.conn.execute("SELECT tweet_id, record FROM plan_posts"):
        post: dict[str, Any] = orjson.loads(record)
        data = post["text"].encode()
        for facet in post.get("facets", []):
            shown = data[facet["index"]["byteStart"] : facet["index"]["byteEnd"]].decode()
            feature = facet["features"][0]
            if shown.startswith("@"):
                target = feature["did"] if feature["$type"] == MENTION else feature["uri"]
                out.setdefault(int(tweet_id), []).append((shown, target))
    return out


def publish(ws_path: Path, tweet_id: str) -> None:
    """Record a planned post as published (as the publisher does once the server has it)."""
    ws = Workspace.open(ws_path)
    ws.conn.execute(
        "CREATE TABLE IF NOT EXISTS published (key TEXT PRIMARY KEY, uri TEXT NOT NULL, "
        "cid TEXT NOT NULL, published_at TEXT NOT NULL, verified_at TEXT, deleted_at TEXT)"
    )
    ws.conn.execute(
        "INSERT INTO published (key, uri, cid, published_at) VALUES (?, ?, 'bafy', '2026')",
        (f"{tweet_id}:0", f"at://did:plc:me/app.bsky.feed.post/{tweet_id}"),
    )


def test_found_accounts_become_bluesky_mentions_and_replanning_updates_unpublished_posts(
    tmp_path: Path,
) -> None:
    folder, ids = archive(tmp_path)
    ws = tmp_path / "ws"
    invoke(ws, "archive", "import", str(folder))
    directory = tmp_path / "directory.json"
    directory.write_text(
        json.dumps({"entries": [{"x_id": OXFAM, "did": DID_OXFAM, "level": "vouched"}]})
    )
    invoke(ws, "audience", "import-directory", str(directory))

    planned = invoke(ws, "migrate", "plan")
    assert "2 point to Bluesky accounts, 2 link to the X profile" in planned.output
    first = mentions_of(ws)
    assert first[int(ids[0])] == [("@oxfam_be", DID_OXFAM)]
    assert first[int(ids[1])] == [
        ("@green_future", "https://x.com/green_future"),
        ("@oxfam_be", DID_OXFAM),
    ]
    publish(ws, ids[2])  # published while @green_future still linked to X

    # Later a search finds @green_future; a person accepts it.
    workspace = Workspace.open(ws)
    evidence = Match(0.6, (Evidence("same handle", 0.5),))
    store.save_match(
        workspace, XSide(int(GREEN), "green_future"), DID_GREEN, "g.test", "", evidence
    )
    (candidate,) = store.candidates(workspace, status="proposed")
    invoke(ws, "audience", "accept", str(candidate.id))

    again = invoke(ws, "migrate", "plan", "--json")
    summary = json.loads(again.output)
    assert (summary["bluesky_mentions"], summary["x_profile_mentions"]) == (3, 1)
    second = mentions_of(ws)
    assert second[int(ids[1])] == [("@green_future", DID_GREEN), ("@oxfam_be", DID_OXFAM)]
    # The published post stays exactly as it is on Bluesky.
    assert second[int(ids[2])] == [("@green_future", "https://x.com/green_future")]

    preview = tmp_path / "preview.html"
    invoke(ws, "migrate", "preview", "--out", str(preview))
    page = preview.read_text(encoding="utf-8")
    assert f"class='mention' href='https://bsky.app/profile/{DID_GREEN}'>@green_future" in page
    assert f"https://bsky.app/profile/{DID_OXFAM}" in page
