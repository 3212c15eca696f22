"""What a newcomer meets at the terminal (issue 16): exact texts and stored values.

Alt text with quotation marks through Excel's CSVs, server addresses without ``https://``,
plans that keep a good plan and record their choices, dates as Belgians type them,
``--workspace`` after the command, the separator of the alt-text CSV, "Next:" lines, counts
and plurals, and commands that leave no empty workspace behind.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from archive_builders import (
    ACCOUNT_ID,
    USERNAME,
    account_item,
    photo,
    snowflake,
    tweet,
    write_archive,
    ytd,
)
from departures.commands.options import normalise_server, parse_day, plain_time, plural
from departures.migrate.alttext import (
    default_separator,
    export_alt_texts,
    import_alt_texts,
    separator_for_locale,
)
from departures.workspace import Workspace
from helpers.cli import run_main as run

BASE_MS = 1_700_000_000_000
SELF = {"in_reply_to_user_id_str": ACCOUNT_ID, "in_reply_to_screen_name": USERNAME}
QUOTED_ALT = 'Protest banner reading "Leave X together", held by two volunteers'


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Two stand-alone tweets (one with a photo), a three-tweet thread, two followings."""
    ids = {n: snowflake(BASE_MS + i * 60_000) for i, n in enumerate(["A", "P", "T1", "T2", "T3"])}
    text = "Banner day https://t.co/p"
    tweets = [
        tweet(ids["A"], "We leave X today", favorite_count="9"),
        tweet(ids["P"], text, media=[photo(text, "https://t.co/p", "KEYP", ids["P"])]),
        tweet(ids["T1"], "1/ Why we leave"),
        tweet(ids["T2"], "2/ Because", in_reply_to_status_id_str=ids["T1"], **SELF),
        tweet(ids["T3"], "3/ Bye", in_reply_to_status_id_str=ids["T2"], **SELF),
    ]
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in tweets]),
        "following.js": ytd(
            "following.part0",
            [{"following": {"accountId": "301"}}, {"following": {"accountId": "302"}}],
        ),
        f"tweets_media/{ids['P']}-KEYP.jpg": _jpeg(),
    }
    return write_archive(tmp_path / "archive", files), ids


@pytest.fixture
def imported(
    archive: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Path, dict[str, str]]:
    folder, ids = archive
    ws = tmp_path / "ws"
    code, _, err = run(["archive", "import", str(folder), "--workspace", str(ws)], capsys)
    assert code == 0, err
    return ws, ids


def _plan_rows(ws: Path) -> list[str]:
    workspace = Workspace.open(ws)
    try:
        return [r[0] for r in workspace.conn.execute("SELECT key FROM plan_posts ORDER BY seq")]
    finally:
        workspace.close()


# --- 1. alt text with quotation marks --------------------------------------------------------


