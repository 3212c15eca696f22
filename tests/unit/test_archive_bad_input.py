"""Bad input: one line naming the file and what to do, exit 1 when fatal, workspace untouched."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from archive_builders import account_item, rich_files, tweet, write_archive, ytd, zip_folder
from departures.archive.importer import import_archive
from departures.workspace import Workspace
from helpers.cli import CliResult, run_cli

NEW_TWEET = "1700000000000000000"


def _dump(ws_dir: Path) -> list[str]:
    ws = Workspace.open(ws_dir)
    try:
        return list(ws.conn.iterdump())
    finally:
        ws.close()


@pytest.fixture
def ws_dir(tmp_path: Path) -> Path:
    """A workspace that already holds an import, so 'unchanged' means something."""
    files, _ = rich_files()
    folder = write_archive(tmp_path / "first", files)
    ws = Workspace.open(tmp_path / "ws")
    import_archive(folder, ws)
    ws.close()
    return tmp_path / "ws"


def _run(ws_dir: Path, path: Path) -> CliResult:
    return run_cli("--workspace", str(ws_dir), "archive", "import", str(path))


def _assert_fatal(ws_dir: Path, path: Path, *fragments: str) -> str:
    before = _dump(ws_dir)
    result = _run(ws_dir, path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert _dump(ws_dir) == before, "a failed import changed the workspace"
    return lines[0]


def _good_then(tmp_path: Path, bad_name: str, bad: bytes) -> Path:
    """An archive whose first tweets part is fine (it gets written) and a later file is bad."""
    return write_archive(
        tmp_path / "bad",
        {
            "account.js": ytd("account.part0", [account_item()]),
            "tweets.js": ytd("tweets.part0", [{"tweet": tweet(NEW_TWEET, "new")}]),
            bad_name: bad,
        },
    )


def test_path_that_does_not_exist(ws_dir: Path, tmp_path: Path) -> None:
    _assert_fatal(ws_dir, tmp_path / "nope.zip", "nope.zip does not exist", "Pass the path")


def test_corrupt_zip(ws_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    path.write_bytes(b"PK\x03\x04" + b"this is not really a zip" * 50)
    _assert_fatal(ws_dir, path, "archive.zip is not a readable zip", "Download the archive again")


def test_truncated_zip(ws_dir: Path, tmp_path: Path) -> None:
    files, _ = rich_files()
    whole = zip_folder(write_archive(tmp_path / "a", files), tmp_path / "whole.zip")
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    _assert_fatal(ws_dir, cut, "cut.zip is not a readable zip", "corrupt or truncated")


def test_zip_member_with_corrupt_data(ws_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "flipped.zip"
    payload = ytd("tweets.part0", [{"tweet": tweet(NEW_TWEET, "x" * 5000)}])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/account.js", ytd("account.part0", [account_item()]))
        zf.writestr("data/tweets.js", payload)
    raw = bytearray(path.read_bytes())
    start = raw.index(b"data/tweets.js") + len("data/tweets.js")
    for offset in range(start + 10, start + 40):
        raw[offset] ^= 0x55
    path.write_bytes(bytes(raw))
    _assert_fatal(ws_dir, path, "data/tweets.js cannot be read", "corrupt or truncated")


def test_zip_slip_member_name(ws_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/account.js", ytd("account.part0", [account_item()]))
        zf.writestr("../../etc/evil.js", b"window.YTD.tweets.part0 = []")
    _assert_fatal(ws_dir, path, "unsafe file name '../../etc/evil.js'", "not an archive made by X")


def test_absurd_compression_ratio(ws_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/account.js", ytd("account.part0", [account_item()]))
        zf.writestr("data/tweets.js", b"window.YTD.tweets.part0 = [" + b" " * 4_000_000 + b"]")
    _assert_fatal(ws_dir, path, "data/tweets.js expands", "zip bomb")


def test_file_that_is_not_json_after_the_equals(ws_dir: Path, tmp_path: Path) -> None:
    path = _good_then(tmp_path, "tweets-part1.js", b"window.YTD.tweets.part1 = hello, world")
    _assert_fatal(ws_dir, path, "data/tweets-part1.js is not valid JSON after the '='")


def test_truncated_part(ws_dir: Path, tmp_path: Path) -> None:
    whole = ytd("tweets.part1", [{"tweet": tweet("1700000000000000001", "a" * 300)}])
    path = _good_then(tmp_path, "tweets-part1.js", whole[: len(whole) // 2])
    _assert_fatal(ws_dir, path, "data/tweets-part1.js is truncated", "incomplete")


def test_non_utf8_bytes(ws_dir: Path, tmp_path: Path) -> None:
    bad = ytd("tweets.part1", [{"tweet": tweet("1700000000000000001", "caf\u00e9")}])
    bad = bad.replace("é".encode(), b"\xe9")  # Latin-1, as an editor might save it
    path = _good_then(tmp_path, "tweets-part1.js", bad)
    _assert_fatal(ws_dir, path, "data/tweets-part1.js is not valid UTF-8", "download the archive")


def test_file_that_is_not_a_list(ws_dir: Path, tmp_path: Path) -> None:
    path = _good_then(tmp_path, "follower.js", b'window.YTD.follower.part0 = {"a": 1}')
    _assert_fatal(ws_dir, path, "data/follower.js does not hold a list")


def test_empty_folder(ws_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    _assert_fatal(ws_dir, tmp_path / "empty", "holds no X archive data")


def test_empty_zip(ws_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    _assert_fatal(ws_dir, path, "empty.zip holds no X archive data")


def test_archive_of_another_account(ws_dir: Path, tmp_path: Path) -> None:
    other = write_archive(
        tmp_path / "other",
        {
            "account.js": ytd("account.part0", [account_item("2000", "otherorg")]),
            "tweets.js": ytd("tweets.part0", [{"tweet": tweet(NEW_TWEET, "theirs")}]),
        },
        account_id="2000",
        username="otherorg",
    )
    _assert_fatal(ws_dir, other, "archive of @otherorg", "@fairharvest", "--workspace DIR")


def test_unknown_and_missing_files_are_warnings_naming_them(ws_dir: Path, tmp_path: Path) -> None:
    folder = write_archive(
        tmp_path / "warn",
        {"account.js": ytd("account.part0", [account_item()])},
        extra_manifest={"following.js": "following.js"},
    )
    (folder / "data" / "strange-thing.js").write_text("window.YTD.strange.part0 = []")
    result = _run(ws_dir, folder)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if "Warning:" in line]
    assert any("data/strange-thing.js: unknown file, not read" in w for w in warnings)
    assert any("data/following.js: named in the manifest but missing" in w for w in warnings)
