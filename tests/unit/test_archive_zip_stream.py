"""A zip imports like a folder: its members are inflated and cut a block at a time."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from archive_builders import account_item, rich_files, tweet, write_archive, ytd, zip_folder
from departures.archive import engine, importer
from departures.archive import source as source_module
from departures.archive import ytd as ytd_module
from departures.archive.importer import import_archive
from departures.archive.source import ZipSource
from departures.archive.ytd import iter_stream_chunks, parse_ytd, stream_pieces
from departures.errors import ArchiveError
from departures.workspace import Workspace

ITEMS = [{"tweet": tweet(str(1300000000000000000 + n), f"tweet {n} " + "x" * (n % 37))}
         for n in range(120)]  # fmt: skip


def _blocks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _parsed(pieces: Iterator[tuple[bool, bytes | bytearray]], name: str) -> list[Any]:
    items: list[Any] = []
    for whole, piece in pieces:
        items.extend(parse_ytd(piece, name) if whole else orjson.loads(piece))
    return items


@pytest.mark.parametrize("style", ["new", "old"])
@pytest.mark.parametrize("block", [1, 7, 64, 333, 4096, 1 << 20])
@pytest.mark.parametrize("chunk", [200, 1000])
def test_streamed_pieces_hold_every_item_once_in_order(style: str, block: int, chunk: int) -> None:
    data = ytd("tweets.part0", ITEMS, style=style)
    pieces = list(stream_pieces(_blocks(data, block), chunk))
    assert len(pieces) > 3 and not any(whole for whole, _ in pieces)
    assert _parsed(iter(pieces), "tweets.js") == ITEMS
    # Cut where the whole-buffer cutter cuts: the same pieces, whatever the block size.
    cuts = ytd_module.ytd_pieces(data, chunk)
    assert cuts is not None
    assert [p for _, p in pieces] == [ytd_module.piece_bytes(data, a, b) for a, b in cuts]


def test_the_first_piece_comes_before_the_member_is_read_through() -> None:
    data = ytd("tweets.part0", ITEMS)
    read = [0]

    def counted() -> Iterator[bytes]:
        for block in _blocks(data, 100):
            read[0] += len(block)
            yield block

    pieces = stream_pieces(counted(), 300)
    next(pieces)
    assert read[0] < len(data) // 4  # only about one piece was inflated
    biggest = max(len(piece) for _, piece in pieces)
    assert biggest < 300 + 2 * max(len(orjson.dumps(item)) for item in ITEMS) + 200


@pytest.mark.parametrize(
    "data",
    [
        ytd("tweets.part0", ITEMS[:2]),  # small: whole
        ytd("tweets.part0", list(range(1000))),  # not objects
        b"window.YTD.tweets.part0 = " + b" " * 3000,  # no array
        b"window.YTD.tweets.part0 = {}",
    ],
)
def test_files_that_cannot_be_cut_come_whole(data: bytes) -> None:
    pieces = list(stream_pieces(_blocks(data, 50), 1000))
    assert pieces == [(True, bytearray(data))]


def test_a_truncated_member_read_as_a_stream_gets_the_precise_error() -> None:
    data = ytd("tweets.part0", ITEMS)
    cut = data[: len(data) * 2 // 3]
    with pytest.raises(ArchiveError, match=r"tweets\.js is truncated"):
        for _ in iter_stream_chunks(_blocks(cut, 100), "tweets.js", lambda: cut, 300):
            pass


def _zip_with(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return path


def test_a_zip_member_streams_in_blocks_and_matches_its_whole_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "STREAM_BLOCK", 1000)
    data = ytd("tweets.part0", ITEMS)
    archive = ZipSource(_zip_with(tmp_path, "data/tweets.js", data))
    try:
        blocks = list(archive.open_stream("data/tweets.js"))
        assert len(blocks) > 3 and max(len(b) for b in blocks) <= 1000
        assert b"".join(blocks) == data == archive.read("data/tweets.js")
    finally:
        archive.close()


def test_a_zip_member_longer_than_its_header_says_is_refused_while_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "STREAM_BLOCK", 1000)
    archive = ZipSource(_zip_with(tmp_path, "data/tweets.js", ytd("tweets.part0", ITEMS)))
    try:
        archive._infos["data/tweets.js"].file_size = 5000  # a lying header
        handed_out = 0
        # zipfile itself stops at the declared size and then finds the checksum wrong.
        with pytest.raises(ArchiveError, match=r"larger than its zip header|cannot be read"):
            for block in archive.open_stream("data/tweets.js"):
                handed_out += len(block)
        assert handed_out <= 5000
    finally:
        archive.close()


def test_a_corrupt_zip_member_fails_with_advice_while_streaming(tmp_path: Path) -> None:
    data = ytd("tweets.part0", ITEMS)
    path = _zip_with(tmp_path, "data/tweets.js", data)
    raw = bytearray(path.read_bytes())
    middle = raw.find(b"PK\x03\x04") + 30 + len("data/tweets.js") + 200
    raw[middle : middle + 40] = bytes(40)  # damage the deflate stream
    path.write_bytes(bytes(raw))
    archive = ZipSource(path)
    try:
        with pytest.raises(ArchiveError, match="cannot be read") as caught:
            for _ in archive.open_stream("data/tweets.js"):
                pass
        assert caught.value.hint and "unzip it" in caught.value.hint
    finally:
        archive.close()


def _lines(ws: Workspace) -> list[str]:
    return sorted(
        line
        for line in ws.conn.iterdump()
        if "archive_imports" not in line and "_migrations" not in line and "archive_" not in line
    )


@pytest.mark.parametrize("workers", [False, True])
def test_a_zip_is_read_in_pieces_never_whole_and_stores_what_the_folder_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    files, _ = rich_files()
    folder = write_archive(tmp_path / "folder", files)
    archive = zip_folder(folder, tmp_path / "archive.zip")
    from_folder = Workspace.open(tmp_path / "from-folder")
    import_archive(folder, from_folder)

    monkeypatch.setattr(ytd_module, "CHUNK_BYTES", 300)
    monkeypatch.setattr(importer, "OTHER_CHUNK_BYTES", 300)
    monkeypatch.setattr(source_module, "STREAM_BLOCK", 64)
    if workers:
        monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setenv(engine.WORKERS_ENV, "2")
    else:
        monkeypatch.setenv(engine.WORKERS_ENV, "0")
    whole_reads: list[str] = []
    real_read = ZipSource.read

    def read(self: ZipSource, name: str) -> bytes:
        whole_reads.append(name.rsplit("/", 1)[-1])
        return real_read(self, name)

    monkeypatch.setattr(ZipSource, "read", read)
    from_zip = Workspace.open(tmp_path / "from-zip")
    import_archive(archive, from_zip)
    # Only the manifest and the account (read before the transaction) are read whole.
    assert set(whole_reads) <= {"manifest.js", "account.js"}
    assert _lines(from_zip) == _lines(from_folder)


def test_a_zip_tweets_member_that_breaks_midway_rolls_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ytd_module, "CHUNK_BYTES", 300)
    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setenv(engine.WORKERS_ENV, "2")
    whole = ytd("tweets.part1", ITEMS)
    folder = write_archive(tmp_path / "bad", {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", ITEMS[:3]),
        "tweets-part1.js": whole[: len(whole) * 2 // 3],
    })  # fmt: skip
    archive = zip_folder(folder, tmp_path / "bad.zip")
    ws = Workspace.open(tmp_path / "ws")
    with pytest.raises(ArchiveError, match=r"tweets-part1\.js is truncated"):
        import_archive(archive, ws)
    assert ws.conn.execute("SELECT COUNT(*) FROM tweets").fetchone() == (0,)


def test_a_zip_keeps_no_entry_for_its_media_files_but_knows_them(tmp_path: Path) -> None:
    path = tmp_path / "media.zip"
    media = [f"data/tweets_media/{n}-K{n}.jpg" for n in range(300)]
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/tweets.js", ytd("tweets.part0", ITEMS[:2]))
        for name in media:
            zf.writestr(name, b"\xff\xd8")
    archive = ZipSource(path)
    try:
        assert archive.names() == ["data/tweets.js"]
        assert len(archive._zip.filelist) == 1 and list(archive._zip.NameToInfo) == archive.names()
        assert len(archive.media_index()) == 300
        assert all(name in archive.media_index() for name in media)
        assert "data/tweets_media/1-K2.jpg" not in archive.media_index()
    finally:
        archive.close()


def test_an_unsafe_name_among_the_media_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("data/tweets.js", ytd("tweets.part0", ITEMS[:2]))
        zf.writestr("data/tweets_media/../../../evil.jpg", b"x")
    with pytest.raises(ArchiveError, match="unsafe file name"):
        ZipSource(path)
