"""The pure tweet transform: escapes, offsets, links, media links, kinds, dates, notes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from archive_builders import mention, photo, span, tweet, url_entity, ytd
from departures.archive.notes import (
    Note,
    _normalise,
    _normalised_head,
    choose_tweet,
    is_prefix_of_note,
    parse_note,
)
from departures.archive.tweets import (
    TweetContext,
    best_mp4,
    iso_created_at,
    render_text,
    tweet_rows,
    unescape,
)
from departures.archive.ytd import (
    array_pieces,
    iter_file_chunks,
    iter_ytd_chunks,
    parse_ytd,
    piece_bytes,
    ytd_pieces,
)
from departures.errors import ArchiveError

CTX = TweetContext(
    account_id=1000,
    source_file="data/tweets.js",
    media_dirs=("data/tweets_media/",),
    media_files=set(),
)


def _entities(rows: Any) -> dict[str, Any]:
    return orjson.loads(rows.tweet[3])  # type: ignore[no-any-return]


def test_unescape_decodes_exactly_amp_lt_gt_and_keeps_quotes() -> None:
    assert unescape("a &amp; b &lt;3 &gt; \"q\" 'x' &quot;") == "a & b <3 > \"q\" 'x' &quot;"
    # An escaped ampersand followed by "lt;" is an ampersand, not a "<".
    assert unescape("&amp;lt;") == "&lt;"


def test_offsets_are_mapped_before_unescaping() -> None:
    raw = "R&amp;D &gt; hype #science @alice https://t.co/abc"
    entities = {
        "hashtags": [{"text": "science", "indices": span(raw, "#science")}],
        "user_mentions": [mention(raw, "alice", "42")],
        "urls": [url_entity(raw, "https://t.co/abc", "https://example.org/r&d")],
    }
    out = render_text(raw, entities, [])
    assert out.text == "R&D > hype #science @alice https://example.org/r&d"
    (tag,) = out.hashtags
    assert out.text[tag["start"] : tag["end"]] == "#science"
    (who,) = out.mentions
    assert out.text[who["start"] : who["end"]] == "@alice" and who["id"] == 42
    (link,) = out.urls
    assert out.text[link["start"] : link["end"]] == "https://example.org/r&d"
    assert link["tco"] == "https://t.co/abc"


def test_astral_emoji_count_as_one_code_point_in_offsets() -> None:
    raw = "🌍🌱 &amp; 👩‍🌾 #harvest https://t.co/x1"
    entities = {
        "hashtags": [{"text": "harvest", "indices": span(raw, "#harvest")}],
        "urls": [url_entity(raw, "https://t.co/x1", "https://fair.example/harvest")],
    }
    out = render_text(raw, entities, [])
    assert out.text == "🌍🌱 & 👩‍🌾 #harvest https://fair.example/harvest"
    tag = out.hashtags[0]
    assert out.text[tag["start"] : tag["end"]] == "#harvest"
    assert tag["start"] == 9  # 2 emoji, space, &, space, 3-code-point family, space
    link = out.urls[0]
    assert out.text[link["start"] : link["end"]] == "https://fair.example/harvest"


def test_media_link_is_removed_and_trailing_space_trimmed() -> None:
    raw = "Our new field &amp; barn https://t.co/pic1"
    item = photo(raw, "https://t.co/pic1", "KEY1", "5")
    out = render_text(raw, {}, [item])
    assert out.text == "Our new field & barn"


def test_entity_cut_off_by_a_truncated_retweet_stays_text() -> None:
    raw = "RT @bob: long text https://t.co/abcd…"
    cut = {"url": "https://t.co/abcdef", "expanded_url": "https://e.org", "indices": ["19", "42"]}
    out = render_text(raw, {"urls": [cut]}, [])
    assert out.text == raw and out.urls == []


def test_created_at_becomes_iso_utc() -> None:
    assert iso_created_at("Fri Mar 06 13:02:05 +0000 2026") == "2026-03-06T13:02:05Z"
    assert iso_created_at("Fri Mar 06 13:02:05 +0100 2026") == "2026-03-06T12:02:05Z"


def test_best_mp4_ignores_hls_and_picks_highest_bitrate() -> None:
    info = {
        "variants": [
            {"bitrate": "632000", "content_type": "video/mp4", "url": "a.mp4"},
            {"content_type": "application/x-mpegURL", "url": "p.m3u8"},
            {"bitrate": "2176000", "content_type": "video/mp4", "url": "b.mp4"},
        ]
    }
    assert best_mp4(info) == ("b.mp4", 2176000)
    gif = {"variants": [{"bitrate": "0", "content_type": "video/mp4", "url": "g.mp4"}]}
    assert best_mp4(gif) == ("g.mp4", 0)


def test_kinds_from_the_archive_fields() -> None:
    rt = tweet("11", "RT @bob: hello there…", mentions=[mention("RT @bob: hi", "bob", "7")])
    own = tweet("12", "@fairharvest more", in_reply_to_status_id_str="11",
                in_reply_to_user_id_str="1000", in_reply_to_screen_name="fairharvest")  # fmt: skip
    other = tweet("13", "@bob yes", in_reply_to_status_id_str="99", in_reply_to_user_id_str="7")
    text = "Look https://t.co/q"
    quote = tweet("14", text, urls=[url_entity(text, "https://t.co/q",
                                                "https://twitter.com/bob/status/555")])  # fmt: skip
    at_not_reply = tweet("15", "@bob thanks for the visit", in_reply_to_user_id_str="7")
    kinds = [tweet_rows(t, CTX).tweet[4] for t in (rt, own, other, quote, at_not_reply)]  # type: ignore[union-attr]
    assert kinds == ["retweet", "reply_to_self", "reply_to_other", "quote", "original"]
    rows = tweet_rows(quote, CTX)
    assert rows is not None and rows.tweet[5] == 555


def test_reply_without_screen_name_keeps_the_user_id_and_reveals_no_pair() -> None:
    rows = tweet_rows(
        tweet("16", "@ghost hi", in_reply_to_status_id_str="9", in_reply_to_user_id_str="77"), CTX
    )
    assert rows is not None
    assert rows.tweet[8] == 77 and rows.tweet[9] is None
    assert rows.sightings == []


def test_mention_with_id_minus_one_has_no_id_and_reveals_no_pair() -> None:
    text = "thanks @nobody"
    rows = tweet_rows(tweet("17", text, mentions=[mention(text, "nobody", "-1")]), CTX)
    assert rows is not None
    assert _entities(rows)["mentions"][0]["id"] is None
    assert rows.sightings == []


def test_withheld_pseudo_lang_counts_and_sensitivity_are_kept() -> None:
    rows = tweet_rows(
        tweet("18", "🙂", lang="qme", withheld_in_countries=["DE"], possibly_sensitive=True), CTX
    )
    assert rows is not None
    row = dict(
        zip(("lang", "sens", "withheld", "countries", "fav", "rt"), rows.tweet[13:19], strict=True)
    )
    assert row == {"lang": "qme", "sens": 1, "withheld": 1, "countries": '["DE"]',
                   "fav": 3, "rt": 1}  # fmt: skip


def test_note_prefix_check_ignores_links_and_the_cut_word() -> None:
    assert is_prefix_of_note(
        "A long story about https://e.org soil and wat…", "A long story about soil and water."
    )
    assert not is_prefix_of_note("Something else enti…", "A long story about soil.")


def test_a_long_note_is_matched_on_its_head_like_on_its_whole() -> None:
    rng = random.Random(7)
    words = ["soil", "water", "https://e.org/a", "http://x.co/b?c=d", "\n", "  ", "…", "é"]
    for _ in range(300):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(0, 900)))
        whole = _normalise(text)
        for at_least in (0, 10, 280, 2000):
            head = _normalised_head(text, at_least)
            assert whole.startswith(head)
            assert len(head) > at_least or head == whole
    long_note = "A long story about soil. " + "More and more. " * 2000
    assert is_prefix_of_note("A long story about https://e.org soil…", long_note)
    assert not is_prefix_of_note("A long tale about soil and…", long_note)


def test_a_nearer_tweet_matching_only_once_normalised_still_wins() -> None:
    base = 1_700_000_000_000
    note_obj = Note(1, "x", base + 100, "Thread start https://e.org and much more text", {})
    nearer = (((base + 130) - 1288834974657) << 22, "Thread start  and much…")  # spacing differs
    farther = (((base + 400) - 1288834974657) << 22, "Thread start https://e.org and much…")
    assert choose_tweet(note_obj, [farther, nearer]) == nearer[0]


def test_note_goes_to_the_nearest_tweet_after_it_within_its_second() -> None:
    base = 1_700_000_000_000
    note_obj = Note(1, "x", base + 100, "Thread start and much more text", {})
    before = (((base + 50) - 1288834974657) << 22, "Thread start and much…")
    after = (((base + 130) - 1288834974657) << 22, "Thread start and much…")
    later = (((base + 400) - 1288834974657) << 22, "Thread start and much…")
    assert choose_tweet(note_obj, [later, before, after]) == after[0]


def test_note_entities_get_offsets_into_the_expanded_text() -> None:
    text = "Read https://t.co/n1 now #soil @alice"
    parsed = parse_note(
        {
            "noteTweetId": "5",
            "createdAt": "2024-01-30T08:14:27.000Z",
            "core": {
                "text": text,
                "urls": [{"shortUrl": "https://t.co/n1", "expandedUrl": "https://soil.example/a",
                          "displayUrl": "soil.example/a", "fromIndex": 5, "toIndex": 20}],
                "hashtags": [{"text": "soil", "fromIndex": 25, "toIndex": 30}],
                "mentions": [{"screenName": "alice", "fromIndex": 31, "toIndex": 37}],
            },
        }
    )  # fmt: skip
    assert parsed is not None
    assert parsed.text == "Read https://soil.example/a now #soil @alice"
    for key, expected in (("urls", "https://soil.example/a"), ("hashtags", "#soil"),
                          ("mentions", "@alice")):  # fmt: skip
        entity = parsed.entities[key][0]
        assert parsed.text[entity["start"] : entity["end"]] == expected


def _tweets_file(count: int) -> bytes:
    # One tweet's text holds what an item boundary looks like, escaped as JSON escapes it.
    items = [
        {"tweet": tweet(str(1300000000000000000 + n), f'n{n} }}, {{"tweet": x', lang="en")}
        for n in range(count)
    ]
    return ytd("tweets.part0", items, style="old")


def test_chunked_parse_yields_exactly_the_items_of_the_whole_parse() -> None:
    data = _tweets_file(60)
    chunks = list(iter_ytd_chunks(data, "data/tweets.js", chunk_bytes=700))
    assert len(chunks) > 5
    assert [i for chunk in chunks for i in chunk] == parse_ytd(data, "data/tweets.js")


def test_chunked_parse_of_bare_items_gives_the_same_items() -> None:
    data = ytd("tweet.part0", [tweet(str(1300000000000000000 + n), "x") for n in range(40)])
    chunks = list(iter_ytd_chunks(data, "data/tweet.js", chunk_bytes=200))
    assert [i for chunk in chunks for i in chunk] == parse_ytd(data, "data/tweet.js")


def test_a_first_key_that_also_appears_nested_still_gives_the_same_items() -> None:
    # Items whose first key ("id_str") is also the first key of nested mentions: a cut there
    # leaves brackets unbalanced, and the whole-file parse takes over.
    items = [
        {"id_str": str(n), "entities": {"user_mentions": [{"id_str": "1"}, {"id_str": "2"}]}}
        for n in range(60)
    ]
    data = ytd("tweet.part0", items)
    chunks = list(iter_ytd_chunks(data, "data/tweet.js", chunk_bytes=150))
    assert [i for chunk in chunks for i in chunk] == items


def test_chunked_parse_of_a_truncated_file_raises_the_whole_file_error() -> None:
    data = _tweets_file(60)
    with pytest.raises(ArchiveError, match=r"data/tweets\.js is truncated"):
        list(iter_ytd_chunks(data[: len(data) - 900], "data/tweets.js", chunk_bytes=700))


def test_chunked_parse_of_a_file_with_junk_after_the_array_raises() -> None:
    data = _tweets_file(60) + b"\nalert(1)"
    with pytest.raises(ArchiveError, match=r"data/tweets\.js has unexpected text after its data"):
        list(iter_ytd_chunks(data, "data/tweets.js", chunk_bytes=700))


def test_pieces_are_json_arrays_of_consecutive_items() -> None:
    data = _tweets_file(60)
    cuts = ytd_pieces(data, chunk_bytes=700)
    assert cuts is not None
    pieces = [orjson.loads(piece_bytes(data, start, end)) for start, end in cuts]
    assert len(pieces) > 5
    assert [i for piece in pieces for i in piece] == parse_ytd(data, "data/tweets.js")
    assert ytd_pieces(data, chunk_bytes=len(data)) is None  # too small to cut


def test_file_chunks_give_the_items_and_the_errors_of_the_whole_parse(tmp_path: Path) -> None:
    data = _tweets_file(60)
    path = tmp_path / "tweets.js"
    path.write_bytes(data)
    chunks = list(iter_file_chunks(str(path), "data/tweets.js", chunk_bytes=700))
    assert len(chunks) > 5
    assert [i for chunk in chunks for i in chunk] == parse_ytd(data, "data/tweets.js")
    path.write_bytes(data[: len(data) - 900])
    with pytest.raises(ArchiveError, match=r"data/tweets\.js is truncated"):
        list(iter_file_chunks(str(path), "data/tweets.js", chunk_bytes=700))
    path.write_bytes(b"")
    with pytest.raises(ArchiveError, match=r"data/tweets\.js is empty"):
        list(iter_file_chunks(str(path), "data/tweets.js", chunk_bytes=700))


def test_a_piece_splits_into_smaller_arrays_of_the_same_items() -> None:
    items = [{"tweet": {"id_str": str(n), "full_text": "x" * (n % 50)}} for n in range(300)]
    array = orjson.dumps(items)
    parts = list(array_pieces(array, 500))
    assert len(parts) > 5
    assert [i for part in parts for i in orjson.loads(part)] == items
    assert list(array_pieces(array[:400], 500)) == [array[:400]]  # small: as it is
    assert list(array_pieces(b"[1, 2, 3]" * 200, 100)) == [b"[1, 2, 3]" * 200]  # not items


def test_a_whole_tweet_text_must_begin_its_note_not_just_its_first_words() -> None:
    base = 1_700_000_000_000
    note_obj = Note(1, "x", base + 100, "Our statement on the soil law is out today, read it", {})
    untruncated = (((base + 130) - 1288834974657) << 22, "Our statement on the soil law, now")
    truncated = (((base + 400) - 1288834974657) << 22, "Our statement on the soil law is ou…")
    assert choose_tweet(note_obj, [untruncated]) is None
    assert choose_tweet(note_obj, [untruncated, truncated]) == truncated[0]
