"""The synthetic archive generator writes archives the way X does, quirks included."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from departures.samples.x_archive import SyntheticArchive, generate, snowflake_ms

PREFIX = re.compile(rb"^window\.(YTD\.\w+\.part\d+) = ")


def load_ytd(path: Path) -> tuple[str, list[Any]]:
    """The global name and the items of one ``window.YTD...`` data file."""
    raw = path.read_bytes()
    match = PREFIX.match(raw)
    assert match, f"{path.name} does not start with window.YTD...partN ="
    return match.group(1).decode(), orjson.loads(raw[match.end() :])


def load_manifest(data: Path) -> dict[str, Any]:
    raw = (data / "manifest.js").read_bytes()
    assert raw.startswith(b"window.__THAR_CONFIG = ")
    result: dict[str, Any] = orjson.loads(raw.split(b"=", 1)[1])
    return result


def tweets_of(data: Path) -> Iterator[dict[str, Any]]:
    manifest = load_manifest(data)
    for entry in manifest["dataTypes"]["tweets"]["files"]:
        _, items = load_ytd(data.parent / entry["fileName"])
        for item in items:
            yield item["tweet"]


def media_file_name(tweet: dict[str, Any], media: dict[str, Any]) -> str:
    """The file X puts in tweets_media/ for a media item (the rule in the format doc)."""
    if media["type"] == "photo":
        url = media["media_url_https"]
    else:
        mp4s = [v for v in media["video_info"]["variants"] if v["content_type"] == "video/mp4"]
        url = max(mp4s, key=lambda v: int(v["bitrate"]))["url"].split("?")[0]
    return f"{tweet['id_str']}-{url.rsplit('/', 1)[1]}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> SyntheticArchive:
    out = tmp_path_factory.mktemp("synthetic") / "archive"
    return generate(out, tweets=2500, seed=3, part_bytes=400_000)


def test_every_data_file_parses_after_its_prefix_and_matches_the_manifest(
    archive: SyntheticArchive,
) -> None:
    data = archive.path / "data"
    manifest = load_manifest(data)
    assert manifest["userInfo"]["userName"] == "synthetic_org"
    assert (archive.path / "Your archive.html").exists()
    seen = 0
    for entry in manifest["dataTypes"].values():
        for f in entry.get("files", []):
            path = archive.path / f["fileName"]
            glob, items = load_ytd(path)
            assert glob == f["globalName"]
            assert f["count"] == str(len(items))
            assert not path.read_bytes().endswith(b"\n"), "X writes no trailing newline"
            seen += 1
    assert seen >= 12


def test_files_use_x_spacing_and_empty_arrays(archive: SyntheticArchive) -> None:
    head = (archive.path / "data" / "tweets.js").read_bytes()[:3000]
    assert head.startswith(b'window.YTD.tweets.part0 = [\n  {\n    "tweet" : {\n')
    assert b'"symbols" : [ ]' in head
    assert (
        archive.path / "data" / "ip-audit.js"
    ).read_bytes() == b"window.YTD.ip_audit.part0 = [ ]"


def test_tweets_are_split_into_parts_at_about_part_bytes(archive: SyntheticArchive) -> None:
    files = load_manifest(archive.path / "data")["dataTypes"]["tweets"]["files"]
    assert len(files) == archive.tweet_parts >= 4
    for n, f in enumerate(files):
        name = "data/tweets.js" if n == 0 else f"data/tweets-part{n}.js"
        assert (f["fileName"], f["globalName"]) == (name, f"YTD.tweets.part{n}")
    sizes = [(archive.path / f["fileName"]).stat().st_size for f in files]
    assert all(390_000 <= s <= 400_000 for s in sizes[:-1]), sizes
    assert sum(int(f["count"]) for f in files) == 2500


def test_every_number_is_a_string_and_ids_are_snowflakes_of_created_at(
    archive: SyntheticArchive,
) -> None:
    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        else:
            assert not isinstance(value, int | float) or isinstance(value, bool), value

    ids = set()
    for tweet in tweets_of(archive.path / "data"):
        walk(tweet)
        created = datetime.strptime(tweet["created_at"], "%a %b %d %H:%M:%S %z %Y")
        assert snowflake_ms(int(tweet["id_str"])) // 1000 == created.timestamp()
        ids.add(tweet["id_str"])
    assert len(ids) == 2500


def test_entity_indices_point_at_their_text_in_the_escaped_full_text(
    archive: SyntheticArchive,
) -> None:
    escaped_before_entity = emoji_before_entity = checked = 0
    for tweet in tweets_of(archive.path / "data"):
        text = tweet["full_text"]
        assert not re.search(r"[<>]|&(?!amp;|lt;|gt;)", text), text
        ents = tweet["entities"]
        spans = [("#" + h["text"], h["indices"]) for h in ents["hashtags"]]
        spans += [("@" + m["screen_name"], m["indices"]) for m in ents["user_mentions"]]
        spans += [(u["url"], u["indices"]) for u in ents["urls"]]
        spans += [(m["url"], m["indices"]) for m in ents.get("media", [])]
        for expected, (start, end) in spans:
            assert text[int(start) : int(end)] == expected
            checked += 1
            before = text[: int(start)]
            escaped_before_entity += "&amp;" in before or "&lt;" in before or "&gt;" in before
            emoji_before_entity += any(ord(c) > 0xFFFF for c in before)
    assert checked > 2000
    assert escaped_before_entity > 10, "the escapes must shift some entity offsets"
    assert emoji_before_entity > 10, "astral emoji must precede some entities"


def test_the_quirky_kinds_of_tweet_are_all_present(archive: SyntheticArchive) -> None:
    tweets = list(tweets_of(archive.path / "data"))
    retweets = [t for t in tweets if t["full_text"].startswith("RT @")]
    assert len(retweets) == archive.retweets > 0
    assert any(t["full_text"].endswith("…") for t in retweets)
    assert all(t["entities"]["user_mentions"][0]["indices"][0] == "3" for t in retweets)
    quote_urls = [
        u["expanded_url"]
        for t in tweets
        for u in t["entities"]["urls"]
        if re.fullmatch(r"https://(twitter|x)\.com/\w+/status/\d+", u["expanded_url"])
    ]
    assert len(quote_urls) == archive.quotes > 0
    own = {t["id_str"] for t in tweets}
    self_replies = [t for t in tweets if t.get("in_reply_to_status_id_str") in own]
    assert len(self_replies) == archive.self_replies > 0
    mentions_only = [
        t for t in tweets if "in_reply_to_user_id_str" in t and "in_reply_to_status_id_str" not in t
    ]
    assert len(mentions_only) == archive.mentions_not_replies > 0
    assert any(
        "in_reply_to_user_id_str" in t and "in_reply_to_screen_name" not in t for t in tweets
    )
    assert any(m["id_str"] == "-1" for t in tweets for m in t["entities"]["user_mentions"])
    assert any("withheld_in_countries" in t for t in tweets)
    assert {"zxx", "qme", "art"} <= {t["lang"] for t in tweets}
    media = [m for t in tweets for m in t.get("extended_entities", {}).get("media", [])]
    assert {"photo", "video", "animated_gif"} <= {m["type"] for m in media}
    assert max(len(t.get("extended_entities", {}).get("media", [])) for t in tweets) == 4
    variants = [v for m in media if m["type"] == "video" for v in m["video_info"]["variants"]]
    assert any(
        "bitrate" not in v and v["content_type"] == "application/x-mpegURL" for v in variants
    )
    gifs = [m for m in media if m["type"] == "animated_gif"]
    assert all(m["video_info"]["variants"][0]["bitrate"] == "0" for m in gifs)


def test_edit_chains_name_all_versions_and_point_back_to_the_first(
    archive: SyntheticArchive,
) -> None:
    tweets = {t["id_str"]: t for t in tweets_of(archive.path / "data")}
    chains = [
        t
        for t in tweets.values()
        if len(t["edit_info"].get("initial", {}).get("editTweetIds", [])) > 1
    ]
    assert len(chains) == archive.edited_tweets > 0
    for first in chains:
        ids = first["edit_info"]["initial"]["editTweetIds"]
        assert ids[0] == first["id_str"]
        for later in ids[1:]:
            assert tweets[later]["edit_info"]["edit"]["initialTweetId"] == first["id_str"]
    assert archive.tweets_after_edit_collapse == 2500 - sum(
        len(t["edit_info"]["initial"]["editTweetIds"]) - 1 for t in chains
    )


def test_long_posts_link_to_their_truncated_tweet_by_creation_second(
    archive: SyntheticArchive,
) -> None:
    data = archive.path / "data"
    by_second: dict[int, list[dict[str, Any]]] = {}
    for tweet in tweets_of(data):
        by_second.setdefault(snowflake_ms(int(tweet["id_str"])) // 1000, []).append(tweet)
    _, notes = load_ytd(data / "note-tweet.js")
    assert len(notes) == archive.long_posts > 0
    shared_second = 0
    for item in notes:
        note = item["noteTweet"]
        created = datetime.strptime(note["createdAt"], "%Y-%m-%dT%H:%M:%S.%f%z")
        note_ms = int(created.timestamp() * 1000)
        candidates = by_second[note_ms // 1000]
        shared_second += len(candidates) > 1
        after = [t for t in candidates if snowflake_ms(int(t["id_str"])) > note_ms]
        tweet = min(after, key=lambda t: snowflake_ms(int(t["id_str"])))
        assert 13 <= snowflake_ms(int(tweet["id_str"])) - note_ms <= 41
        assert note["noteTweetId"] != tweet["id_str"]
        text = note["core"]["text"]
        assert len(text) > 280
        short = tweet["full_text"]
        assert short.endswith("…")
        plain = short[:-1].replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        assert text.startswith(plain)
        for url in note["core"]["urls"]:
            assert text[int(url["fromIndex"]) : int(url["toIndex"])] == url["shortUrl"]
        for tag in note["core"]["hashtags"]:
            assert text[int(tag["fromIndex"]) : int(tag["toIndex"])] == "#" + tag["text"]
    assert shared_second > 0, "some long posts must share their second with a thread reply"


def test_deleted_and_community_tweets_are_in_their_own_files(archive: SyntheticArchive) -> None:
    data = archive.path / "data"
    _, deleted = load_ytd(data / "deleted-tweets.js")
    _, community = load_ytd(data / "community-tweet.js")
    assert len(deleted) == archive.deleted_tweets > 0
    assert len(community) == archive.community_tweets > 0
    assert all("deleted_at" in d["tweet"] for d in deleted)
    assert all(c["tweet"]["community_id_str"] for c in community)
    timeline = {t["id_str"] for t in tweets_of(data)}
    assert not timeline & {d["tweet"]["id_str"] for d in deleted + community}


def test_media_files_exist_except_the_deliberately_missing_ones(archive: SyntheticArchive) -> None:
    data = archive.path / "data"
    present = {p.name for p in (data / "tweets_media").iterdir()}
    expected = [
        media_file_name(t, m)
        for t in tweets_of(data)
        for m in t.get("extended_entities", {}).get("media", [])
    ]
    assert len(expected) == archive.media_items
    missing = [name for name in expected if name not in present]
    assert len(missing) == archive.media_files_missing > 0
    assert len(present) == archive.media_files_written == len(expected) - len(missing)
    photo = next(name for name in present if name.endswith(".jpg"))
    with Image.open(data / "tweets_media" / photo) as img:
        assert img.format == "JPEG"


def test_zip_mode_writes_the_same_files_without_a_wrapper_folder(tmp_path: Path) -> None:
    folder = generate(tmp_path / "folder", tweets=300, seed=5)
    zipped = generate(tmp_path / "a.zip", tweets=300, seed=5, as_zip=True)
    assert zipped.path == tmp_path / "a.zip"
    assert not (tmp_path / "a.zip.staging").exists()
    with zipfile.ZipFile(zipped.path) as zf:
        names = set(zf.namelist())
        assert "data/manifest.js" in names and "Your archive.html" in names
        on_disk = {
            p.relative_to(folder.path).as_posix() for p in folder.path.rglob("*") if p.is_file()
        }
        assert names == on_disk
        assert zf.read("data/tweets.js") == (folder.path / "data" / "tweets.js").read_bytes()


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_the_same_seed_writes_the_same_archive_and_another_seed_does_not(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", tweets=400, seed=9).path
    b = generate(tmp_path / "b", tweets=400, seed=9).path
    c = generate(tmp_path / "c", tweets=400, seed=10).path
    assert _digest(a) == _digest(b) != _digest(c)
    za = generate(tmp_path / "a.zip", tweets=100, seed=9, as_zip=True).path
    zb = generate(tmp_path / "b.zip", tweets=100, seed=9, as_zip=True).path
    assert za.read_bytes() == zb.read_bytes()


def test_the_demo_profile_is_the_fictional_ngo_with_banner_images(tmp_path: Path) -> None:
    demo = generate(tmp_path / "demo", tweets=250, seed=0, profile="demo")
    data = demo.path / "data"
    assert load_manifest(data)["userInfo"]["displayName"] == "Fair Harvest Collective"
    tweets = list(tweets_of(data))
    assert len(tweets) == 250
    texts = " ".join(t["full_text"] for t in tweets)
    assert "fairharvest.example.org" in " ".join(
        u["expanded_url"] for t in tweets for u in t["entities"]["urls"]
    )
    assert "@SeedCommonsNet" in texts or "@RiverDeltaCoop" in texts
    assert {"en", "nl", "fr"} <= {t["lang"] for t in tweets}
    assert demo.long_posts > 0 and demo.self_replies > 0 and demo.media_files_written > 0
    banner = next(p for p in (data / "tweets_media").iterdir() if p.suffix == ".jpg")
    with Image.open(io.BytesIO(banner.read_bytes())) as img:
        assert img.size == (800, 450)


def test_an_empty_archive_has_empty_tweets_files(tmp_path: Path) -> None:
    empty = generate(tmp_path / "e", tweets=0)
    assert (empty.path / "data" / "tweets.js").read_bytes() == b"window.YTD.tweets.part0 = [ ]"
    assert load_ytd(empty.path / "data" / "note-tweet.js")[1] == []


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="profile"):
        generate(tmp_path / "x", tweets=1, profile="nope")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "full", tweets=1)


def test_the_utc_timestamps_are_plausible(archive: SyntheticArchive) -> None:
    first = next(tweets_of(archive.path / "data"))
    created = datetime.strptime(first["created_at"], "%a %b %d %H:%M:%S %z %Y")
    assert datetime(2014, 1, 1, tzinfo=UTC) < created < datetime(2026, 3, 1, tzinfo=UTC)
