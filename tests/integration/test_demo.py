"""``make demo`` end to end: the demo runs on a network of its own and leaves behind a migrated
organisation, a departed coalition whose welcome posts, list and starter pack exist, and a board
that says so; the partners it found again on Bluesky are followed, the stranger is not.
The demo's ``sandbox up`` cannot see the session fixture's network (its state
lives in the test's temporary directory), so the demo starts one on free ports and the test
stops it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from departures.coalition.board import board_json, load_board
from departures.coalition.db import connect
from departures.coalition.store import CoalitionStore
from departures.demo_coalition import MEMBERS
from departures.sandbox import Sandbox
from departures.sandbox.pytest_plugin import free_base_port
from helpers.waiting import poll

pytestmark = [pytest.mark.sandbox, pytest.mark.timeout(600)]


def xrpc(url: str, nsid: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/xrpc/{nsid}", params=params, timeout=30)
    response.raise_for_status()
    content: dict[str, Any] = response.json()
    return content


def eventually(check: Any, seconds: float = 30.0) -> Any:
    return poll(check, seconds, interval=0.5)


def test_the_demo_migrates_and_runs_a_coalition_to_its_departure(tmp_path: Path) -> None:
    base = free_base_port()
    demo_dir = tmp_path / "demo"
    env = {
        **os.environ,
        "DEPARTURES_CONFIG_DIR": str(tmp_path / "config"),
        "DEPARTURES_DEMO_NO_SERVE": "1",
        "DEPARTURES_DEBUG": "",
    }
    box = Sandbox(base)
    try:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "departures.demo", "--dir", str(demo_dir), "--ports", str(base)],
            capture_output=True,
            text=True,
            timeout=480,
            env=env,
        )
        took = time.monotonic() - started
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "/campaigns/leave-x-together" in result.stdout
        assert "skipping it" not in result.stdout  # the audience step ran
        print(f"the demo took {took:.0f} s")

        status = subprocess.run(
            [sys.executable, "-m", "departures.cli", "--workspace", str(demo_dir / "workspace"),
             "migrate", "status", "--json"],
            capture_output=True, text=True, timeout=60, env=env, check=True,
        )  # fmt: skip
        counts = json.loads(status.stdout)
        assert counts["planned"] > 0
        assert counts["published"] == counts["planned"]

        organisation = re.search(r"Created (\S+) \((did:plc:[a-z0-9]+)\)", result.stdout)
        assert organisation, result.stdout[:3000]
        follows = xrpc(
            box.pds_url,
            "com.atproto.repo.listRecords",
            repo=organisation.group(2),
            collection="app.bsky.graph.follow",
        )["records"]
        partners = {
            xrpc(box.pds_url, "com.atproto.identity.resolveHandle", handle=handle)["did"]
            for handle in ("seedcommonsnet.test", "riverdeltacoop.test")
        }
        stranger = xrpc(
            box.pds_url, "com.atproto.identity.resolveHandle", handle="greenledgerngo.test"
        )["did"]
        followed = [f["value"]["subject"] for f in follows]
        assert sorted(followed) == sorted(partners)  # once each; never the stranger
        assert stranger not in followed

        engine = connect(f"sqlite:///{demo_dir / 'coalition.db'}")
        try:
            store = CoalitionStore(engine)
            board = board_json(load_board(store, "leave-x-together"))
        finally:
            engine.dispose()
        assert board["state"] == "departed"
        assert board["going"] == 3
        organisations = board["organisations"]
        assert len(organisations) == 3
        assert all(org["landed_at"] for org in organisations)
        assert sorted(org["min_others"] for org in organisations) == [0, 0, 2]

        welcome = {member.name: member.welcome for member in MEMBERS}
        for org in organisations:
            posts = xrpc(
                box.pds_url,
                "com.atproto.repo.listRecords",
                repo=org["bluesky_did"],
                collection="app.bsky.feed.post",
            )["records"]
            assert [p["value"]["text"] for p in posts] == [welcome[org["name"]]]

        pack_uri = board["starter_pack_url"]
        assert pack_uri and pack_uri.startswith("at://")
        pack = eventually(
            lambda: xrpc(box.appview_url, "app.bsky.graph.getStarterPack", starterPack=pack_uri)
        )["starterPack"]
        members = {org["bluesky_did"] for org in organisations}

        def listed() -> bool:
            found = xrpc(box.appview_url, "app.bsky.graph.getList", list=pack["list"]["uri"])
            return {item["subject"]["did"] for item in found["items"]} == members

        assert eventually(listed)
    finally:
        box.down()
    assert not Sandbox(base).status().running
