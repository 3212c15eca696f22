"""The invitation commands for scripts: ``coalition invite --csv`` / ``--email``,
``coalition invitations``, ``resend-invite`` and ``revoke-invite ID``, with ``coalition tick``
delivering to a real SMTP receiver."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from departures.coalition.store import CoalitionStore
from helpers.cli import run_cli
from helpers.mail import Inbox, delivery_report

CSV = "\ufeffname;email;website\nOxfam;info@oxfam.example;oxfam.example\nGone;x@bounces.invalid;\n"


def _campaign(db: str) -> tuple[str, str]:
    from datetime import UTC, datetime

    from departures.coalition.db import connect

    engine = connect(db)
    try:
        store = CoalitionStore(engine)
        coordinator, token = store.create_coordinator("Office")
        now = datetime.now(UTC)
        campaign = store.create_campaign(
            coordinator,
            title="Leave X",
            threshold=1,
            deadline=now + timedelta(days=7),
            departure_at=now + timedelta(days=14),
        )
        store.open_campaign(campaign.slug, coordinator)
    finally:
        engine.dispose()
    return campaign.slug, token


def test_a_script_invites_from_a_csv_lists_resends_and_revokes(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    assert run_cli("coalition", "migrate", "--db", db).returncode == 0
    slug, token = _campaign(db)
    env = {"DEPARTURES_COALITION_TOKEN": token}
    members = tmp_path / "members.csv"

    members.write_text(CSV + "Broken;;\n", encoding="utf-8")
    refused = run_cli("coalition", "invite", "--db", db, slug, "--csv", str(members), env=env)
    assert refused.returncode == 1
    assert "row 4: the e-mail address is missing" in refused.stderr
    assert "Traceback" not in refused.stderr

    members.write_text(CSV, encoding="utf-8")
    done = run_cli("coalition", "invite", "--db", db, slug, "--csv", str(members), env=env)
    assert done.returncode == 0, done.stderr
    assert "2 invitation(s) queued" in done.stdout
    one = run_cli(
        "coalition", "invite", "--db", db, slug, "--email", "ldh@ldh.example", "--name", "LDH",
        "--language", "fr", env=env,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr

    tick = run_cli(
        "coalition", "tick", "--db", db, "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
        "--base-url", "https://leave.example.org",
    )  # fmt: skip
    assert tick.returncode == 0, tick.stderr
    assert "2 sent, 1 failed" in tick.stdout
    [mail] = [m for m in inbox.messages if m["To"] == "info@oxfam.example"]
    assert re.search(r"https://leave\.example\.org/invite/\S{43}", mail.get_content())
    [ldh] = [m for m in inbox.messages if m["To"] == "ldh@ldh.example"]
    assert str(ldh["Subject"]).startswith("Invitation : ")  # --language fr

    listed = run_cli("coalition", "invitations", "--db", db, slug, env=env)
    rows = {line.split("\t")[2]: line.split("\t") for line in listed.stdout.splitlines()}
    assert rows["info@oxfam.example"][1] == "sent"
    assert rows["ldh@ldh.example"][1] == "sent"
    assert rows["x@bounces.invalid"][1] == "bounced"
    assert rows["x@bounces.invalid"][4].startswith("550")

    oxfam = rows["info@oxfam.example"][0]
    again = run_cli("coalition", "resend-invite", "--db", db, slug, oxfam, env=env)
    assert again.returncode == 0, again.stderr
    revoked = run_cli("coalition", "revoke-invite", "--db", db, slug, oxfam, env=env)
    assert revoked.returncode == 0, revoked.stderr
    run_cli("coalition", "tick", "--db", db, "--smtp-host", "127.0.0.1", "--smtp-port", str(port))
    assert len([m for m in inbox.messages if m["To"] == "info@oxfam.example"]) == 1
    listed = run_cli("coalition", "invitations", "--db", db, slug, env=env)
    assert f"{oxfam}\trevoked\tinfo@oxfam.example" in listed.stdout
    twice = run_cli("coalition", "revoke-invite", "--db", db, slug, oxfam, env=env)
    assert twice.returncode == 1
    assert "revoked" in twice.stderr


def test_a_bounce_that_comes_back_later_is_recorded_through_the_bounce_address(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    assert run_cli("coalition", "migrate", "--db", db).returncode == 0
    slug, token = _campaign(db)
    env = {"DEPARTURES_COALITION_TOKEN": token}
    invited = run_cli(
        "coalition", "invite", "--db", db, slug, "--email", "info@oxfam.example",
        "--name", "Oxfam", env=env,
    )  # fmt: skip
    assert invited.returncode == 0, invited.stderr
    tick = run_cli(
        "coalition", "tick", "--db", db, "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
        "--smtp-bounce-address", "bounces@coalition.example",
    )  # fmt: skip
    assert "1 sent" in tick.stdout, tick.stdout + tick.stderr
    # Accepted by the server, with its own envelope sender...
    [sender] = inbox.senders
    found = re.fullmatch(r"bounces\+(\d+)@coalition\.example", sender)
    assert found is not None, sender
    listed = run_cli("coalition", "invitations", "--db", db, slug, env=env)
    assert "\tsent\t" in listed.stdout

    # ...then the mailbox turns out full: the report comes back to that address.
    dsn = delivery_report(to=sender, message_id=str(inbox.messages[0]["Message-ID"])).decode()
    recorded = run_cli("coalition", "bounce", "--db", db, input=dsn)
    assert recorded.returncode == 0, recorded.stderr
    assert f"Message {found.group(1)} bounced" in recorded.stdout
    listed = run_cli("coalition", "invitations", "--db", db, slug, env=env)
    [row] = listed.stdout.splitlines()
    assert row.split("\t")[1] == "bounced"
    assert row.split("\t")[4] == "5.2.2 smtp; 552 5.2.2 Mailbox full"
    # A delay report, or any other mail to the address, changes nothing (and exits 0).
    delayed = run_cli("coalition", "bounce", "--db", db, input="Subject: hi\r\n\r\nhello\r\n")
    assert delayed.returncode == 0 and "nothing recorded" in delayed.stdout


def test_a_script_reads_who_goes_and_why(tmp_path: Path) -> None:
    from departures.coalition.db import connect

    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    assert run_cli("coalition", "migrate", "--db", db).returncode == 0
    slug, token = _campaign(db)
    engine = connect(db)
    try:
        store = CoalitionStore(engine)
        campaign = store.campaign(slug)
        for name, condition in (("Oxfam", 0), ("LDH", 1), ("CNCD", 1), ("Greenpeace", 9)):
            org, _key = store.accept_invite(
                store.create_invite(slug, campaign.coordinator_id), name=name
            )
            store.pledge(org.id, condition)
        store.accept_invite(store.create_invite(slug, campaign.coordinator_id), name="Late")
    finally:
        engine.dispose()
    shown = run_cli(
        "coalition", "pledges", "--db", db, slug, env={"DEPARTURES_COALITION_TOKEN": token}
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "unconditional\tOxfam",
        "conditional\tLDH\t1\t2",
        "conditional\tCNCD\t1\t2",
        "waiting\tGreenpeace\t9\t6",
        "no-pledge\tLate",
    ]
    assert "3 go (on)" in shown.stderr
