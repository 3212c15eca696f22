"""Tweet text → Bluesky rich text: shortened links, tags, mentions, byte-offset facets."""

from __future__ import annotations

from typing import Any

import pytest
from atproto import models
from hypothesis import given
from hypothesis import strategies as st

from departures.migrate.langs import bluesky_langs
from departures.migrate.richtext import (
    Facet,
    RichText,
    SourceText,
    build_post_text,
    grapheme_count,
    post_record,
    to_short_url,
)


def source(text: str, **entities: list[dict[str, Any]]) -> SourceText:
    return SourceText.from_stored(text, entities)


def entity_at(haystack: str, needle: str, **fields: Any) -> dict[str, Any]:
    start = haystack.index(needle)
    return {"start": start, "end": start + len(needle), **fields}


def shown(rich: RichText) -> list[tuple[str, str, str]]:
    return [(rich.facet_text(f), f.kind, f.value) for f in rich.facets]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com", "example.com"),
        ("https://example.com/", "example.com"),
        ("http://example.com/abc", "example.com/abc"),
        ("https://www.example.org/about", "www.example.org/about"),
        ("https://example.com/12345678901234", "example.com/12345678901234"),
        ("https://example.com/123456789012345", "example.com/123456789012..."),
        ("https://www.example.org/reports/2024/annual.pdf", "www.example.org/reports/2024..."),
        ("https://example.com/?q=1#top", "example.com?q=1#top"),
        ("https://Example.COM/Path", "example.com/Path"),
        ("https://example.com:8443/x", "example.com:8443/x"),
        ("https://example.com:443/x", "example.com/x"),
        ("mailto:info@example.org", "mailto:info@example.org"),
        ("not a url", "not a url"),
    ],
)
def test_links_are_shown_shortened_like_the_official_app(url: str, expected: str) -> None:
    assert to_short_url(url) == expected


def test_a_link_shows_its_short_form_and_targets_the_full_url() -> None:
    url = "https://www.example.org/reports/2024/annual-report.pdf"
    text = f"Our report: {url} 🌍"
    rich = build_post_text(source(text, urls=[entity_at(text, url, url=url)]))
    assert rich.text == "Our report: www.example.org/reports/2024... 🌍"
    assert shown(rich) == [("www.example.org/reports/2024...", "link", url)]


def test_facet_offsets_count_utf8_bytes_not_characters() -> None:
    text = "Été 🇧🇪👩‍👩‍👧 #Solidarité avec @Oxfam"
    rich = build_post_text(
        source(
            text,
            hashtags=[entity_at(text, "#Solidarité", text="Solidarité")],
            mentions=[entity_at(text, "@Oxfam", screen_name="Oxfam", id="42")],
        )
    )
    tag, _mention = rich.facets
    prefix = "Été 🇧🇪👩‍👩‍👧 "
    assert tag.byte_start == len(prefix.encode("utf-8")) != len(prefix)
    assert shown(rich) == [
        ("#Solidarité", "tag", "Solidarité"),
        ("@Oxfam", "link", "https://x.com/Oxfam"),
    ]


def test_a_mention_with_a_known_did_becomes_a_mention_facet() -> None:
    text = "Thanks @Oxfam and @amnesty!"
    mentions = [
        entity_at(text, "@Oxfam", screen_name="Oxfam", id="111"),
        entity_at(text, "@amnesty", screen_name="amnesty", id="222"),
    ]
    dids = {"111": "did:plc:oxfam", "amnesty": "did:plc:amnesty"}
    rich = build_post_text(source(text, mentions=mentions), mention_dids=dids)
    assert shown(rich) == [
        ("@Oxfam", "mention", "did:plc:oxfam"),
        ("@amnesty", "mention", "did:plc:amnesty"),
    ]


def test_an_unknown_mention_links_to_the_x_profile() -> None:
    text = "cc @SomeOne"
    rich = build_post_text(
        source(text, mentions=[entity_at(text, "@SomeOne", screen_name="SomeOne")])
    )
    assert shown(rich) == [("@SomeOne", "link", "https://x.com/SomeOne")]


