"""Steps 1-3 of the desk in-process: bad input as messages on the page with nothing lost, the
workspace shared with the CLI (each refuses what the other holds), the choices form, alt
texts."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from starlette.datastructures import ImmutableMultiDict

from departures.archive.stats import archive_stats
from departures.desk.app import Desk
from departures.desk.views.choose import ChoiceError, choices_from_form
from departures.migrate.select import DEFAULT_CHOICES
from departures.samples.x_archive import generate_archive
from departures.workspace.db import DB_NAME, Workspace
from departures.workspace.locks import task_lock
from helpers.cli import run_cli
from helpers.desk import new_desk, signed_in
from helpers.web import InProcessBrowser


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("desk-steps")
    return generate_archive(folder / "x", tweets=120, as_zip=True, profile="demo", seed=3)


def _wait(visitor: InProcessBrowser, response_url: str) -> dict[str, object]:
    job = response_url.split("/jobs/", 1)[1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state: dict[str, object] = visitor.get(f"/jobs/{job}.json").json()
        if state["state"] != "running":
            return state
        time.sleep(0.05)
    raise AssertionError("the job did not end")


def _import(desk: Desk, visitor: InProcessBrowser, path: Path) -> tuple[dict[str, object], str]:
    answer = visitor.post(
        "/archive/path", data={"path": str(path), "csrf": desk.keys.csrf}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    return _wait(visitor, location), location


def test_a_file_that_is_not_an_archive_is_a_message_and_leaves_no_workspace(
    tmp_path: Path,
) -> None:
    desk = new_desk(tmp_path)
    notes = tmp_path / "notes.zip"
    notes.write_text("minutes of the board meeting")
    with signed_in(desk) as visitor:
        state, location = _import(desk, visitor, notes)
        assert state["state"] == "failed"
        page = visitor.get(location)
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "This file is not an X archive the desk can read." in page.text
    assert "Nothing was changed" in page.text
    assert "Traceback" not in page.text
    assert not (desk.workspace_path / DB_NAME).exists()


def test_a_truncated_upload_keeps_the_workspace_as_it_was(tmp_path: Path, archive: Path) -> None:
    desk = new_desk(tmp_path)
    with signed_in(desk) as visitor:
        state, _ = _import(desk, visitor, archive)
        assert state["state"] == "done"
        with _open(desk) as workspace:
            before = archive_stats(workspace)
        cut = archive.read_bytes()[: archive.stat().st_size // 2]
        answer = visitor.post(
            f"/archive/upload?csrf={desk.keys.csrf}",
            files={"archive": ("x.zip", cut, "application/zip")},
            follow_redirects=False,
        )
        state = _wait(visitor, answer.headers["location"])
        assert state["state"] == "failed"
        page = visitor.get(answer.headers["location"])
        assert 'role="alert"' in page.text
        # The file is named as the person chose it, not by the desk's temporary path.
        assert "x.zip" in page.text and "uploaded-" not in page.text
        with _open(desk) as workspace:
            assert archive_stats(workspace) == before
        # The failed upload is not kept; the workspace still reads its first archive.
        assert list((desk.workspace_path / "archives").glob("*.zip")) == []
        assert visitor.get("/archive/overview").status_code == 200


class _open:
    """The desk's workspace, opened and closed around a block."""

    def __init__(self, desk: Desk) -> None:
        self.workspace = Workspace.open(desk.workspace_path, create=False)

    def __enter__(self) -> Workspace:
        return self.workspace

    def __exit__(self, *exc: object) -> None:
        self.workspace.close()


def test_the_desk_refuses_to_import_while_the_cli_imports(tmp_path: Path, archive: Path) -> None:
    desk = new_desk(tmp_path)
    desk.workspace_path.mkdir(parents=True)
    with (
        task_lock(desk.workspace_path, "import", "'departures archive import' is importing"),
        signed_in(desk) as visitor,
    ):
        page = visitor.post("/archive/path", data={"path": str(archive), "csrf": desk.keys.csrf})
    assert page.status_code == 400
    assert "This workspace is busy: &#39;departures archive import&#39; is importing" in page.text
    assert "Wait until it has finished" in page.text


def test_the_cli_refuses_to_import_or_plan_while_the_desk_works(
    tmp_path: Path, archive: Path
) -> None:
    desk = new_desk(tmp_path)
    with signed_in(desk) as visitor:
        assert _import(desk, visitor, archive)[0]["state"] == "done"
    with desk.lock("plan", "choosing the posts to publish"):
        result = run_cli("--workspace", str(desk.workspace_path), "archive", "import", str(archive))
    assert result.returncode == 1
    assert result.stderr.startswith(
        "Error: This workspace is busy: the desk is choosing the posts to publish (process "
    )
    assert (desk.workspace_path / DB_NAME).exists()  # an existing workspace is never removed
    with desk.lock("import", "importing an archive"):
        for args in (["migrate", "plan"], ["migrate", "alt-text", "import", str(archive)]):
            refused = run_cli("--workspace", str(desk.workspace_path), *args)
            assert refused.returncode == 1
            assert "Error: This workspace is busy: the desk is importing an archive" in (
                refused.stderr
            )
    planned = run_cli("--workspace", str(desk.workspace_path), "migrate", "plan")
    assert planned.returncode == 0, planned.stderr