def _excel_csv(rows: list[list[str]], separator: str) -> str:
    """A CSV as Excel saves it: every cell with a quote quoted, quotes doubled, CRLF lines."""

    def cell(value: str) -> str:
        if any(c in value for c in (separator, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(separator.join(cell(c) for c in row) + "\r\n" for row in rows)


@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("encoding", ["utf-8-sig", "cp1252"])
def test_alt_text_with_doubled_quotes_round_trips_byte_for_byte(
    imported: tuple[Path, dict[str, str]], separator: str, encoding: str
) -> None:
    ws_path, ids = imported
    ws = Workspace.open(ws_path)
    name = f"{ids['P']}-KEYP.jpg"
    target = ws_path / "alt.csv"
    target.write_bytes(
        _excel_csv(
            [["tweet_id", "media_file", "alt"], ["1,72455E+18", name, QUOTED_ALT]], separator
        ).encode(encoding)
    )
    result = import_alt_texts(ws, target)
    assert (result.updated, result.warnings) == (1, [])
    [(stored,)] = ws.conn.execute("SELECT alt FROM alt_texts").fetchall()
    assert stored.encode() == QUOTED_ALT.encode()
    # And back out: our own export, read by the import again, changes nothing.
    export_alt_texts(ws, target, separator=";")
    assert f'"{QUOTED_ALT.replace(chr(34), chr(34) * 2)}"'.encode() in target.read_bytes()
    again = import_alt_texts(ws, target)
    assert (again.updated, again.unchanged) == (0, 1)
    ws.close()


def test_alt_text_with_line_breaks_keeps_plain_newlines(
    imported: tuple[Path, dict[str, str]],
) -> None:
    ws_path, ids = imported
    ws = Workspace.open(ws_path)
    target = ws_path / "alt.csv"
    alt = 'Line one "quoted"\nline two'
    rows = [["tweet_id", "media_file", "alt"], [ids["P"], f"{ids['P']}-KEYP.jpg", alt]]
    target.write_bytes(_excel_csv(rows, ";").replace("\n", "\r\n").encode("utf-8-sig"))
    import_alt_texts(ws, target)
    assert ws.conn.execute("SELECT alt FROM alt_texts").fetchone()[0] == alt
    ws.close()


# --- 6. the separator of the alt-text CSV ----------------------------------------------------


@pytest.mark.parametrize(
    ("locale_name", "separator"),
    [
        ("nl_BE.UTF-8", ";"),
        ("fr_BE.UTF-8", ";"),
        ("de_DE.UTF-8", ";"),
        ("nl-NL", ";"),
        ("fr_FR@euro", ";"),
        ("en_BE.UTF-8", ";"),
        ("en_US.UTF-8", ","),
        ("en_GB", ","),
        ("C.UTF-8", ","),
        ("POSIX", ","),
        ("", ","),
        (None, ","),
    ],
)
def test_separator_follows_the_locale(locale_name: str | None, separator: str) -> None:
    assert separator_for_locale(locale_name) == separator


def test_default_separator_reads_the_variables_in_posix_order() -> None:
    assert default_separator({"LANG": "nl_BE.UTF-8"}) == ";"
    assert default_separator({"LANG": "nl_BE.UTF-8", "LC_ALL": "en_US.UTF-8"}) == ","
    assert default_separator({"LANG": "en_US.UTF-8", "LC_NUMERIC": "fr_BE.UTF-8"}) == ";"
    assert default_separator({}) == ","


def test_alt_text_export_uses_the_locale_or_the_chosen_separator(
    imported: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, _ = imported
    target = ws / "alt.csv"
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_NUMERIC", raising=False)
    monkeypatch.setenv("LANG", "nl_BE.UTF-8")
    code, out, _ = run(
        ["--workspace", str(ws), "migrate", "alt-text", "export", str(target)], capsys
    )
    assert code == 0
    assert out == (
        f"Wrote 1 image or video to {target} (columns separated by semicolons).\n"
        f"Next: fill the 'alt' column, then: departures migrate alt-text import {target}\n"
    )
    assert target.read_bytes().startswith(
        b"\xef\xbb\xbftweet_id;media_file;alt;type;date;url;text\r\n"
    )
    code, out, _ = run(
        ["--workspace", str(ws), "migrate", "alt-text", "export", str(target), "--separator",
         "comma"],
        capsys,
    )  # fmt: skip
    assert "(columns separated by commas)" in out
    assert target.read_text(encoding="utf-8-sig").startswith("tweet_id,media_file,alt,")
    code, out, _ = run(
        ["--workspace", str(ws), "migrate", "alt-text", "import", str(target)], capsys
    )
    assert out == (
        "Alt texts: 0 set, 0 removed, 1 unchanged; 0 planned posts updated.\n"
        "Next: departures migrate preview (check the images and their descriptions)\n"
    )


# --- 2. server addresses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("bsky.social", "https://bsky.social"),
        (" bsky.social/ ", "https://bsky.social"),
        ("http://localhost:2581", "http://localhost:2581"),
        ("https://pds.example.org/", "https://pds.example.org"),
        ("localhost:2581", "https://localhost:2581"),
    ],
)
def test_a_server_without_scheme_gains_https(typed: str, meant: str) -> None:
    assert normalise_server(typed) == meant


def _child(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DEPARTURES_CONFIG_DIR": str(tmp_path / "config"), **env}
    for name in ("DEPARTURES_DEBUG", "DEPARTURES_APP_PASSWORD", "DEPARTURES_SERVICE"):
        environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "departures.cli", *args],
        capture_output=True,
        text=True,
        input="",
        timeout=120,
        env=environment,
        cwd=tmp_path,
    )


def test_login_with_a_bad_service_is_one_line_and_asks_no_password(tmp_path: Path) -> None:
    bad = _child(["login", "--handle", "our-ngo.org", "--service", "ftp://bsky.social"], tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--service': 'ftp://bsky.social' is not a server address; "
        "write it like https://bsky.social"
    )
    # No scheme: https:// is added; nothing answers there, which is said before any password.
    gone = _child(["login", "--handle", "our-ngo.org", "--service", "127.0.0.1:9"], tmp_path)
    assert gone.returncode == 1
    assert gone.stderr.startswith("Error: Cannot reach the Bluesky server at https://127.0.0.1:9")
    assert len(gone.stderr.strip().splitlines()) == 1
    assert "App password" not in gone.stdout + gone.stderr
    assert "Traceback" not in gone.stdout + gone.stderr