def test_a_tag_longer_than_the_lexicon_allows_stays_plain_text() -> None:
    long_tag = "a" * 65
    text = f"#{long_tag} #ok"
    rich = build_post_text(
        source(
            text,
            hashtags=[
                entity_at(text, f"#{long_tag}", text=long_tag),
                entity_at(text, "#ok", text="ok"),
            ],
        )
    )
    assert rich.text == text
    assert shown(rich) == [("#ok", "tag", "ok")]


def test_entities_with_wrong_offsets_are_found_by_their_text_or_dropped() -> None:
    text = "Join #climate strike with @Fridays"
    rich = build_post_text(
        source(
            text,
            hashtags=[{"start": 0, "end": 8, "text": "climate"}],  # offsets of another word
            mentions=[{"start": 3, "end": 9, "screen_name": "nobody"}],  # not in the text
        )
    )
    assert shown(rich) == [("#climate", "tag", "climate")]


def test_a_link_left_as_tco_in_the_text_is_shown_expanded() -> None:
    text = "read https://t.co/AbC123"
    url = "https://example.org/report"
    link = entity_at(text, "https://t.co/AbC123", url=url, tco="https://t.co/AbC123")
    rich = build_post_text(source(text, urls=[link]))
    assert shown(rich) == [("example.org/report", "link", url)]


def test_entities_without_offsets_are_found_by_their_text() -> None:
    text = "Hi @Someone"
    rich = build_post_text(source(text, mentions=[{"screen_name": "someone", "id": "-1"}]))
    assert shown(rich) == [("@Someone", "link", "https://x.com/someone")]


def test_overlapping_entities_keep_the_first() -> None:
    text = "see https://example.com/#tag"
    url = "https://example.com/#tag"
    rich = build_post_text(
        source(
            text,
            urls=[entity_at(text, url, url=url)],
            hashtags=[entity_at(text, "#tag", text="tag")],
        )
    )
    assert [f.kind for f in rich.facets] == ["link"]


def test_a_footer_is_appended_with_its_links() -> None:
    text = "Hello world   "
    rich = build_post_text(source(text), footer="Archived from X: https://x.com/ngo/status/1.")
    assert rich.text == "Hello world\n\nArchived from X: https://x.com/ngo/status/1."
    assert shown(rich) == [("https://x.com/ngo/status/1", "link", "https://x.com/ngo/status/1")]


def test_a_footer_alone_starts_at_byte_zero() -> None:
    rich = build_post_text(source(""), footer="https://example.org")
    assert shown(rich) == [("https://example.org", "link", "https://example.org")]


def test_a_link_without_scheme_gets_one_in_its_target() -> None:
    text = "old link example.org/page"
    rich = build_post_text(
        source(text, urls=[entity_at(text, "example.org/page", url="example.org/page")])
    )
    assert rich.facets[0].value == "http://example.org/page"