def test_plan_leave_out_and_alt_text_through_the_desk(tmp_path: Path, archive: Path) -> None:
    desk = new_desk(tmp_path)
    with signed_in(desk) as visitor:
        assert _import(desk, visitor, archive)[0]["state"] == "done"
        counted = visitor.get("/choose/counts?shown=1&originals=on&min_likes=0")
        assert "would move" in counted.text
        answer = visitor.post(
            "/choose",
            data={"csrf": desk.keys.csrf, "shown": "1", "originals": "on", "threads": "on"},
            follow_redirects=False,
        )
        assert _wait(visitor, answer.headers["location"])["state"] == "done"
        with _open(desk) as workspace:
            planned = [r[0] for r in workspace.conn.execute("SELECT tweet_id FROM plan_posts")]
            kinds = {r[0] for r in workspace.conn.execute("SELECT DISTINCT kind FROM plan_posts")}
        assert planned and kinds <= {"original", "thread"}
        # The same choices the CLI records: `migrate plan --again` would repeat them.
        answer = visitor.post(
            "/choose/leave-out",
            data={"csrf": desk.keys.csrf, "tweet": str(planned[0])},
            follow_redirects=False,
        )
        assert _wait(visitor, answer.headers["location"])["state"] == "done"
        with _open(desk) as workspace:
            left = {r[0] for r in workspace.conn.execute("SELECT tweet_id FROM plan_posts")}
        assert planned[0] not in left
        page = visitor.get("/choose")
        assert "Left out by you" in page.text

        images = visitor.get("/images")
        assert " images described" in images.text
        tweet = images.text.split('name="tweet" value="', 1)[1].split('"', 1)[0]
        position = images.text.split('name="position" value="', 1)[1].split('"', 1)[0]
        too_long = visitor.post(
            "/images/alt",
            data={"csrf": desk.keys.csrf, "tweet": tweet, "position": position, "alt": "x" * 3000},
            headers={"accept": "application/json"},
        )
        assert too_long.status_code == 400
        assert "over Bluesky's limit" in too_long.json()["message"]
        saved = visitor.post(
            "/images/alt",
            data={"csrf": desk.keys.csrf, "tweet": tweet, "position": position, "alt": "A tree"},
            headers={"accept": "application/json"},
        )
        assert saved.json()["ok"] is True
        assert saved.json()["progress"].startswith("1 of ")
        exported = visitor.get("/images/alt-text.csv")
        assert "A tree" in exported.text
        # The CSV round trip: the edited spreadsheet goes back in.
        edited = exported.text.replace("A tree", "An old oak tree").encode("utf-8")
        back = visitor.post(
            f"/images/import?csrf={desk.keys.csrf}",
            files={"csv": ("alt-text.csv", edited, "text/csv")},
        )
        assert back.status_code == 200
        assert "The spreadsheet was read: 1 alt text changed." in back.text
        with _open(desk) as workspace:
            alt = workspace.conn.execute(
                "SELECT alt FROM alt_texts WHERE tweet_id = ?", (int(tweet),)
            ).fetchone()[0]
        assert alt == "An old oak tree"


def _form(**values: str) -> ImmutableMultiDict[str, str]:
    return ImmutableMultiDict(values)


def test_an_unticked_box_means_no_when_the_form_was_shown() -> None:
    base = dict(DEFAULT_CHOICES)
    chosen = choices_from_form(_form(shown="1", originals="on"), base)
    assert chosen["originals"] is True
    assert chosen["threads"] is False and chosen["quotes"] is False
    # A count link without the form keeps the stored choices for what it does not say.
    assert choices_from_form(_form(min_likes="5"), base)["threads"] is True


def test_the_form_reads_dates_numbers_and_lists() -> None:
    chosen = choices_from_form(
        _form(shown="1", since="2020-01-31", top="10", hashtags="#climate, fairtrade ,"),
        dict(DEFAULT_CHOICES),
    )
    assert chosen["since"] == "2020-01-31"
    assert chosen["top"] == 10
    assert chosen["hashtags"] == ["climate", "fairtrade"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"since": "31/31/2020"}, "is not a date"),
        ({"min_likes": "-3"}, "is not a whole number"),
        ({"top": "0"}, "is not a whole number"),
        ({"since": "2021-01-01", "until": "2020-01-01"}, "The first day is after the last day"),
    ],
)
def test_bad_choices_are_one_clear_sentence(values: dict[str, str], message: str) -> None:
    with pytest.raises(ChoiceError) as caught:
        choices_from_form(_form(shown="1", **values), dict(DEFAULT_CHOICES))
    assert message in caught.value.one_line()
