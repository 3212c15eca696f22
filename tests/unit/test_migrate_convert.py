"""Tweet → Bluesky posts: text and facets, splitting, threads, quotes, media, retweets, footer."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from departures.migrate.convert import (
    MISSING_ALT,
    ConvertOptions,
    MediaRow,
    TweetRow,
    convert_tweet,
    iso_ms,
)
from departures.migrate.media import MediaLimits
from departures.migrate.richtext import grapheme_count

TWEPOCH_MS = 1288834974657
MS = 1_700_000_000_123  # 2023-11-14T22:13:20.123Z
TWEET_ID = (MS - TWEPOCH_MS) << 22
OPTIONS = ConvertOptions(username="fairharvest")


def at(haystack: str, needle: str, **fields: Any) -> dict[str, Any]:
    start = haystack.index(needle)
    return {"start": start, "end": start + len(needle), **fields}


def tweet(text: str, **fields: Any) -> TweetRow:
    fields.setdefault("id", TWEET_ID)
    fields.setdefault("kind", "original")
    fields.setdefault("created_at", "2023-11-14T22:13:20Z")
    fields.setdefault("lang", "en")
    fields.setdefault("entities", {})
    return TweetRow(text=text, **fields)


def facets(record: dict[str, Any]) -> list[tuple[str, str, str]]:
    data = record["text"].encode()
    out = []
    for facet in record.get("facets", []):
        index, feature = facet["index"], facet["features"][0]
        label = data[index["byteStart"] : index["byteEnd"]].decode()
        value = feature.get("uri") or feature.get("did") or feature.get("tag")
        out.append((label, feature["$type"].rsplit("#", 1)[1], value))
    return out


def photo(position: int, name: str = "a.jpg", **fields: Any) -> MediaRow:
    return MediaRow(
        position=position,
        type="photo",
        file_path=f"data/tweets_media/{TWEET_ID}-{name}",
        width=1200,
        height=800,
        **fields,
    )


def test_plain_tweet_keeps_its_time_to_the_millisecond_and_its_language() -> None:
    [post] = convert_tweet(tweet("Hello Bluesky", lang="in"), OPTIONS)
    assert post.record == {
        "$type": "app.bsky.feed.post",
        "text": "Hello Bluesky",
        "createdAt": "2023-11-14T22:13:20.123Z",
        "langs": ["id"],
    }
    assert (post.key, post.part, post.parts, post.root_key, post.parent_key) == (
        f"{TWEET_ID}:0",
        0,
        1,
        None,
        None,
    )


def test_pseudo_language_gives_no_langs() -> None:
    [post] = convert_tweet(tweet("🌍🌍", lang="qme"), OPTIONS)
    assert "langs" not in post.record


def test_iso_ms_format() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"


def test_link_after_emoji_gets_a_shortened_label_and_byte_offsets() -> None:
    url = "https://www.example.org/reports/2024/annual.pdf"
    text = f"🌍 Our report: {url} #soil thanks @alice"
    entities = {
        "urls": [at(text, url, url=url, tco="https://t.co/x")],
        "hashtags": [at(text, "#soil", text="soil")],
        "mentions": [at(text, "@alice", screen_name="alice", id="42")],
    }
    [post] = convert_tweet(tweet(text, entities=entities), OPTIONS)
    assert (
        post.record["text"] == "🌍 Our report: www.example.org/reports/2024... #soil thanks @alice"
    )
    assert facets(post.record) == [
        ("www.example.org/reports/2024...", "link", url),
        ("#soil", "tag", "soil"),
        ("@alice", "link", "https://x.com/alice"),
    ]
    first = post.record["facets"][0]["index"]
    assert first["byteStart"] == len("🌍 Our report: ".encode())


def test_mention_with_a_known_did_becomes_a_mention_facet() -> None:
    text = "thanks @alice and @bob"
    entities = {
        "mentions": [
            at(text, "@alice", screen_name="alice", id="42"),
            at(text, "@bob", screen_name="Bob", id="7"),
        ]
    }
    options = ConvertOptions(mention_dids={"42": "did:plc:alice", "bob": "did:plc:bob"})
    [post] = convert_tweet(tweet(text, entities=entities), options)
    assert facets(post.record) == [
        ("@alice", "mention", "did:plc:alice"),
        ("@bob", "mention", "did:plc:bob"),
    ]


def test_long_note_becomes_a_numbered_thread_with_parent_and_root() -> None:
    sentence = "Fair trade coffee pays the farmers who grow it a living wage. "
    text = (sentence * 33).strip()  # about 2,000 characters
    assert 1900 < len(text) < 2100
    parts = convert_tweet(tweet(text), ConvertOptions(footer="From our X archive"))
    assert len(parts) >= 7
    root = parts[0].key
    assert parts[0].root_key is None and parts[0].parent_key is None
    for i, part in enumerate(parts[1:], 1):
        assert part.key == f"{TWEET_ID}:{i}"
        assert part.root_key == root
        assert part.parent_key == parts[i - 1].key
        assert part.parts == len(parts)
        assert part.record["text"].endswith(f"({i + 1}/{len(parts)})")
    for part in parts:
        assert grapheme_count(part.record["text"]) <= 300
        assert len(part.record["text"].encode()) <= 3000
    times = [p.record["createdAt"] for p in parts]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert "From our X archive" in parts[-1].record["text"]
    assert all("From our X archive" not in p.record["text"] for p in parts[:-1])
    # Cuts fall at sentence ends, never mid-word.
    assert parts[0].record["text"].split(" (1/")[0].endswith("wage.")


def test_thread_position_is_passed_through() -> None:
    [post] = convert_tweet(
        tweet("2/ more", kind="reply_to_self"),
        OPTIONS,
        kind="thread",
        root_key="1:0",
        parent_key="1:2",
    )
    assert (post.root_key, post.parent_key, post.kind) == ("1:0", "1:2", "thread")


def test_split_reply_parts_keep_the_thread_root() -> None:
    parts = convert_tweet(
        tweet("word " * 200, kind="reply_to_self"), OPTIONS, root_key="1:0", parent_key="5:0"
    )
    assert len(parts) > 1
    assert parts[0].parent_key == "5:0"
    assert all(p.root_key == "1:0" for p in parts)
    assert parts[1].parent_key == parts[0].key


QUOTE_URL = "https://x.com/bob/status/123456789012345678"


def quote_tweet(**fields: Any) -> TweetRow:
    text = f"Well said\n\n{QUOTE_URL}"
    return tweet(
        text,
        kind="quote",
        quote_of=123456789012345678,
        quote_url=QUOTE_URL,
        entities={"urls": [at(text, QUOTE_URL, url=QUOTE_URL)]},
        **fields,
    )


def test_quote_of_a_migrated_post_is_a_quote_key_and_the_link_leaves_the_text() -> None:
    [post] = convert_tweet(quote_tweet(), OPTIONS, quote_migrated=True)
    assert post.quote_key == "123456789012345678:0"
    assert post.record["text"] == "Well said"
    assert "embed" not in post.record and "facets" not in post.record


def test_quote_of_a_post_not_migrated_is_a_link_card_to_x() -> None:
    [post] = convert_tweet(quote_tweet(), OPTIONS)
    assert post.quote_key is None
    assert post.record["text"] == "Well said"
    assert post.record["embed"] == {
        "$type": "app.bsky.embed.external",
        "external": {"uri": QUOTE_URL, "title": "Post by @bob on X", "description": ""},
    }


def test_quote_not_migrated_with_images_keeps_the_link_in_the_text() -> None:
    [post] = convert_tweet(quote_tweet(media=(photo(0),)), OPTIONS)
    assert "embed" not in post.record
    assert facets(post.record) == [("x.com/bob/status/1...", "link", QUOTE_URL)]
    assert len(post.media) == 1


def test_images_carry_alt_text_aspect_and_a_warning_when_alt_is_missing() -> None:
    media = tuple(photo(i, f"{i}.jpg") for i in range(4))
    options = ConvertOptions(alt_texts={(TWEET_ID, 0): "A farmer", (TWEET_ID, 2): "Coffee"})
    [post] = convert_tweet(tweet("Harvest", media=media), options)
    assert [m["alt"] for m in post.media] == ["A farmer", "", "Coffee", ""]
    assert post.media[0] == {
        "kind": "image",
        "member": f"data/tweets_media/{TWEET_ID}-0.jpg",
        "media_key": f"{TWEET_ID}:0",
        "alt": "A farmer",
        "aspect": [1200, 800],
        "mime": "image/jpeg",
    }
    assert [w for w in post.warnings if w.startswith(MISSING_ALT)] == [
        f"{MISSING_ALT}: image 2 ({TWEET_ID}-1.jpg)",
        f"{MISSING_ALT}: image 4 ({TWEET_ID}-3.jpg)",
    ]


def test_missing_media_file_is_a_warning_and_the_post_goes_without_it() -> None:
    media = (photo(0, "here.jpg"), photo(1, "gone.jpg", missing=True))
    [post] = convert_tweet(tweet("Two pictures", media=media), OPTIONS)
    assert [m["member"].rsplit("-", 1)[1] for m in post.media] == ["here.jpg"]
    assert any(w.startswith("Missing media: image 2 (") for w in post.warnings)


def video(duration_ms: int | None, size: int | None = 1000, type_: str = "video") -> MediaRow:
    return MediaRow(
        position=0,
        type=type_,
        file_path=f"data/tweets_media/{TWEET_ID}-v.mp4",
        aspect_w=16,
        aspect_h=9,
        duration_ms=duration_ms,
        expanded_url=f"https://x.com/fairharvest/status/{TWEET_ID}/video/1",
        size=size,
    )


def test_video_within_limits_is_one_video_upload() -> None:
    [post] = convert_tweet(tweet("Film", media=(video(30_000),)), OPTIONS)
    assert [(m["kind"], m["mime"], m["aspect"]) for m in post.media] == [
        ("video", "video/mp4", [16, 9])
    ]
    assert "embed" not in post.record


def test_gif_goes_up_as_a_video() -> None:
    [post] = convert_tweet(tweet("Dance", media=(video(None, type_="animated_gif"),)), OPTIONS)
    assert post.media[0]["kind"] == "video"


def test_video_too_long_becomes_a_link_card_and_a_warning() -> None:
    limits = MediaLimits(video_max_duration_ms=60_000)
    [post] = convert_tweet(
        tweet("Long film", media=(video(90_040),)), ConvertOptions(limits=limits)
    )
    assert post.media == []
    assert post.record["embed"]["external"]["uri"].endswith("/video/1")
    assert any(w.startswith("Video too large: video 1: video is 90 s long") for w in post.warnings)


def test_video_too_big_becomes_a_link_card() -> None:
    [post] = convert_tweet(tweet("Big", media=(video(10_000, size=60_000_000),)), OPTIONS)
    assert post.media == [] and "embed" in post.record
    assert any("60.0 MB" in w for w in post.warnings)


def test_retweet_is_a_short_post_with_a_card_to_the_original() -> None:
    text = "RT @bob: Fair trade works, and here is the proof from ten years of data…"
    rt = tweet(text, kind="retweet", retweet_of_screen_name="bob", media=(photo(0),))
    [post] = convert_tweet(rt, OPTIONS)
    assert post.record["text"] == "Repost of @bob"
    assert facets(post.record) == [("@bob", "link", "https://x.com/bob")]
    assert post.record["embed"]["external"] == {
        "uri": f"https://x.com/fairharvest/status/{TWEET_ID}",
        "title": "Post by @bob on X",
        "description": "Fair trade works, and here is the proof from ten years of data…",
    }
    assert post.media == []  # the original author's pictures are not ours to re-upload


def test_footer_goes_on_the_last_part_with_its_link_as_a_facet() -> None:
    options = ConvertOptions(footer="Archived from X: https://example.org/x")
    [post] = convert_tweet(tweet("Hello"), options)
    assert post.record["text"] == "Hello\n\nArchived from X: https://example.org/x"
    assert facets(post.record) == [("https://example.org/x", "link", "https://example.org/x")]
    [without] = convert_tweet(tweet("Hello"), options, with_footer=False)
    assert without.record["text"] == "Hello"


def test_sensitive_and_withheld_tweets_are_warned() -> None:
    [post] = convert_tweet(tweet("x", possibly_sensitive=True, withheld=True), OPTIONS)
    assert any(w.startswith("Marked possibly sensitive") for w in post.warnings)
    assert any(w.startswith("Withheld") for w in post.warnings)


def test_hostile_markup_is_kept_as_plain_text() -> None:
    text = "<script>alert(1)</script> & friends"
    [post] = convert_tweet(tweet(text), OPTIONS)
    assert post.record["text"] == text


_words = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij", min_size=1, max_size=12),
        st.sampled_from(["🌍", "👩🏽‍🌾", "é", "日本語", "\n", "!", "."]),
    ),
    min_size=1,
    max_size=250,
)


@settings(max_examples=60, deadline=None)
@given(words=_words, footer=st.one_of(st.none(), st.just("— via https://example.org")))
def test_any_text_becomes_posts_within_the_limits_chained_as_a_thread(
    words: list[str], footer: str | None
) -> None:
    text = " ".join(words)
    tag_at = text.find("abc")
    entities: dict[str, Any] = {}
    if tag_at > 0 and text[tag_at - 1] == " ":
        entities = {"hashtags": [{"start": tag_at - 1, "end": tag_at + 3, "text": "abc"}]}
        text = text[: tag_at - 1] + "#" + text[tag_at:]
    parts = convert_tweet(tweet(text, entities=entities), ConvertOptions(footer=footer))
    for index, part in enumerate(parts):
        body = part.record["text"]
        assert grapheme_count(body) <= 300 and len(body.encode()) <= 3000
        data = body.encode()
        for facet in part.record.get("facets", []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            assert 0 <= start < end <= len(data)
            data[start:end].decode()  # on character boundaries
        if index:
            assert part.parent_key == parts[index - 1].key
            assert part.root_key == parts[0].key


def test_a_tweet_with_nothing_left_to_show_gives_no_post() -> None:
    gone = photo(0, "gone.jpg", missing=True)
    assert convert_tweet(tweet("", media=(gone,)), ConvertOptions(footer="via X")) == []
    # A quote with no words of its own still has its embed.
    [quote] = convert_tweet(
        tweet("", kind="quote", quote_of=5, quote_url="https://x.com/bob/status/5"), OPTIONS
    )
    assert quote.record["embed"]["external"]["uri"] == "https://x.com/bob/status/5"


def test_quote_link_without_an_author_gets_a_neutral_card_title() -> None:
    url = "https://twitter.com/i/web/status/5"
    text = f"Look {url}"
    quote = tweet(
        text, kind="quote", quote_of=5, quote_url=url, entities={"urls": [at(text, url, url=url)]}
    )
    [post] = convert_tweet(quote, OPTIONS)
    assert post.record["text"] == "Look"
    assert post.record["embed"]["external"]["title"] == "Post on X"


def test_a_quote_card_wins_over_the_card_of_a_video_too_long() -> None:
    limits = MediaLimits(video_max_duration_ms=1_000)
    [post] = convert_tweet(quote_tweet(media=(video(5_000),)), ConvertOptions(limits=limits))
    assert post.record["embed"]["external"]["uri"] == QUOTE_URL
    assert any(w.startswith("The video's link card is left out") for w in post.warnings)


def test_media_first_posted_by_someone_else_is_flagged() -> None:
    [post] = convert_tweet(tweet("Look", media=(photo(0, foreign_source_id=99),)), OPTIONS)
    assert len(post.media) == 1
    assert any(
        w.startswith("Media from another post: image 1 was first posted in "
                     "https://x.com/i/status/99")
        for w in post.warnings
    )  # fmt: skip
