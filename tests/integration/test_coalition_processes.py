"""Two server processes on one PostgreSQL store: real processes, a real SMTP receiver.

Proves what ``coalition serve`` run twice relies on: the scheduler pass runs in one process at
a time (the advisory lock), two senders never deliver the same outbox message, and a sender
killed with SIGKILL in the middle of a pass loses nothing — its claimed messages go out once,
from the other process, when their lease lapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from departures.coalition.db import connect, migrate
from departures.coalition.store import CoalitionStore, processes, utc_now
from helpers.coalition import open_campaign
from helpers.mail import Inbox
from helpers.ports import free_port
from helpers.stores import create_database

# One scheduler process: says it is ready, waits for the go file (so that two start together),
# then runs its passes and prints what each did as JSON lines.
WORKER = r"""
import json, sys, time
from datetime import timedelta
from pathlib import Path
from departures.coalition.db import connect
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore

url, port, mode, lease, batch, go = sys.argv[1:7]
notifier = Notifier(
    CoalitionStore(connect(url)),
    base_url="http://coalition.test",
    smtp=SMTPSettings(host="127.0.0.1", port=int(port), sender="coalition@test"),
    outbox_lease=timedelta(seconds=float(lease)),
    outbox_batch=int(batch),
)
notifier.store.campaigns()  # connected before the start, so that both start together
print("ready", flush=True)
while not Path(go).exists():
    time.sleep(0.01)
if mode == "tick":
    report = notifier.tick()
    print(json.dumps({"sent": report.sent, "skipped": report.skipped}), flush=True)
else:
    while True:
        report = notifier.deliver()
        print(json.dumps({"sent": report.sent, "failed": report.failed}), flush=True)
        if not report.sent and not report.failed:
            break
