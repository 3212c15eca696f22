"""The desk's reply and quote controls in a real headless Chromium against the sandbox, in Dutch.

``departures desk`` runs as its own process. The browser connects the organisation's account
and publishes a small plan (no controls chosen yet: no gate is written); then, on the page
"Who may reply and quote", it is refused an invalid list address (one message, nothing
changed), chooses "only our followers" and no quotes: a background job writes a thread gate
and a post gate for every published post, exactly once, and the AppView reads them back (the
thread's ``threadgate``; another account's quote shown detached). The choice is changed once
more (nobody may reply, quotes allowed): the thread gates are updated, the post gates deleted,
and the AppView follows (a new quote is shown as one). A post published later gets the last
choice from publishing itself. Every page is checked for named, labelled controls;
screenshots go to ``test-artifacts/desk``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client, models

from departures.desk import background
from departures.migrate.gates import GateChoice, stored_choice
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.plans import simple_plan, write_plan
from helpers.ports import free_port
from helpers.waiting import poll, thread_post
from helpers.web import goto_settled

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desk"
LANGUAGE = "nl"
UNNAMED = re.compile(r"^\s*- (textbox|checkbox|button|combobox|radio|link)\s*(\[|$)", re.M)
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"


class DeskProcess:
    """``departures --workspace WS desk --no-browser`` as a child process."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.workspace, self.env, self.port = workspace, env, free_port()
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        argv = [sys.executable, "-m", "departures.cli", "--workspace", str(self.workspace)]
        argv += ["desk", "--no-browser", "--port", str(self.port)]
        self.process = subprocess.Popen(
            argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/login\?token=\S+)", line)
        assert match, f"the desk did not say where it is: {line!r}"
        threading.Thread(target=_drain, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.base}/static/desk.css", timeout=2)
                return match.group(1)
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("the desk did not answer")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def _drain(stream: Any) -> None:
    with stream:
        stream.read()


@pytest.fixture
def prepared(
    sandbox: TestSandbox, tmp_path: Path
) -> Iterator[tuple[Path, Account, dict[str, str]]]:
    """A workspace with a plan of three posts; the organisation's sandbox account."""
    workspace_dir = tmp_path / "ws"
    workspace = Workspace.open(workspace_dir)
    write_plan(workspace, simple_plan(3))
    workspace.close()
    org = sandbox.new_account("gatesorg")
    env = {
        **os.environ,
        "DEPARTURES_CONFIG_DIR": str(tmp_path / "config"),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
        "DEPARTURES_SANDBOX_PORTS": str(sandbox.base_port),
        "DEPARTURES_SANDBOX_STATE": str(sandbox.box.network.state_dir),
        "DEPARTURES_DEBUG": "",
    }
    yield workspace_dir, org, env


def _shot(page: Any, step: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{LANGUAGE}-5-gates-{step}.png"), full_page=True)


def _check_accessible(page: Any) -> None:
    tree = page.locator("main").aria_snapshot()
    assert not UNNAMED.findall(tree), f"controls without a name on {page.url}:\n{tree}"
    orphans = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
             .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
    )
    assert orphans == [], f"unlabelled controls on {page.url}: {orphans}"


def _records(sandbox: TestSandbox, did: str, collection: str) -> dict[str, dict[str, Any]]:
    page = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.listRecords",
        params={"repo": did, "collection": collection, "limit": 100},
        timeout=30,
    ).json()
    return {r["uri"].rsplit("/", 1)[-1]: r for r in page["records"]}


def _appview(sandbox: TestSandbox, nsid: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.appview_url}/xrpc/{nsid}", params=params, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def _gate_shown(sandbox: TestSandbox, uri: str) -> dict[str, Any] | None:
    found = (thread_post(sandbox.appview_url, uri) or {}).get("threadgate")
    return dict(found["record"]) if found else None


def _quote_embed(sandbox: TestSandbox, quote: str) -> str:
    posts = _appview(sandbox, "app.bsky.feed.getPosts", uris=[quote])["posts"]
    return str(posts[0]["embed"]["record"]["$type"]) if posts else ""


