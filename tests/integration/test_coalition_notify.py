"""Notifications against real local receivers: an SMTP server (aiosmtpd) and an HTTP server
for the webhook. Proves that every pledger is told, once, whatever the scheduler does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from departures.coalition.db import connect, migrate
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore, Organisation
from helpers.clock import START, Clock
from helpers.coalition import join, open_campaign
from helpers.mail import Inbox
from helpers.ports import free_port
from helpers.web import coalition_app, serve


@pytest.fixture
def webhook() -> Iterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield received, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def campaign_with_members(store: CoalitionStore, names: list[str], threshold: int = 2):
    coordinator, campaign = open_campaign(
        store, threshold=threshold, deadline=START + timedelta(days=10)
    )
    members: list[Organisation] = [
        join(store, campaign.slug, coordinator, name, email=f"{name.lower()}@example.org")[0]
        for name in names
    ]
    return campaign, members


def notifier(store: CoalitionStore, port: int, hook: str | None = None) -> Notifier:
    return Notifier(
        store,
        base_url="http://coalition.test",
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
        webhook_url=hook,
    )


def test_every_pledger_and_the_webhook_hear_that_the_campaign_is_on_once(
    store: CoalitionStore,
    clock: Clock,
    smtp: tuple[Inbox, int],
    webhook: tuple[list[dict[str, Any]], str],
) -> None:
    inbox, port = smtp
    hooks, hook_url = webhook
    _campaign, (a, b, _c) = campaign_with_members(store, ["A", "B", "C"])
    clock.now += timedelta(hours=1)
    store.pledge(a.id, 0)
    store.pledge(b.id, 1)
    report = notifier(store, port, hook_url).tick()
    assert (report.queued, report.sent, report.failed) == (3, 3, 0)
    assert inbox.to("a@example.org") == ["Leave X: the campaign is on"]
    assert inbox.to("b@example.org") == ["Leave X: the campaign is on"]
    assert inbox.to("c@example.org") == []  # did not pledge
    assert "http://coalition.test/campaigns/leave-x" in str(inbox.messages[0].get_payload())
    assert [(h["event"], h["state"], h["going"]) for h in hooks] == [("campaign_on", "on", 2)]
    again = notifier(store, port, hook_url).tick()
    assert (again.queued, again.sent) == (0, 0)
    assert len(inbox.messages) == 2 and len(hooks) == 1


def test_going_back_to_open_and_on_again_tells_everyone_each_time(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _campaign, (a, b) = campaign_with_members(store, ["A", "B"])
    store.pledge(a.id, 0)
    store.pledge(b.id, 0)
    notifier(store, port).tick()
    clock.now += timedelta(hours=1)
    store.withdraw(b.id)
    notifier(store, port).tick()
    clock.now += timedelta(hours=1)
    store.pledge(b.id, 0)
    notifier(store, port).tick()
    assert inbox.to("a@example.org") == [
        "Leave X: the campaign is on",
        "Leave X: the campaign is open again",
        "Leave X: the campaign is on",
    ]
    assert inbox.to("b@example.org") == inbox.to("a@example.org")


def test_the_campaign_going_off_is_announced_to_the_pledgers(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _campaign, (a, _b) = campaign_with_members(store, ["A", "B"], threshold=3)
    store.pledge(a.id, 0)
    clock.now = START + timedelta(days=10, minutes=1)
    notifier(store, port).tick()
    assert inbox.to("a@example.org") == ["Leave X: the campaign is off"]
    assert inbox.to("b@example.org") == []


def test_deadline_reminders_go_once_to_members_who_have_not_pledged(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _campaign, (a, _b) = campaign_with_members(store, ["A", "B"], threshold=2)
    store.pledge(a.id, 0)
    notifier(store, port).tick()  # 9 days before: nothing due
    assert inbox.messages == []
    clock.now = START + timedelta(days=3, hours=1)  # < 7 days left
    notifier(store, port).tick()
    notifier(store, port).tick()
    clock.now = START + timedelta(days=9, hours=1)  # < 1 day left
    notifier(store, port).tick()
    assert inbox.to("a@example.org") == []
    subjects = inbox.to("b@example.org")
    assert len(subjects) == 2
    assert all(s.startswith("Leave X: pledge before 11 January 2025") for s in subjects)


def test_members_who_pledged_but_have_not_landed_are_followed_up_after_departure(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _campaign, (a, b) = campaign_with_members(store, ["A", "B"])
    store.pledge(a.id, 0)
    store.pledge(b.id, 0)
    store.update_organisation(a.id, bluesky_handle="a.example.org")
    clock.now = START + timedelta(days=14, hours=1)
    notifier(store, port).tick()
    store.mark_landed(a.id)
    clock.now = START + timedelta(days=15, hours=2)
    notifier(store, port).tick()
    notifier(store, port).tick()
    # The first pass saw open -> departed at once: both events are announced, in order.
    assert inbox.to("a@example.org") == ["Leave X: the campaign is on", "Leave X: departure day"]
    assert inbox.to("b@example.org") == [
        "Leave X: the campaign is on",
        "Leave X: departure day",
        "Leave X: have you landed on Bluesky?",
    ]


def test_messages_wait_in_the_outbox_while_smtp_is_down_and_go_out_later(
    store: CoalitionStore, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _campaign, (a, b) = campaign_with_members(store, ["A", "B"])
    store.pledge(a.id, 0)
    store.pledge(b.id, 0)
    down = notifier(store, free_port()).tick()
    assert (down.queued, down.sent, down.failed) == (2, 0, 2)
    assert all("SMTP" in row["last_error"] for row in store.outbox())
    up = notifier(store, port).tick()
    assert (up.queued, up.sent, up.failed) == (0, 2, 0)
    assert len(inbox.messages) == 2


def test_the_tick_command_runs_one_pass_with_smtp_options(
    tmp_path: Path, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from departures.cli import main

    inbox, port = smtp
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = connect(url)
    migrate(engine)
    store = CoalitionStore(engine)  # the real clock, like the CLI
    now = datetime.now(UTC)
    coordinator, campaign = open_campaign(
        store,
        title="Now",
        deadline=now + timedelta(days=30),
        departure_at=now + timedelta(days=31),
    )
    org, _ = join(store, campaign.slug, coordinator, "A", email="a@example.org")
    store.pledge(org.id, 0)
    engine.dispose()
    monkeypatch.setenv("DEPARTURES_SMTP_PORT", str(port))
    for _ in range(2):
        main(["coalition", "tick", "--db", url, "--smtp-host", "127.0.0.1"])
    assert inbox.to("a@example.org") == ["Now: the campaign is on"]


def test_the_servers_scheduler_loop_sends_without_anyone_running_tick(
    engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    import time

    inbox, smtp_port = smtp
    store = CoalitionStore(engine)
    now = datetime.now(UTC)
    coordinator, campaign = open_campaign(
        store,
        title="Live",
        deadline=now + timedelta(days=30),
        departure_at=now + timedelta(days=31),
    )
    org, _ = join(store, campaign.slug, coordinator, "A", email="a@example.org")
    store.pledge(org.id, 0)
    app = partial(coalition_app, store, notifier=notifier(store, smtp_port), tick_seconds=0.2)
    with serve(lambda base: app(base_url=base)):
        deadline = time.monotonic() + 20
        while not inbox.messages:
            assert time.monotonic() < deadline, "the scheduler loop sent nothing"
            time.sleep(0.1)
        time.sleep(1)  # several more passes: still one message
    assert inbox.to("a@example.org") == ["Live: the campaign is on"]
