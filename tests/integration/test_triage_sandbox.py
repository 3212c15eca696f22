"""Reply controls and the triage queue against the local sandbox network (PDS + AppView).

A hostile account replies to a member's welcome post with an insult in English and one in
Dutch; the triage pass queues both (the friendly reply stays below the threshold); the member
hides one — the AppView's thread shows it hidden — and proposes the author (recorded); thread
gates and post gates read back through the AppView (a quote of a post that forbids quotes is
not shown as a quote); a lost write result and a killed pass are resumed without writing or
scoring anything twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from atproto import Client, models
from sqlalchemy import Engine, func, select

from departures.bluesky.budget import BudgetConfig
from departures.coalition.departure import DepartureDay
from departures.coalition.notify import Notifier
from departures.coalition.store import CoalitionStore, Organisation, access
from departures.coalition.store import triage as triage_rows
from departures.coalition.store.schema import bluesky_batches, triage_items
from departures.coalition.triage import Triage
from departures.coalition.vault import Vault
from departures.migrate.gates import parse_choice
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.cli import cli_argv, run_cli
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.waiting import poll

pytestmark = pytest.mark.sandbox

SECRET = b"a test secret that is long enough"
THREADGATE = "app.bsky.feed.threadgate"
POSTGATE = "app.bsky.feed.postgate"
INSULT_EN = "You are a fucking bitch and a stupid idiot, nobody wants you here"
INSULT_NL = "Wat een stelletje klootzakken zijn jullie, rot op naar X"
FRIENDLY = "Welcome to Bluesky, glad to see you here!"


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


def logged_in(sandbox: TestSandbox, account: Account) -> Client:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    client.login(account.handle, account.app_password)
    return client


def reply(client: Client, parent: dict[str, str], root: dict[str, str], text: str) -> str:
    ref = models.AppBskyFeedPost.ReplyRef(
        parent=models.ComAtprotoRepoStrongRef.Main(uri=parent["uri"], cid=parent["cid"]),
        root=models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"]),
    )
    return str(client.send_post(text=text, reply_to=ref).uri)


def appview(sandbox: TestSandbox, nsid: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{sandbox.appview_url}/xrpc/{nsid}", params=params, timeout=10)
    response.raise_for_status()
    return dict(response.json())


def thread(sandbox: TestSandbox, uri: str) -> dict[str, Any]:
    return appview(sandbox, "app.bsky.feed.getPostThread", uri=uri, depth=3)


def record_of(sandbox: TestSandbox, did: str, collection: str, rkey: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.repo.getRecord",
        params={"repo": did, "collection": collection, "rkey": rkey},
        timeout=10,
    )
    return dict(response.json()) if response.status_code == 200 else None


def latest_rev(sandbox: TestSandbox, did: str) -> str:
    response = httpx.get(
        f"{sandbox.pds_url}/xrpc/com.atproto.sync.getLatestCommit", params={"did": did}, timeout=10
    )
    return str(response.json()["rev"])


@pytest.fixture
def landed(
    sandbox: TestSandbox, store: CoalitionStore, clock: Clock
) -> Iterator[tuple[Account, Organisation, DepartureDay, Triage, str]]:
    """A member whose welcome post went out with "nobody may quote" (post gate in its batch)."""
    member = sandbox.new_account("member")
    coordinator, campaign = open_campaign(store, title="Leave X together", threshold=1)
    organisation, _key = join(
        store,
        campaign.slug,
        coordinator,
        "Member NGO",
        bluesky_handle=member.handle,
        bluesky_did=member.did,
    )
    store.pledge(organisation.id, 0)
    day = DepartureDay(store, Vault(SECRET), sandbox.pds_url)
    day.prepare(
        organisation, "We have landed on Bluesky!", opted_in=True, app_password=member.app_password
    )
    triage = Triage.from_departure(day)
    triage.save_settings(
        organisation, opted_in=True, choice=parse_choice("everybody", quotes=False)
    )
    campaign = store.campaign(campaign.slug)
    clock.now = campaign.departure_at + timedelta(minutes=1)
    uri = day.publish(campaign, organisation)
    assert uri
    yield member, organisation, day, triage, uri


def test_hostile_replies_are_queued_hidden_and_proposed_and_gates_read_back(
    sandbox: TestSandbox,
    store: CoalitionStore,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    member, organisation, _day, triage, uri = landed
    rkey = uri.rsplit("/", 1)[-1]
    # The post gate went out in the same batch as the post; no thread gate was needed.
    batches = [row.writes for row in store.engine.connect().execute(select(bluesky_batches))]
    assert any(POSTGATE in writes and "app.bsky.feed.post" in writes for writes in batches)
    assert record_of(sandbox, member.did, THREADGATE, rkey) is None

    hostile, friend = sandbox.new_account("hostile"), sandbox.new_account("friend")
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, hostile)
    en = reply(bad, ref, ref, INSULT_EN)
    nl = reply(bad, ref, ref, INSULT_NL)
    # A quote of a post that forbids quotes: the PDS takes it, the AppView does not show it.
    quoting = bad.send_post(
        text="Look at these clowns",
        embed=models.AppBskyEmbedRecord.Main(
            record=models.ComAtprotoRepoStrongRef.Main(uri=ref["uri"], cid=ref["cid"])
        ),
    ).uri
    bad.request.close()
    good = logged_in(sandbox, friend)
    kind = reply(good, ref, ref, FRIENDLY)
    good.request.close()
    poll(lambda: len(thread(sandbox, uri)["thread"].get("replies") or []) >= 3)

    report = triage.run_member(organisation)
    assert report.errors == []
    queued = {item.subject_uri: item for item in triage.queue(organisation)}
    assert set(queued) >= {en, nl}, queued
    assert kind not in queued
    assert any("word list nl" in reason for reason in queued[nl].reasons)
    assert queued[en].model_score >= 60
    # Below the threshold: the score and reasons are kept, the text is not.
    below = triage_rows.queue(store.engine, organisation.id, states=("below",))
    assert kind in {item.subject_uri for item in below}
    assert all(item.text == "" for item in below)
    # Run again: nothing is scored twice.
    assert triage.run_member(organisation).scored == 0

    # The member hides the English one: a thread gate with it in hiddenReplies.
    written = triage.hide(organisation, queued[en].id, by="Member NGO")
    assert written == 1
    gate = record_of(sandbox, member.did, THREADGATE, rkey)
    assert gate is not None and gate["value"]["hiddenReplies"] == [en]
    assert "allow" not in gate["value"]  # everybody may still reply
    shown = poll(lambda: thread(sandbox, uri).get("threadgate"))
    assert shown["record"]["hiddenReplies"] == [en]
    # The member proposes the author of the Dutch one (the seam records it in the queue).
    triage.propose(organisation, queued[nl].id, by="Member NGO", note="insults in Dutch")
    decided = {item.subject_uri: item for item in triage.decided(organisation)}
    assert decided[en].state == "hidden" and decided[nl].state == "proposed"
    assert decided[nl].decision_note == "insults in Dutch"

    # The post gate reads back through the AppView: the quote is shown detached.
    quote_view = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[quoting])["posts"])
    embedded = quote_view[0]["embed"]["record"]
    assert embedded["$type"] == "app.bsky.embed.record#viewDetached", embedded
    assert embedded["detached"] is True

    # Later the member lets only its followers reply: an update that keeps the hidden reply.
    before = record_of(sandbox, member.did, THREADGATE, rkey)
    assert before is not None
    triage.save_settings(
        organisation, opted_in=True, choice=parse_choice("some", ["followers"], quotes=False)
    )
    after = record_of(sandbox, member.did, THREADGATE, rkey)
    assert after is not None and after["cid"] != before["cid"]
    assert after["value"]["hiddenReplies"] == [en]
    assert [rule["$type"] for rule in after["value"]["allow"]] == [f"{THREADGATE}#followerRule"]
    shown = poll(
        lambda: (thread(sandbox, uri).get("threadgate") or {}).get("record", {}).get("allow")
    )
    assert shown == [{"$type": f"{THREADGATE}#followerRule"}]
    # Saving the same choice again writes nothing.
    rev = latest_rev(sandbox, member.did)
    triage.save_settings(
        organisation, opted_in=True, choice=parse_choice("some", ["followers"], quotes=False)
    )
    assert latest_rev(sandbox, member.did) == rev


def test_a_lost_update_result_is_settled_not_sent_again(
    sandbox: TestSandbox,
    store: CoalitionStore,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    member, organisation, _day, triage, uri = landed
    rkey = uri.rsplit("/", 1)[-1]
    triage.save_settings(organisation, opted_in=True, choice=parse_choice("nobody", quotes=False))
    assert record_of(sandbox, member.did, THREADGATE, rkey) is not None
    # An update whose result was lost: the server wrote it, the journal shows it as sent.
    triage.save_settings(
        organisation, opted_in=True, choice=parse_choice("some", ["mentioned"], quotes=True)
    )
    with store.engine.begin() as conn:
        last = conn.execute(select(func.max(bluesky_batches.c.id))).scalar()
        conn.execute(
            bluesky_batches.update().where(bluesky_batches.c.id == last).values(state="sent")
        )
        conn.exec_driver_sql("DELETE FROM bluesky_records WHERE batch_id = ?", (last,))
    rev = latest_rev(sandbox, member.did)
    # The next write of the same choice reconciles the open batch and finds nothing to do.
    assert triage.apply_gates(organisation) == 0
    assert latest_rev(sandbox, member.did) == rev
    gate = record_of(sandbox, member.did, THREADGATE, rkey)
    assert gate is not None and gate["value"]["allow"] == [{"$type": f"{THREADGATE}#mentionRule"}]
    assert record_of(sandbox, member.did, POSTGATE, rkey) is None  # quotes allowed again


def test_a_pass_killed_midway_resumes_without_scoring_anything_twice(
    sandbox: TestSandbox,
    engine: Engine,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _member, organisation, _day, triage, uri = landed
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, sandbox.new_account("many"))
    replies = [reply(bad, ref, ref, f"Reply number {n}: you idiots") for n in range(30)]
    bad.request.close()
    poll(lambda: len(thread(sandbox, uri)["thread"].get("replies") or []) >= 30, seconds=60)

    # The pass stops dead (as under a kill) after storing 10 replies.
    record = triage_rows.record_scored
    stored: list[str] = []

    def killed(*args: Any, **kwargs: Any) -> bool:
        if len(stored) == 10:
            raise KeyboardInterrupt
        done = record(*args, **kwargs)
        stored.append(args[2].subject_uri)
        return done

    with monkeypatch.context() as patch:
        patch.setattr(triage_rows, "record_scored", killed)
        with pytest.raises(KeyboardInterrupt):
            triage.run_member(organisation)
    assert _count(engine, organisation.id) == 10

    report = triage.run_member(organisation)
    assert report.scored == 20
    assert _count(engine, organisation.id) == 30
    assert set(replies) == triage_rows.known_subjects(engine, organisation.id)


def test_the_scheduler_pass_runs_triage_in_its_turn(
    sandbox: TestSandbox,
    store: CoalitionStore,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    _member, organisation, day, triage, uri = landed
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, sandbox.new_account("tick"))
    insult = reply(bad, ref, ref, INSULT_NL)
    bad.request.close()
    poll(lambda: thread(sandbox, uri)["thread"].get("replies"))
    report = Notifier(
        store, base_url="http://coalition.test", departure_hook=day, triage=triage
    ).tick()
    assert report.triaged == 1, report.errors
    assert [item.subject_uri for item in triage.queue(organisation)] == [insult]


def _count(engine: Engine, organisation_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).where(triage_items.c.organisation_id == organisation_id)
            ).scalar()
            or 0
        )


def test_hides_keep_to_the_write_budget_and_wait_for_the_next_pass(
    sandbox: TestSandbox,
    store: CoalitionStore,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    member, organisation, day, _triage, uri = landed
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, sandbox.new_account("budget"))
    insults = [reply(bad, ref, ref, f"{INSULT_EN} ({n})") for n in range(3)]
    bad.request.close()
    poll(lambda: len(thread(sandbox, uri)["thread"].get("replies") or []) >= 3)
    # A tiny hourly budget: the post and its post gate (3 + 3 points) are spent already; a
    # thread gate create (3) and one update (2) fit, a second update does not.
    tight = Triage(
        store,
        day.secrets,
        day.service,
        budget=BudgetConfig(windows={3600: 11}, safety_margin=0.0),
        guard=day.guard,
    )
    tight.run_member(organisation)
    items = {i.subject_uri: i for i in tight.queue(organisation)}
    assert tight.hide(organisation, items[insults[0]].id, by="Member NGO") == 1
    assert tight.hide(organisation, items[insults[1]].id, by="Member NGO") == 1
    rev = latest_rev(sandbox, member.did)
    assert tight.hide(organisation, items[insults[2]].id, by="Member NGO") == 0
    assert latest_rev(sandbox, member.did) == rev  # nothing was sent
    waiting = rows_in(store, organisation, "hiding")
    assert waiting == [insults[2]]
    # The scheduler's pass tries again and still keeps to the budget...
    report = tight.run()
    assert report.written == 0 and any("next pass" in error for error in report.errors)
    # ...and once the budget allows it (here: a larger one), the pass writes the hide.
    Triage.from_departure(day).run()
    gate = record_of(sandbox, member.did, THREADGATE, uri.rsplit("/", 1)[-1])
    assert gate is not None and gate["value"]["hiddenReplies"] == insults
    assert rows_in(store, organisation, "hiding") == []
    assert len(rows_in(store, organisation, "hidden")) == 3


def rows_in(store: CoalitionStore, organisation: Organisation, state: str) -> list[str]:
    return [
        i.subject_uri for i in triage_rows.queue(store.engine, organisation.id, states=(state,))
    ]


def test_a_scheduler_pass_killed_at_random_moments_writes_and_scores_everything_once(
    sandbox: TestSandbox,
    store: CoalitionStore,
    engine: Engine,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
    tmp_path: Path,
) -> None:
    member, organisation, _day, triage, uri = landed
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, sandbox.new_account("killed"))
    replies = [reply(bad, ref, ref, f"{INSULT_EN} [{n}]") for n in range(60)]
    bad.request.close()
    poll(lambda: len(thread(sandbox, uri)["thread"].get("replies") or []) >= 60, seconds=60)
    # Two hides decided and waiting for a pass (as when the budget was spent).
    triage.run_member(organisation)
    items = {i.subject_uri: i for i in triage.queue(organisation)}
    for subject in replies[:2]:
        triage_rows.decide(
            store.engine,
            organisation.id,
            items[subject].id,
            state="hiding",
            by="Member NGO",
            note="",
            now=datetime.now(UTC),
        )
    # Forget the scores, so that the killed passes score them again, as new.
    with store.engine.begin() as conn:
        conn.execute(
            triage_items.delete().where(
                triage_items.c.organisation_id == organisation.id,
                triage_items.c.state != "hiding",
            )
        )
    assert engine.url.database is not None
    env = {
        **os.environ,
        "DEPARTURES_COALITION_SECRET": SECRET.decode(),
        "DEPARTURES_PLC_URL": sandbox.plc_url,
    }
    command = cli_argv(
        "coalition", "tick", "--db", f"sqlite:///{engine.url.database}",
        "--handle-service", sandbox.pds_url, "--bluesky-service", sandbox.pds_url,
    )  # fmt: skip

    def hide_batches() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(bluesky_batches.c.writes.contains(THREADGATE))
                ).scalar()
                or 0
            )

    # Killed the moment it has stored some scores, then the moment it has journaled the
    # hides' batch (before or after Bluesky answered: the next pass settles it).
    killed: list[tuple[int, int]] = []
    for moment in (lambda: _count(engine, organisation.id) > 2, lambda: hide_batches() > 0):
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        poll(
            lambda at=moment, running=process: at() or running.poll() is not None,
            seconds=120,
            interval=0.005,
        )
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed.append((_count(engine, organisation.id), hide_batches()))
        process.communicate(timeout=30)
    assert killed, "no pass was killed"
    print("scores stored and hide batches at each kill:", killed)
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    # Every reply stored once; the two hides written once, in one thread gate.
    assert triage_rows.known_subjects(engine, organisation.id) == set(replies)
    assert _count(engine, organisation.id) == 60
    gate = record_of(sandbox, member.did, THREADGATE, uri.rsplit("/", 1)[-1])
    assert gate is not None and sorted(gate["value"]["hiddenReplies"]) == sorted(replies[:2])
    hidden = triage_rows.queue(engine, organisation.id, states=("hidden",))
    assert sorted(i.subject_uri for i in hidden) == sorted(replies[:2])


def test_a_deleted_post_is_skipped_with_a_note(
    sandbox: TestSandbox,
    store: CoalitionStore,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    member, organisation, _day, triage, uri = landed
    own = logged_in(sandbox, member)
    kept = str(own.send_post(text="Our first post after the welcome").uri)
    own.delete_post(uri)  # the member deleted its welcome post by hand
    own.request.close()
    poll(lambda: not appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])
    poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[kept])["posts"])
    report = triage.run_member(organisation)
    assert report.skipped == 1 and report.errors == []
    assert [(post, note) for _when, post, note in triage.notes(organisation)] == [
        (uri, "deleted or not found")
    ]


def test_the_cli_triages_one_member_for_its_coordinator(
    sandbox: TestSandbox,
    store: CoalitionStore,
    engine: Engine,
    landed: tuple[Account, Organisation, DepartureDay, Triage, str],
) -> None:
    _member, organisation, _day, triage, uri = landed
    root = poll(lambda: appview(sandbox, "app.bsky.feed.getPosts", uris=[uri])["posts"])[0]
    ref = {"uri": root["uri"], "cid": root["cid"]}
    bad = logged_in(sandbox, sandbox.new_account("cli"))
    insult = reply(bad, ref, ref, INSULT_NL)
    bad.request.close()
    poll(lambda: thread(sandbox, uri)["thread"].get("replies"))
    campaign = store.campaign_by_id(organisation.campaign_id)
    token = access.replace_coordinator_token(store.engine, campaign.coordinator_id)
    args = (
        "coalition", "triage", "--db", f"sqlite:///{engine.url.database}",
        "--bluesky-service", sandbox.pds_url, campaign.slug,
    )  # fmt: skip
    env = {"DEPARTURES_COALITION_SECRET": SECRET.decode(), "DEPARTURES_COALITION_TOKEN": token}
    result = run_cli(*args, str(organisation.id), env=env)
    assert result.returncode == 0, result.stderr
    assert "1 newly scored, 1 queued for a person" in result.stdout, result.stdout
    assert [i.subject_uri for i in triage.queue(organisation)] == [insult]
    # Another coordinator's token, or an organisation of another campaign: one error line.
    wrong = run_cli(*args, str(organisation.id), env={**env, "DEPARTURES_COALITION_TOKEN": "x"})
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert wrong.stderr.strip().splitlines()[-1].startswith("Error: ")