def _quote(client: Client, post: dict[str, Any]) -> str:
    return str(
        client.send_post(
            text="Look at this",
            embed=models.AppBskyEmbedRecord.Main(
                record=models.ComAtprotoRepoStrongRef.Main(uri=post["uri"], cid=post["cid"])
            ),
        ).uri
    )


def _published(workspace_dir: Path) -> dict[str, str]:
    workspace = Workspace.open(workspace_dir)
    try:
        return dict(workspace.conn.execute("SELECT key, uri FROM published").fetchall())
    finally:
        workspace.close()


def _publish(page: Any, desk: DeskProcess, workspace_dir: Path) -> background.JobStatus:
    goto_settled(page, desk.base + "/publish")
    page.check("#no_budget")
    page.locator("form[action='/publish/start'] button").click()
    status = background.wait(workspace_dir, "publish", timeout=180)
    assert status.state == background.DONE, status.message
    return status


def _choose(page: Any, desk: DeskProcess, replies: str, rules: list[str], quotes: str) -> None:
    """Save a choice on the page; back once the job it starts has started."""
    before = background.read(desk.workspace, "gates").started_at
    goto_settled(page, desk.base + "/publish/gates")
    page.check(f"#replies-{replies}")
    for rule in ("mentioned", "followers", "following"):
        page.set_checked(f"#rule-{rule}", rule in rules)
    page.fill("#list_uri", "")
    page.check(f"#quotes-{quotes}")
    page.locator("form[action='/publish/gates'] button").click()
    started = poll(lambda: background.read(desk.workspace, "gates").started_at != before)
    assert started, "saving the choice started no job"