# --- 3. plans that match nothing, and choices that are recorded ------------------------------


def test_a_plan_matching_nothing_keeps_the_plan_unless_replace(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    ws_arg = ["--workspace", str(ws)]
    assert run([*ws_arg, "migrate", "plan"], capsys)[0] == 0
    before = _plan_rows(ws)
    assert len(before) == 5
    code, out, _ = run([*ws_arg, "migrate", "plan", "--since", "2027-01-01"], capsys)
    assert code == 0
    assert out == (
        "Nothing is planned: loosen the filters (see departures migrate plan --help). These "
        "choices match no tweet to publish, so the stored plan of 5 posts to publish stays as "
        "it was; --replace would empty it.\n"
    )
    assert _plan_rows(ws) == before
    code, _, err = run([*ws_arg, "migrate", "plan", "--since", "2027-01-01", "--json"], capsys)
    assert code == 1
    assert err.startswith("Error: These choices match no tweet to publish, so the stored plan")
    assert _plan_rows(ws) == before
    code, out, _ = run([*ws_arg, "migrate", "plan", "--since", "2027-01-01", "--replace"], capsys)
    assert code == 0 and "Nothing is planned: loosen the filters" in out
    assert _plan_rows(ws) == []


def test_every_plan_records_its_choices_and_again_repeats_them(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, ids = imported
    ws_arg = ["--workspace", str(ws)]
    code, out, _ = run(
        [*ws_arg, "migrate", "plan", "--min-likes", "5", "--footer", "From X", "--since",
         "14/11/2023"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "These choices are recorded: 'departures migrate plan --again' repeats them." in out
    assert _plan_rows(ws) == [ids["A"] + ":0"]
    workspace = Workspace.open(ws)
    [(choices,)] = workspace.conn.execute("SELECT choices FROM plan_choices").fetchall()
    workspace.close()
    stored = orjson.loads(choices)
    assert (stored["since"], stored["min_likes"], stored["footer"]) == ("2023-11-14", 5, "From X")

    run([*ws_arg, "migrate", "plan"], capsys)  # something else in between
    assert len(_plan_rows(ws)) == 5
    run([*ws_arg, "migrate", "plan", "--min-likes", "5", "--footer", "From X"], capsys)
    code, out, err = run([*ws_arg, "migrate", "plan", "--again"], capsys)
    assert code == 0
    assert err.startswith("Repeating the choices of the plan of ")
    assert err.rstrip().endswith(": --min-likes 5 --footer 'From X'")
    assert _plan_rows(ws) == [ids["A"] + ":0"]

    code, _, err = run([*ws_arg, "migrate", "plan", "--again", "--top", "3"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "Error: --again repeats the last plan's choices; leave out --top or leave out --again"
    )


def test_again_without_a_recorded_plan_says_what_to_do(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, _, err = run(["--workspace", str(ws), "migrate", "plan", "--again"], capsys)
    assert code == 1
    assert err == (
        f"Error: No plan of {ws} has recorded its choices yet. Run 'departures migrate plan' "
        "with your choices first.\n"
    )


# --- 4. plain words, dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", ["01/12/2025", "1/12/2025", "1-12-2025", "01-12-2025", "1.12.2025", "2025-12-01"]
)
def test_dates_in_the_forms_belgians_type(typed: str) -> None:
    assert parse_day(typed).isoformat() == "2025-12-01"


def test_a_date_in_no_known_form_shows_the_expected_one(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, _, err = run(["--workspace", str(ws), "migrate", "plan", "--since", "12/31/2025"], capsys)
    assert code == 2
    assert err.splitlines()[-1] == (
        "Error: Invalid value for '--since': '12/31/2025' is not a date; write it as "
        "DD/MM/YYYY (for example 31/12/2019) or YYYY-MM-DD (2019-12-31)"
    )


def test_plain_times_have_no_iso_z() -> None:
    assert plain_time("2023-11-14T22:13:20Z") == "2023-11-14 22:13 UTC"
    assert plain_time("2023-11-14T22:13:20+00:00") == "2023-11-14 22:13 UTC"
    assert plain_time("2023-11-14") == "2023-11-14"
    assert plain_time(None) == "-"


def test_plan_summary_speaks_of_posts_an_hour_not_points(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, out, _ = run(["--workspace", str(ws), "migrate", "plan"], capsys)
    assert code == 0
    flat = " ".join(out.replace("│", " ").split())
    assert "estimated, at most about 1,600 posts an hour and 11,600 a day, Bluesky's limit" in flat
    assert "points" not in flat and "0 s" not in flat
    assert "duration < 1 min estimated" in flat
    for jargon in ("PDS", "AppView", "429"):
        assert jargon not in flat


def test_help_texts_carry_no_jargon(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["migrate", "run"],
        ["migrate", "verify"],
        ["migrate", "plan"],
        ["audience", "match"],
        ["login"],
    ):
        code, out, _ = run([*command, "--help"], capsys)
        assert code == 0
        for jargon in ("points/h", "AppView", "PDS", "429s", "NetworkError"):
            assert jargon not in out, (command, jargon)


def test_archive_summary_in_plain_words(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, out, _ = run(["--workspace", str(ws), "archive", "stats"], capsys)
    assert code == 0
    assert (
        "  tweets                   5  (3 originals, 2 replies in your own threads, 0 replies "
        "to others, 0 retweets, 0 quotes)\n" in out
    )
    assert "  media                    1  (0 files missing)\n" in out
    assert "(accounts whose @name the archive reveals, to find them on Bluesky)" in out
    assert "->" not in out and "Z\n" not in out
    assert "  first tweet 2023-11-14, last tweet 2023-11-14\n" in out
    assert out.endswith("Next: departures migrate plan (choose what to publish on Bluesky)\n")


def test_status_explains_blocked(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    run(["--workspace", str(ws), "migrate", "plan"], capsys)
    code, out, _ = run(["--workspace", str(ws), "migrate", "status"], capsys)
    assert code == 0
    assert out.splitlines()[0] == (
        "5 planned posts: 0 published, 5 still to publish, 0 failed, 0 blocked (blocked: a "
        "reply or quote of a post that failed, published once that one is)."
    )
    assert "Bluesky allows about 1,600 posts an hour and 11,600 a day" in out
    assert out.endswith("Next: departures migrate run (it resumes where it stopped)\n")


# --- 5. --workspace after the command ----------------------------------------------------------


def test_workspace_option_after_the_command(
    archive: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder, _ = archive
    after, before, env = tmp_path / "after", tmp_path / "before", tmp_path / "env"
    assert run(["archive", "import", str(folder), "--workspace", str(after)], capsys)[0] == 0
    assert (after / "workspace.db").exists()
    assert run(["--workspace", str(before), "archive", "import", str(folder)], capsys)[0] == 0
    assert (before / "workspace.db").exists()
    monkeypatch.setenv("DEPARTURES_WORKSPACE", str(env))
    assert run(["archive", "import", str(folder)], capsys)[0] == 0
    assert (env / "workspace.db").exists()
    # After the command it wins over the one before it and over the variable.
    code, out, _ = run(
        ["--workspace", str(before), "migrate", "plan", "--json", "--workspace", str(after)],
        capsys,
    )
    assert code == 0 and orjson.loads(out)["posts"] == 5
    assert len(_plan_rows(after)) == 5 and _plan_rows(before) == [] and _plan_rows(env) == []


# --- 7. Next: lines, audience before any match -------------------------------------------------


def test_import_and_preview_say_what_comes_next(
    archive: tuple[Path, dict[str, str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = archive
    ws = tmp_path / "ws"
    code, out, _ = run(["--workspace", str(ws), "archive", "import", str(folder)], capsys)
    assert code == 0
    assert out.endswith("Next: departures migrate plan (choose what to publish on Bluesky)\n")
    run(["--workspace", str(ws), "migrate", "plan"], capsys)
    code, out, _ = run(["--workspace", str(ws), "migrate", "preview"], capsys)
    assert code == 0
    # 5 posts: 2 stand-alone and one thread of 3 (not "5 posts in 3 threads").
    assert (
        f"Preview: {ws.resolve() / 'preview.html'} (5 posts: 2 stand-alone posts and 1 thread)\n"
        in out
    )
    assert out.endswith(
        "Next: open the page in your browser; then departures migrate alt-text export "
        "(describe your images) or departures migrate run (publish)\n"
    )
    page = (ws / "preview.html").read_text(encoding="utf-8")
    assert "<b>5</b> Bluesky posts: <b>2</b> stand-alone, <b>1</b> thread (" in page
    assert "About <b>under a minute</b> of publishing (Bluesky allows about 1,600 posts" in page


def test_audience_review_before_any_match_says_to_match_first(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, out, _ = run(["--workspace", str(ws), "audience", "review"], capsys)
    assert code == 0
    assert out == (
        "There is nothing to review yet: no account has been matched.\n"
        "Next: departures audience match (it finds the candidates to review)\n"
    )


def test_audience_match_says_it_skipped_the_directory_and_why_it_searches_few(
    imported: tuple[Path, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, _ = imported
    monkeypatch.delenv("DEPARTURES_DIRECTORY", raising=False)
    # Nothing to search: the AppView at this address is never asked.
    code, out, _ = run(
        ["--workspace", str(ws), "audience", "match", "--appview", "127.0.0.1:9"], capsys
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Directory: skipped, as no --directory was given (a coalition's directory holds "
        "people who linked their X and Bluesky accounts themselves: the surest matches)."
    )
    assert lines[1] == (
        "Searching 0 of your 2 accounts you followed: the archive gives only a number for 2, "
        "without the @name to search for (describe them with 'departures audience "
        "import-names FILE')."
    )


# --- 8. counts and plurals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "word", "expected"),
    [
        (1, "image", "1 image"),
        (2, "image", "2 images"),
        (1, "quote", "1 quote"),
        (3, "warning", "3 warnings"),
        (2, "reply", "2 replies"),
        (0, "day", "0 days"),
        (1600, "post", "1,600 posts"),
    ],
)
def test_plurals(count: int, word: str, expected: str) -> None:
    assert plural(count, word) == expected


def test_top_says_how_many_posts_and_threads_it_kept(
    imported: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = imported
    code, out, _ = run(
        ["--workspace", str(ws), "migrate", "plan", "--replies", "--top", "2"], capsys
    )
    assert code == 0
    assert (
        "--top 2: the 2 posts and threads with the most likes and reposts (4 tweets, as a "
        "thread keeps all its tweets).\n" in out
    )


def test_ctrl_c_during_an_import_says_nothing_was_imported(
    archive: tuple[Path, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import departures.archive.importer as importer

    folder, _ = archive
    ws = tmp_path / "ws"

    def interrupted(*_args: Any, **_kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(importer, "import_archive", interrupted)
    code, _, err = run(["--workspace", str(ws), "archive", "import", str(folder)], capsys)
    assert code == 130
    assert err == (
        "Error: Import stopped: nothing was imported (the workspace is as it was before). "
        f"Run 'departures archive import {folder}' again; it starts from the beginning.\n"
    )
    assert not ws.exists()  # no empty workspace left behind by a first import


def test_stats_of_an_empty_workspace_says_why_it_shows_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = tmp_path / "ws"
    Workspace.open(ws).close()  # as an import stopped before the fix left it
    code, out, _ = run(["--workspace", str(ws), "archive", "stats"], capsys)
    assert code == 0
    assert out.endswith(
        f"No archive has been imported into {ws} yet (an import that was stopped or failed "
        "keeps nothing), so everything is 0.\nNext: departures archive import PATH\n"
    )


# --- 9. no empty workspace, no empty first line ---------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["migrate", "status"], ["audience", "review"], ["archive", "import", "nothere.zip"]],
)
def test_commands_leave_no_empty_workspace_behind(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    ws = tmp_path / "ws"
    code, _, err = run(["--workspace", str(ws), *command], capsys)
    assert code == 1 and err.startswith("Error: ")
    assert not ws.exists()
    code, _, err = run(["--workspace", str(ws), "migrate", "plan"], capsys)
    assert err.startswith(f"Error: No workspace at {ws}.")


def test_error_output_does_not_start_with_an_empty_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    result = _child(
        ["--workspace", str(tmp_path / "ws"), "archive", "import", str(broken)], tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "ws").exists()


def test_an_unreachable_search_service_names_no_exception_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atproto_client.exceptions import NetworkError

    from departures.audience.appview import _unreachable

    monkeypatch.delenv("DEPARTURES_DEBUG", raising=False)
    error = _unreachable("http://127.0.0.1:9", NetworkError())
    assert error.one_line() == (
        "Cannot reach the Bluesky AppView at http://127.0.0.1:9 (the service that finds "
        "accounts on Bluesky). Check the address and your internet connection, or pass "
        "another --appview URL."
    )
    monkeypatch.setenv("DEPARTURES_DEBUG", "1")  # the technical detail is for debugging
    assert "(NetworkError)" in _unreachable("http://127.0.0.1:9", NetworkError()).one_line()
