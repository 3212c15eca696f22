"""Posts over Bluesky's limits become self-threads: good cuts, whole graphemes, whole facets."""

from __future__ import annotations

import re
from typing import Any

import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from departures.migrate.richtext import (
    Facet,
    RichText,
    SourceText,
    build_post_text,
    grapheme_count,
)
from departures.migrate.split import split_post

SUFFIX = re.compile(r" \((\d+)/(\d+)\)$")


def content(part: RichText) -> str:
    return SUFFIX.sub("", part.text)


def within_limits(parts: list[RichText], max_graphemes: int = 300, max_bytes: int = 3000) -> bool:
    return all(p.grapheme_length <= max_graphemes and p.byte_length <= max_bytes for p in parts)


def with_link(before: str, url: str, after: str) -> RichText:
    text = before + url + after
    return build_post_text(
        SourceText.from_stored(
            text, {"urls": [{"start": len(before), "end": len(before) + len(url), "url": url}]}
        )
    )


def test_a_post_that_fits_is_returned_unchanged() -> None:
    rich = RichText("Short and sweet.")
    assert split_post(rich) == [rich]


def test_a_long_post_is_cut_at_sentence_ends_and_numbered() -> None:
    sentence = "We are leaving X today with more than thirty member organisations. "
    parts = split_post(RichText((sentence * 12).strip()))
    assert len(parts) == 3
    assert [p.text[-6:] for p in parts] == [" (1/3)", " (2/3)", " (3/3)"]
    assert all(content(p).endswith("organisations.") for p in parts)
    assert within_limits(parts)


def test_a_paragraph_break_is_preferred_over_a_later_sentence_end() -> None:
    first = "First paragraph. " * 10
    second = "Second paragraph goes on. " * 10
    parts = split_post(RichText(first.strip() + "\n\n" + second.strip()))
    assert content(parts[0]) == first.strip()


def test_without_sentences_it_cuts_between_words() -> None:
    words = " ".join(["solidarity"] * 80)
    parts = split_post(RichText(words), numbering=False)
    assert len(parts) == 3
    assert all(set(p.text.split()) == {"solidarity"} for p in parts)
    assert " ".join(p.text for p in parts) == words


def test_numbering_can_be_switched_off() -> None:
    parts = split_post(RichText("word " * 100), numbering=False)
    assert not any(SUFFIX.search(p.text) for p in parts)
    assert within_limits(parts)


def test_numbering_with_two_digits_still_fits() -> None:
    parts = split_post(RichText("word " * 700), max_graphemes=60)
    assert len(parts) >= 10
    assert parts[-1].text.endswith(f" ({len(parts)}/{len(parts)})")
    assert within_limits(parts, 60)


def test_a_link_is_never_cut() -> None:
    url = "https://www.example.org/reports/2024/annual-report.pdf"
    rich = with_link("x " * 140, url, " and more words after the link" * 3)
    parts = split_post(rich, numbering=False)
    linked = [p for p in parts if p.facets]
    assert len(linked) == 1
    assert linked[0].facet_text(linked[0].facets[0]) == "www.example.org/reports/2024..."
    assert linked[0].facets[0].value == url


def test_text_without_spaces_is_cut_at_cjk_sentence_ends() -> None:
    sentence = "私たちは今日Xを離れます。"  # 13 graphemes, no spaces
    parts = split_post(RichText(sentence * 40), numbering=False)
    assert all(p.text.endswith("。") for p in parts)
    assert "".join(p.text for p in parts) == sentence * 40


def test_one_giant_word_is_cut_hard_at_grapheme_boundaries() -> None:
    family = "👩‍👩‍👧‍👦"  # one grapheme, 25 bytes
    text = family * 400
    parts = split_post(RichText(text))
    assert within_limits(parts)
    assert "".join(content(p) for p in parts) == text
    assert all(set(regex.findall(r"\X", content(p))) == {family} for p in parts)


def test_the_byte_limit_is_kept_too() -> None:
    text = "𝄞" * 290 + " " + "𝄞" * 290  # 4 bytes each: fits 300 graphemes, not 1,000 bytes
    parts = split_post(RichText(text), max_bytes=1000)
    assert within_limits(parts, 300, 1000)
    assert "".join(content(p) for p in parts).replace(" ", "") == "𝄞" * 580


def test_a_link_wider_than_a_post_keeps_its_target_with_a_shorter_label() -> None:
    label = "https://" + "a" * 400 + ".example.org/x"
    rich = RichText("see " + label + " now", (Facet(4, 4 + len(label), "link", label),))
    parts = split_post(rich)
    assert within_limits(parts)
    facets = [(p, f) for p in parts for f in p.facets]
    assert len(facets) == 1
    part, facet = facets[0]
    assert facet.value == label
    assert part.facet_text(facet).endswith("...")


