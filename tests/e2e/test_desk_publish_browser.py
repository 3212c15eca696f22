"""Steps 4-6 of the desk in a real headless Chromium against the sandbox, in French.

``departures desk`` runs as its own process, as an organisation starts it. The browser
rehearses in the sandbox, is refused a wrong app password and an unknown handle (a message
on the page, nothing stored), connects, starts publishing; then the desk **and** its
publishing job are killed with SIGKILL mid-publish, the desk is started again, picks the
job up by itself, and every post of the plan ends up on the PDS exactly once. Then the
browser verifies, looks for the audience, accepts a candidate side by side, follows, and
opens the undo confirmation. Screenshots at 1280 px go to ``test-artifacts/desk``.
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

from departures.archive.importer import import_archive
from departures.bluesky.records import FOLLOW, POST
from departures.desk import background
from departures.migrate.plan import build_plan
from departures.migrate.select import Selection
from departures.samples.x_archive import generate_archive
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from departures.workspace.db import Workspace
from helpers.cli import CliUser
from helpers.ports import free_port
from helpers.proxy import ProxyHandler, proxy_for
from helpers.web import goto_settled

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desk"
# The whole journey of steps 4-6 in each of the desk's languages.
LANGUAGES = {"en": "en-GB", "nl": "nl-BE", "fr": "fr-BE"}
UNNAMED = re.compile(r"^\s*- (textbox|checkbox|button|combobox|spinbutton|link)\s*(\[|$)", re.M)


class Desk:
    """``departures --workspace WS desk --no-browser`` as a child process."""

    def __init__(self, workspace: Path, env: dict[str, str]) -> None:
        self.workspace = workspace
        self.env = env
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

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
        self.url = match.group(1)
        # The rest of its output is drained, so that a full pipe never blocks the desk.
        threading.Thread(target=_drain, args=(self.process.stdout,), daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/static/desk.css", timeout=2)
                return self.url
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
    with stream:  # closed at the end of the output: when the desk has stopped
        stream.read()


class Slow(ProxyHandler):
    """The PDS seen through a slow network: every batch of posts takes a second more, so a
    kill lands while publishing is under way."""

    target = ""

    def _forward(self) -> None:
        body = self.body()
        if self.path.startswith("/xrpc/com.atproto.repo.applyWrites") and POST.encode() in body:
            time.sleep(1.0)
        self.reply(self.forward(self.target, body))

    do_GET = _forward
    do_POST = _forward


@pytest.fixture
def prepared(
    sandbox: TestSandbox, tmp_path: Path
) -> Iterator[tuple[Path, Account, Account, dict[str, str]]]:
    """A workspace with an imported archive and a plan; the organisation's sandbox account;
    a Bluesky account whose handle equals the @name of an account the archive followed."""
    workspace_dir = tmp_path / "ws"
    archive = generate_archive(tmp_path / "x", tweets=120, as_zip=True, profile="demo", seed=3)
    workspace = Workspace.open(workspace_dir)
    import_archive(archive, workspace)
    build_plan(workspace, Selection())
    lookalike = sandbox.new_account("fairtr")
    x_name = lookalike.handle.removesuffix(".test")
    with workspace.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO following (account_id) VALUES (424242)")
        conn.execute(
            "INSERT INTO screen_name_sightings (user_id, screen_name, tweet_id, field) "
            "VALUES (424242, ?, 1, 'mention')",
            (x_name,),
        )
    workspace.close()
    org = sandbox.new_account("deskorg")
    env = {
        **os.environ,
        "DEPARTURES_CONFIG_DIR": str(tmp_path / "config"),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
        "DEPARTURES_SANDBOX_PORTS": str(sandbox.base_port),
        "DEPARTURES_SANDBOX_STATE": str(sandbox.box.network.state_dir),
        "DEPARTURES_DEBUG": "",
    }
    yield workspace_dir, org, lookalike, env


def _shot(page: Any, step: str) -> None:
    language = page.locator("html").get_attribute("lang")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{language}-{step}.png"), full_page=True)


def _check_accessible(page: Any) -> None:
    tree = page.locator("main").aria_snapshot()
    assert not UNNAMED.findall(tree), f"controls without a name on {page.url}:\n{tree}"
    orphans = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), textarea, select')]
             .filter(el => !el.labels || el.labels.length === 0).map(el => el.name)"""
    )
    assert orphans == [], f"unlabelled controls on {page.url}: {orphans}"


def _open(browser: Any, url: str, language: str) -> tuple[Any, Any]:
    locale = LANGUAGES[language]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale=locale,
        extra_http_headers={"Accept-Language": f"{locale},{language};q=0.9"},
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return context, page


def _finished(workspace_dir: Path, kind: str, seconds: float) -> background.JobStatus:
    """The job's status once it is no longer running (within ``seconds``)."""
    status = background.wait(workspace_dir, kind, timeout=seconds)
    assert status.state != background.RUNNING, f"{kind} still running after {seconds} s"
    return status