"""


class SlowInbox(Inbox):
    """An inbox that takes ``delay`` per message, and can hold one recipient's message
    unanswered (``trap``) until released — the moment a sender is killed in."""

    def __init__(self, delay: float = 0.0, trap: str | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.trap = trap
        self.caught = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.trap is not None and self.trap in envelope.rcpt_tos and not self.caught.is_set():
            self.caught.set()
            # Awaited, not blocking: the server goes on serving the other process.
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            return "451 sender gone"
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@contextlib.contextmanager
def receiver(inbox: Inbox) -> Iterator[int]:
    """A real SMTP server (aiosmtpd) delivering to ``inbox``; its port."""
    from aiosmtpd.controller import Controller

    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def database(postgres_cluster: str) -> Iterator[tuple[str, Engine]]:
    """A database of its own on the test PostgreSQL, migrated: (its URL, an engine)."""
    url = create_database(postgres_cluster, f"procs_{uuid.uuid4().hex[:12]}")
    engine = connect(url)
    migrate(engine)
    yield url, engine
    engine.dispose()


def queue_emails(engine: Engine, count: int) -> list[str]:
    """``count`` e-mails queued in the outbox of a new campaign; their recipients."""
    store = CoalitionStore(engine)
    _coordinator, campaign = open_campaign(store, start=utc_now())
    recipients = [f"member{n:03d}@example.org" for n in range(count)]
    added = store.queue(
        campaign.id,
        "bulk",
        [(address, "email", "Departure day", "We leave together.") for address in recipients],
    )
    assert added == count
    return recipients


def start_worker(
    url: str, port: int, mode: str, go: Path, *, lease: float = 600.0, batch: int = 100
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, url, str(port), mode, str(lease), str(batch), str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ready(*workers: subprocess.Popen[str]) -> None:
    """Wait until every worker has imported everything and connected."""
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"


def reports(worker: subprocess.Popen[str], timeout: float = 60.0) -> list[dict[str, Any]]:
    out, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_two_senders_at_once_deliver_each_email_exactly_once(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    recipients = queue_emails(engine, 40)
    inbox = SlowInbox(delay=0.05)
    go = tmp_path / "go"
    with receiver(inbox) as port:
        workers = [start_worker(url, port, "deliver", go, batch=3) for _ in range(2)]
        ready(*workers)
        go.touch()
        done = [reports(worker) for worker in workers]
        sent = [sum(r["sent"] for r in d) for d in done]
    received = Counter(str(message["To"]) for message in inbox.messages)
    assert received == Counter(recipients)  # every one arrived, none twice
    assert sum(sent) == 40
    # Both took part: their claims interleaved, and SKIP LOCKED kept them apart.
    assert all(share > 0 for share in sent), sent
    rows = CoalitionStore(engine).outbox()
    assert all(row["sent_at"] is not None and row["attempts"] == 1 for row in rows)


def test_the_scheduler_pass_waits_for_no_one_while_another_process_holds_it(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    queue_emails(engine, 3)
    inbox = Inbox()
    go = tmp_path / "go"
    go.touch()
    with receiver(inbox) as port:
        # This process holds the pass: the other process's tick skips at once, sends nothing.
        with processes.scheduler_turn(engine, utc_now(), timedelta(minutes=1)) as mine:
            assert mine
            assert reports(start_worker(url, port, "tick", go)) == [{"sent": 0, "skipped": True}]
        assert inbox.messages == []
        # Released: the next pass runs and delivers.
        assert reports(start_worker(url, port, "tick", go)) == [{"sent": 3, "skipped": False}]
    assert len(inbox.messages) == 3


def test_two_ticks_at_once_send_each_email_once(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    recipients = queue_emails(engine, 12)
    inbox = SlowInbox(delay=0.05)
    go = tmp_path / "go"
    with receiver(inbox) as port:
        workers = [start_worker(url, port, "tick", go) for _ in range(2)]
        ready(*workers)
        go.touch()
        done = [reports(worker)[0] for worker in workers]
    # One pass ran and sent everything; the other found the lock taken (or, started after
    # the first finished, found nothing left to send).
    assert sorted(d["sent"] for d in done) == [0, 12]
    assert Counter(str(message["To"]) for message in inbox.messages) == Counter(recipients)


def test_a_sender_killed_mid_pass_loses_nothing_and_repeats_nothing(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    recipients = queue_emails(engine, 20)
    trapped = recipients[7]
    inbox = SlowInbox(trap=trapped)
    # Long enough for the second process to start and pass while the lease still holds.
    lease = 10.0
    go = tmp_path / "go"
    go.touch()
    with receiver(inbox) as port, contextlib.ExitStack() as cleanup:
        cleanup.callback(inbox.released.set)
        # The first process claims all twenty, sends seven and is killed while the SMTP
        # server holds the eighth unanswered (not delivered).
        first = start_worker(url, port, "tick", go, lease=lease)
        cleanup.callback(first.kill)
        assert inbox.caught.wait(60), "the first sender never reached the eighth message"
        claimed_at = time.monotonic()
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=10)  # reaped, its pipes closed
        assert first.returncode == -signal.SIGKILL
        inbox.released.set()
        assert len(inbox.messages) == 7

        # The next pass gets the pass (the killed holder's lock went with its connection)
        # but not the killed sender's messages: they are still under its lease.
        second = reports(start_worker(url, port, "tick", go, lease=lease))
        assert second == [{"sent": 0, "skipped": False}]
        assert len(inbox.messages) == 7

        # Once the lease lapsed, a pass sends the thirteen left: each once, none lost.
        time.sleep(max(0.0, lease + 0.5 - (time.monotonic() - claimed_at)))
        third = reports(start_worker(url, port, "tick", go, lease=lease))
        assert third == [{"sent": 13, "skipped": False}]
    assert Counter(str(message["To"]) for message in inbox.messages) == Counter(recipients)
    rows = {row["recipient"]: row for row in CoalitionStore(engine).outbox()}
    assert all(row["sent_at"] is not None for row in rows.values())
    assert rows[trapped]["attempts"] == 2  # claimed by the killed sender, then again