def test_a_tag_wider_than_a_post_is_dropped_not_a_crash() -> None:
    tag = "#" + "b" * 350
    rich = RichText(tag, (Facet(0, len(tag), "tag", tag[1:]),))
    parts = split_post(rich)
    assert within_limits(parts)
    assert not any(p.facets for p in parts)


# --- properties ---------------------------------------------------------------------------

_piece = st.one_of(
    st.sampled_from(
        [
            "word",
            "Solidarité",
            "end.",
            "Why?",
            "🌍",
            "👩‍👩‍👧",
            "e\u0301\u0301",
            "日本語。",
            "«quote.»",
        ]
    ).map(lambda w: ("text", w)),
    st.text(min_size=1, max_size=8).map(lambda w: ("text", w)),
    st.sampled_from([" ", " ", "  ", "\n", "\n\n", "\t"]).map(lambda w: ("text", w)),
    st.sampled_from(
        ["https://example.org", "https://www.ngo.be/a/b/c/d/e/f", "http://ex.com/é?q=1"]
    ).map(lambda w: ("url", w)),
    st.sampled_from(["Oxfam", "amnesty"]).map(lambda w: ("mention", w)),
    st.sampled_from(["climate", "Été", "日本"]).map(lambda w: ("tag", w)),
)


def build(pieces: list[tuple[str, str]]) -> RichText:
    text = ""
    entities: dict[str, list[dict[str, Any]]] = {"urls": [], "mentions": [], "hashtags": []}
    for kind, value in pieces:
        start = len(text)
        if kind == "url":
            text += " " + value + " "
            entities["urls"].append(
                {"start": start + 1, "end": start + 1 + len(value), "url": value}
            )
        elif kind == "mention":
            text += " @" + value + " "
            entities["mentions"].append(
                {"start": start + 1, "end": start + 2 + len(value), "screen_name": value}
            )
        elif kind == "tag":
            text += " #" + value + " "
            entities["hashtags"].append(
                {"start": start + 1, "end": start + 2 + len(value), "text": value}
            )
        else:
            text += value
    return build_post_text(
        SourceText.from_stored(text, entities), mention_dids={"oxfam": "did:plc:o"}
    )


def check_reassembles(rich: RichText, parts: list[RichText]) -> None:
    """Each part is a slice of the original; only whitespace lies between them."""
    original = rich.text
    cursor = 0
    found: list[tuple[int, int, str, str]] = []
    for part in parts:
        body = content(part)
        at = original.find(body, cursor)
        assert at >= 0, f"part {body!r} is not a slice of the text"
        assert original[cursor:at].strip() == "", "text lost between parts"
        base = len(original[:at].encode("utf-8"))
        for facet in part.facets:
            found.append((facet.byte_start + base, facet.byte_end + base, facet.kind, facet.value))
            assert part.facet_text(facet) == rich.facet_text(
                Facet(facet.byte_start + base, facet.byte_end + base, facet.kind, facet.value)
            )
        cursor = at + len(body)
    assert original[cursor:].strip() == ""
    assert found == [(f.byte_start, f.byte_end, f.kind, f.value) for f in rich.facets]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_piece, min_size=30, max_size=200),
    st.integers(min_value=40, max_value=300),
    st.integers(min_value=100, max_value=3000),
    st.booleans(),
)
def test_parts_fit_reassemble_and_keep_every_facet_whole(
    pieces: list[tuple[str, str]], max_graphemes: int, max_bytes: int, numbering: bool
) -> None:
    rich = build(pieces)
    parts = split_post(rich, max_graphemes=max_graphemes, max_bytes=max_bytes, numbering=numbering)
    assert within_limits(parts, max_graphemes, max_bytes)
    if len(parts) > 1:
        assert all(content(p).strip() for p in parts), "an empty part"
    check_reassembles(rich, parts)
    # Never mid-grapheme: each part's clusters are clusters of the original text.
    clusters = set(regex.findall(r"\X", rich.text))
    for part in parts:
        assert set(regex.findall(r"\X", content(part))) <= clusters | {" "}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_piece, min_size=10, max_size=80),
    st.integers(min_value=1, max_value=40),
    st.integers(min_value=4, max_value=80),
)
def test_tiny_limits_never_crash_or_overflow(
    pieces: list[tuple[str, str]], max_graphemes: int, max_bytes: int
) -> None:
    rich = build(pieces)
    parts = split_post(rich, max_graphemes=max_graphemes, max_bytes=max_bytes)
    # A single grapheme cluster wider than max_bytes is the one thing that cannot fit.
    widest = max((len(c.encode()) for c in regex.findall(r"\X", rich.text)), default=0)
    if widest <= max_bytes - 8:
        assert within_limits(parts, max_graphemes, max_bytes)
    if len(parts) > 1:
        assert all(content(p).strip() for p in parts)
    assert sum(grapheme_count(content(p)) for p in parts) <= rich.grapheme_length + len(parts)