def test_the_record_holds_text_facets_and_dates_as_the_lexicon_spells_them() -> None:
    text = "#Belgium https://example.org"
    rich = build_post_text(
        source(
            text,
            hashtags=[entity_at(text, "#Belgium", text="Belgium")],
            urls=[entity_at(text, "https://example.org", url="https://example.org")],
        )
    )
    record = post_record(rich, created_at="2020-03-06T13:02:05.000Z", langs=["nl"])
    assert record == {
        "$type": "app.bsky.feed.post",
        "text": "#Belgium example.org",
        "facets": [
            {
                "$type": "app.bsky.richtext.facet",
                "index": {"byteStart": 0, "byteEnd": 8},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Belgium"}],
            },
            {
                "$type": "app.bsky.richtext.facet",
                "index": {"byteStart": 9, "byteEnd": 20},
                "features": [
                    {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org"}
                ],
            },
        ],
        "createdAt": "2020-03-06T13:02:05.000Z",
        "langs": ["nl"],
    }


def test_facets_convert_to_the_sdks_models() -> None:
    text = "@ngo #tag https://example.org"
    rich = build_post_text(
        source(
            text,
            mentions=[entity_at(text, "@ngo", screen_name="ngo", id="1")],
            hashtags=[entity_at(text, "#tag", text="tag")],
            urls=[entity_at(text, "https://example.org", url="https://example.org")],
        ),
        mention_dids={"1": "did:plc:abc"},
    )
    record = models.AppBskyFeedPost.Record(
        text=rich.text, facets=rich.facet_models(), created_at="2020-03-06T13:02:05.000Z"
    )
    features = [type(f.features[0]) for f in record.facets or []]
    assert features == [
        models.AppBskyRichtextFacet.Mention,
        models.AppBskyRichtextFacet.Tag,
        models.AppBskyRichtextFacet.Link,
    ]
    assert record.facets is not None and record.facets[0].index.byte_end == 4


@pytest.mark.parametrize(
    "facet",
    [
        Facet(0, 99, "tag", "x"),  # past the end
        Facet(1, 3, "tag", "x"),  # inside the 2-byte "é"
    ],
)
def test_rich_text_refuses_facets_it_could_not_publish(facet: Facet) -> None:
    with pytest.raises(ValueError):
        RichText("éa b", (facet,))


def test_rich_text_refuses_overlapping_facets() -> None:
    with pytest.raises(ValueError):
        RichText("abcdef", (Facet(0, 4, "tag", "a"), Facet(2, 5, "tag", "b")))


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", ["en"]),
        ("nl", ["nl"]),
        ("in", ["id"]),
        ("iw", ["he"]),
        ("zh-cn", ["zh-CN"]),
        ("zh-Hant", ["zh-Hant"]),
        ("qme", []),
        ("qam", []),
        ("qst", []),
        ("qht", []),
        ("qct", []),
        ("qxx", []),
        ("art", []),
        ("zxx", []),
        ("und", []),
        ("", []),
        (None, []),
        ("not a tag", []),
        ("qu", ["qu"]),  # Quechua is a language, not an X pseudo-code
    ],
)
def test_tweet_lang_becomes_bluesky_langs(lang: str | None, expected: list[str]) -> None:
    assert bluesky_langs(lang) == expected


# --- property: facets always cover exactly what they name ----------------------------------

_words = st.sampled_from(
    ["Solidarité", "and", "Klima", "🌍", "👩‍👩‍👧", "e\u0301", "日本語", "\n", "!", "?", "ok"]
)
_entity = st.one_of(
    st.tuples(
        st.just("url"),
        st.sampled_from(
            ["https://example.org", "http://www.ngo.be/a/b/c/d/e/f/g/h", "https://ex.com/é?x=1"]
        ),
    ),
    st.tuples(st.just("mention"), st.sampled_from(["Oxfam", "amnesty", "x_y_z"])),
    st.tuples(st.just("tag"), st.sampled_from(["climate", "Été", "COP28", "日本"])),
)


@given(st.lists(st.one_of(_words.map(lambda w: ("word", w)), _entity), max_size=30))
def test_every_facet_covers_what_it_names(tokens: list[tuple[str, str]]) -> None:
    text = ""
    entities: dict[str, list[dict[str, Any]]] = {"urls": [], "mentions": [], "hashtags": []}
    expected: list[tuple[str, str, str]] = []
    for kind, value in tokens:
        if text:
            text += " "
        start = len(text)
        if kind == "url":
            text += value
            entities["urls"].append({"start": start, "end": len(text), "url": value})
            expected.append((to_short_url(value), "link", value))
        elif kind == "mention":
            text += "@" + value
            entities["mentions"].append(
                {"start": start, "end": len(text), "screen_name": value, "id": value}
            )
            expected.append(("@" + value, "mention", "did:plc:" + value.lower()))
        elif kind == "tag":
            text += "#" + value
            entities["hashtags"].append({"start": start, "end": len(text), "text": value})
            expected.append(("#" + value, "tag", value))
        else:
            text += value
    dids = {v: "did:plc:" + v.lower() for v in ("Oxfam", "amnesty", "x_y_z")}
    rich = build_post_text(SourceText.from_stored(text, entities), mention_dids=dids)
    assert shown(rich) == expected
    assert grapheme_count(rich.text) <= grapheme_count(text)