def _records(sandbox: TestSandbox, did: str, collection: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"repo": did, "collection": collection, "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = httpx.get(
            f"{sandbox.pds_url}/xrpc/com.atproto.repo.listRecords", params=params, timeout=30
        ).json()
        out.extend(page["records"])
        cursor = page.get("cursor")
        if not cursor or not page["records"]:
            return out


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_rehearse_publish_through_a_kill_verify_review_and_follow_in_the_browser(
    browser: Any,
    sandbox: TestSandbox,
    prepared: tuple[Path, Account, Account, dict[str, str]],
    language: str,
) -> None:
    workspace_dir, org, lookalike, env = prepared
    desk = Desk(workspace_dir, env)
    desk.start()
    context, page = _open(browser, desk.url, language)
    try:
        assert page.locator("html").get_attribute("lang") == language

        # Step 4: the rehearsal in the sandbox (which is up already: it stays up).
        goto_settled(page, desk.base + "/rehearse")
        _check_accessible(page)
        page.locator("form[action='/rehearse/start'] button").click()
        page.locator("#result").wait_for(timeout=180_000)
        assert "@rehearsal-" in page.locator("#result").inner_text()
        _shot(page, "4-rehearse")

        # Step 5: bad input first: a wrong app password, an unknown handle.
        goto_settled(page, desk.base + "/publish")
        _check_accessible(page)
        for handle, password in ((org.handle, "wrong-wrong-wrong"), ("nobody-here.test", "x")):
            page.fill("#handle", handle)
            page.fill("#password", password)
            page.fill("#service", sandbox.pds_url)
            page.locator("form[action='/publish/connect'] button").click()
            alert = page.get_by_role("alert")
            alert.wait_for()
            assert alert.inner_text().strip() and "Traceback" not in page.content()
            assert page.locator("#handle").input_value() == handle  # what was typed stays
            assert page.locator("#password").input_value() == ""  # the password never does
        _shot(page, "5-wrong-password")
        assert not (Path(env["DEPARTURES_CONFIG_DIR"]) / "sessions.json").exists()
        page.fill("#handle", org.handle)
        page.fill("#password", org.app_password)
        page.fill("#service", sandbox.pds_url)
        page.locator("form[action='/publish/connect'] button").click()
        page.locator("form[action='/publish/disconnect']").wait_for()
        _shot(page, "5-connected")

        # Publishing through a slow network; the desk and its job are killed mid-publish.
        user = CliUser(org, Path(env["DEPARTURES_CONFIG_DIR"]), workspace_dir, sandbox)
        Slow.target = sandbox.pds_url
        sessions = user.config / "sessions.json"
        stored = sessions.read_text()
        with proxy_for(user, Slow):
            page.check("#no_budget")
            page.locator("form[action='/publish/start'] button").click()
            page.locator("#job").wait_for()
            _check_accessible(page)
            _shot(page, "5-publishing")
            deadline = time.monotonic() + 120
            while background.read(workspace_dir, "publish").done < 1:
                assert time.monotonic() < deadline, "publishing did not start"
                time.sleep(0.1)
            status = background.read(workspace_dir, "publish")
            assert status.state == background.RUNNING and status.done < status.total
            desk.kill()
            assert background.kill(workspace_dir, "publish")
            context.close()
            time.sleep(0.5)
            assert background.read(workspace_dir, "publish").state == background.INTERRUPTED

            # Started again: the desk resumes the job by itself.
            desk.start()
            context, page = _open(browser, desk.url, language)
            goto_settled(page, desk.base + "/publish")
            assert background.read(workspace_dir, "publish").state == background.RUNNING
            page.locator("#job").wait_for()
            final = _finished(workspace_dir, "publish", 240)
        sessions.write_text(stored)  # the PDS itself again, no longer the slow proxy
        goto_settled(page, desk.base + "/publish")
        assert final.state == background.DONE, final.message
        posts = _records(sandbox, org.did, POST)
        rkeys = [r["uri"].rsplit("/", 1)[-1] for r in posts]
        workspace = Workspace.open(workspace_dir)
        published = workspace.conn.execute("SELECT count(*) FROM published").fetchone()[0]
        planned_rkeys = {r[0] for r in workspace.conn.execute("SELECT rkey FROM plan_posts")}
        workspace.close()
        assert len(rkeys) == len(set(rkeys)) == published == final.result["on_bluesky"]
        assert set(rkeys) <= planned_rkeys
        _shot(page, "5-published")

        # Verify.
        page.check("#wait")
        page.locator("form[action='/publish/verify'] button").click()
        assert _finished(workspace_dir, "verify", 120).state == background.DONE
        page.locator("#verify .message.ok").wait_for(timeout=30_000)
        assert re.search(r"\d", page.locator("#verify .message").inner_text())
        _shot(page, "5-verified")

        # Step 6: the search, then the review side by side, then the follows.
        goto_settled(page, desk.base + "/audience")
        _check_accessible(page)
        page.fill("#appview", sandbox.appview_url)
        page.locator("form[action='/audience/match'] button").click()
        page.locator("a[href='/audience/review']").wait_for()
        assert _finished(workspace_dir, "match", 120).state == background.DONE
        goto_settled(page, desk.base + "/audience/review")
        candidate = page.locator("article.candidate", has_text=lookalike.handle)
        candidate.wait_for()
        assert "@" + lookalike.handle.removesuffix(".test") in candidate.inner_text()
        _check_accessible(page)
        _shot(page, "6-review")
        candidate.locator("button[value='accept']").click()
        goto_settled(page, desk.base + "/audience/review?status=accepted")
        page.locator("article.candidate", has_text=lookalike.handle).wait_for()

        goto_settled(page, desk.base + "/audience")
        page.check("#follow_no_budget")
        page.fill("#per_hour", "0")
        page.locator("form[action='/audience/follow'] button").click()
        followed = _finished(workspace_dir, "follow", 120)
        assert followed.state == background.DONE, followed.message
        goto_settled(page, desk.base + "/audience")
        _shot(page, "6-followed")
        subjects = [r["value"]["subject"] for r in _records(sandbox, org.did, FOLLOW)]
        assert subjects.count(lookalike.did) == 1

        # Undo: the confirmation says what would go (nothing is deleted here).
        goto_settled(page, desk.base + "/publish/undo")
        assert page.locator("ol.posts li").count() >= 1
        _check_accessible(page)
        _shot(page, "5-undo-confirmation")
    finally:
        context.close()
        desk.kill()
        for kind in background.KINDS:
            background.kill(workspace_dir, kind)