def test_reply_and_quote_controls_written_changed_and_read_back_in_the_browser(
    browser: Any, sandbox: TestSandbox, prepared: tuple[Path, Account, dict[str, str]]
) -> None:
    workspace_dir, org, env = prepared
    desk = DeskProcess(workspace_dir, env)
    url = desk.start()
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="nl-BE",
        extra_http_headers={"Accept-Language": "nl-BE,nl;q=0.9"},
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        assert page.locator("html").get_attribute("lang") == LANGUAGE
        # Connect and publish, with no controls chosen: no gate is written.
        goto_settled(page, desk.base + "/publish")
        page.fill("#handle", org.handle)
        page.fill("#password", org.app_password)
        page.fill("#service", sandbox.pds_url)
        page.locator("form[action='/publish/connect'] button").click()
        page.locator("form[action='/publish/disconnect']").wait_for()
        _publish(page, desk, workspace_dir)
        published = _published(workspace_dir)
        assert len(published) == 3
        assert _records(sandbox, org.did, THREADGATE) == {}
        assert _records(sandbox, org.did, POSTGATE) == {}

        # The page, reached from the publishing page, in Dutch.
        goto_settled(page, desk.base + "/publish")
        page.locator("a[href='/publish/gates']").click()
        page.wait_for_url("**/publish/gates")
        assert page.locator("h1").inner_text() == "Wie mag reageren en citeren"
        assert "Iedereen mag reageren." in page.locator("#gates-choice").inner_text()
        _check_accessible(page)
        _shot(page, "1-everybody")

        # Bad input: an address that is no list's. One message, nothing stored or written.
        page.check("#replies-some")
        page.check("#rule-followers")
        page.fill("#list_uri", "https://bsky.app/profile/x/lists/1")
        page.locator("form[action='/publish/gates'] button").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert page.locator("[role=alert]").count() == 1
        assert "Traceback" not in page.content()
        assert page.locator("#list_uri").input_value() == "https://bsky.app/profile/x/lists/1"
        assert page.is_checked("#replies-some") and page.is_checked("#rule-followers")
        _shot(page, "2-bad-list")
        workspace = Workspace.open(workspace_dir)
        assert stored_choice(workspace) is None
        workspace.close()
        assert background.read(workspace_dir, "gates").state == background.IDLE

        # Only followers may reply, nobody may quote: a background job writes the gates.
        _choose(page, desk, "some", ["followers"], "refused")
        done = background.wait(workspace_dir, "gates", timeout=120)
        assert done.state == background.DONE, done.message
        assert done.result["written"] == 6 and done.result["unchanged"] == 0
        goto_settled(page, desk.base + "/publish/gates")
        page.locator("#gates-done").wait_for()
        assert "6 records op Bluesky geschreven" in page.locator("#gates-done").inner_text()
        assert "Citeren is niet toegestaan." in page.locator("#gates-choice").inner_text()
        _check_accessible(page)
        _shot(page, "3-followers-no-quotes")
        rkeys = {uri.rsplit("/", 1)[-1] for uri in published.values()}
        threadgates = _records(sandbox, org.did, THREADGATE)
        assert set(threadgates) == set(_records(sandbox, org.did, POSTGATE)) == rkeys
        followers = [{"$type": f"{THREADGATE}#followerRule"}]
        root = sorted(published.values())[0]
        shown = poll(lambda: _gate_shown(sandbox, root), seconds=60)
        assert shown is not None and shown["allow"] == followers
        # Another account quotes the post: the AppView shows the quote detached.
        post = _appview(sandbox, "app.bsky.feed.getPosts", uris=[root])["posts"][0]
        quoter = sandbox.new_account("quoter")
        client = Client(base_url=f"{sandbox.pds_url}/xrpc")
        client.login(quoter.handle, quoter.app_password)
        quote = _quote(client, post)
        detached = "app.bsky.embed.record#viewDetached"
        assert poll(lambda: _quote_embed(sandbox, quote) == detached, seconds=60)

        # Changed once more: nobody may reply, quotes allowed. Thread gates updated, post
        # gates deleted, exactly once; the AppView follows.
        _choose(page, desk, "nobody", [], "allowed")
        again = background.wait(workspace_dir, "gates", timeout=120)
        assert again.state == background.DONE, again.message
        assert again.result["written"] == 6
        updated = _records(sandbox, org.did, THREADGATE)
        assert {r["value"]["allow"] == [] for r in updated.values()} == {True}
        assert all(updated[k]["cid"] != threadgates[k]["cid"] for k in rkeys)
        assert _records(sandbox, org.did, POSTGATE) == {}
        assert poll(lambda: (_gate_shown(sandbox, root) or {}).get("allow") == [], seconds=60)
        # A quote made now is shown as a quote (the AppView judged the earlier one when it
        # indexed it, under the gate of that moment: it stays detached).
        fresh = _quote(client, post)
        client.request.close()
        shown_quote = poll(
            lambda: _quote_embed(sandbox, fresh) == "app.bsky.embed.record#viewRecord",
            seconds=60,
        )
        assert shown_quote, _quote_embed(sandbox, fresh)
        goto_settled(page, desk.base + "/publish/gates")
        assert "Niemand mag reageren." in page.locator("#gates-choice").inner_text()
        _shot(page, "4-nobody")
        workspace = Workspace.open(workspace_dir)
        assert stored_choice(workspace) == GateChoice("nobody", quotes=True)
        write_plan(workspace, simple_plan(1, start_ms=1_600_000_000_000))
        workspace.close()

        # A post published later gets the last choice from publishing itself.
        later = _publish(page, desk, workspace_dir)
        assert later.result["gates_written"] == 1
        new_rkey = (
            {u.rsplit("/", 1)[-1] for u in _published(workspace_dir).values()} - rkeys
        ).pop()
        gates = _records(sandbox, org.did, THREADGATE)
        assert gates[new_rkey]["value"]["allow"] == []
        assert len(gates) == 4 and _records(sandbox, org.did, POSTGATE) == {}
    finally:
        context.close()
        desk.kill()
        for kind in background.KINDS:
            background.kill(workspace_dir, kind)
