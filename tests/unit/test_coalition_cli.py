"""``departures coalition ...`` commands: the coordinator's path from the shell, and errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from departures.cli import cli, main
from departures.coalition.db import connect
from departures.coalition.store import CoalitionStore


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def fails(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the console entry point in-process; it must exit 1; returns its stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 1
    return capsys.readouterr().err


def test_a_coordinator_creates_opens_and_invites_from_the_shell(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    soon = datetime.now(UTC) + timedelta(days=7)
    later = soon + timedelta(days=7)
    created = run(
        "coalition",
        "campaign",
        "create",
        "--db",
        db,
        "--title",
        "Leave X",
        "--threshold",
        "3",
        "--deadline",
        soon.strftime("%Y-%m-%dT%H:%M"),
        "--departure",
        later.strftime("%Y-%m-%dT%H:%M"),
    )
    assert created.exit_code == 0, created.output
    assert "Campaign 'leave-x' created as a draft." in created.output
    token = created.output.strip().splitlines()[-1]
    env = {"DEPARTURES_COALITION_TOKEN": token}
    opened = run("coalition", "campaign", "open", "--db", db, "leave-x", env=env)
    assert opened.exit_code == 0, opened.output
    invited = run(
        "coalition",
        "invite",
        "--db",
        db,
        "leave-x",
        "--base-url",
        "https://coalition.example.org",
        env=env,
    )
    assert invited.exit_code == 0, invited.output
    link = invited.output.strip()
    assert re.fullmatch(r"https://coalition\.example\.org/invite/[A-Za-z0-9_-]{40,}", link)
    store = CoalitionStore(connect(db))
    invite, campaign = store.check_invite(link.rsplit("/", 1)[1])
    assert campaign.opened_at is not None and invite.used_at is None
    store.engine.dispose()


def test_a_wrong_token_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    err = fails(capsys, "coalition", "campaign", "open", "--db", db, "--token", "forged", "x")
    assert err.strip() == (
        "Error: this coordinator token is not valid. Use the token printed by `departures "
        "coalition campaign create`, or set DEPARTURES_COALITION_TOKEN."
    )


def test_terms_the_rules_refuse_are_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    err = fails(
        capsys,
        "coalition",
        "campaign",
        "create",
        "--db",
        db,
        "--title",
        "T",
        "--threshold",
        "2",
        "--deadline",
        "2030-01-20T12:00",
        "--departure",
        "2030-01-13T12:00",
    )
    assert err.startswith("Error: The departure time (13 January 2030, 12:00 CET) must")
    assert "Traceback" not in err


def test_an_unreachable_postgresql_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = fails(
        capsys,
        "coalition",
        "migrate",
        "--db",
        "postgresql://nobody:secret-password@127.0.0.1:9/nothing",
    )
    assert err.startswith("Error: cannot open the coalition store at ")
    assert "secret-password" not in err
    assert len(err.strip().splitlines()) == 1
