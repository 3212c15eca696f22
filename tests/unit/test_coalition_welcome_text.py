"""The welcome post as the departure day publishes it and the editor previews it: facets
found in plain text (links, tags, mentions of handles that resolve) by the migration's
rich-text code, and its length in graphemes against Bluesky's limit."""

from __future__ import annotations

import pytest

from departures.coalition.departure import MAX_WELCOME_GRAPHEMES, check_welcome_text, welcome_text
from departures.coalition.errors import BadInput
from departures.coalition.handles import HandleError
from departures.migrate.richtext import SourceText


def _resolve(handle: str) -> str:
    if handle == "oxfam.bsky.social":
        return "did:plc:oxfam"
    raise HandleError(f"the Bluesky handle {handle} does not exist")


def test_links_tags_and_resolved_mentions_become_facets() -> None:
    text = (
        "We zijn er! Met @oxfam.bsky.social en @nobody.example #LeaveX #2025 "
        "https://example.org/a/long/path/to/the/statement-of-the-coalition."
    )
    built = welcome_text(text, _resolve)
    kinds = [(f.kind, built.rich.facet_text(f), f.value) for f in built.rich.facets]
    assert kinds[0] == ("mention", "@oxfam.bsky.social", "did:plc:oxfam")
    assert kinds[1] == ("tag", "#LeaveX", "LeaveX")
    assert kinds[2][0] == "link"
    assert kinds[2][2] == "https://example.org/a/long/path/to/the/statement-of-the-coalition"
    assert len(kinds) == 3  # "#2025" is no tag; the unknown handle stays text
    assert built.unresolved == ("nobody.example",)
    # The link is shown shortened, as Bluesky's apps do, and counted so.
    assert built.graphemes < len(text)
    assert built.fits


def test_graphemes_not_code_points_are_counted() -> None:
    accented = "e\u0301"  # é as e + a combining accent: one grapheme, two code points
    built = welcome_text(accented * MAX_WELCOME_GRAPHEMES)
    assert built.graphemes == MAX_WELCOME_GRAPHEMES
    assert built.fits
    family = "👨‍👩‍👧‍👦"  # one grapheme of 25 bytes: 200 of them pass 300 but not 3,000 bytes
    assert welcome_text(family * 120).fits
    assert not welcome_text(family * 200).fits
    assert not welcome_text("a" * (MAX_WELCOME_GRAPHEMES + 1)).fits


def test_a_welcome_post_over_the_limit_is_refused_with_its_length() -> None:
    with pytest.raises(BadInput) as refused:
        check_welcome_text("Bonjour Bluesky ! " * 20)
    assert "too long (359 characters)" in refused.value.message
    assert "300" in (refused.value.hint or "")


def test_plain_text_entities_skip_emails_and_urls_inner_hashes() -> None:
    text = "mail me@oxfam.example, see https://x.example/#top #ok"
    assert SourceText.from_plain(text).mentions == ()
    built = welcome_text(text, _resolve)
    assert [(f.kind, f.value) for f in built.rich.facets] == [
        ("link", "https://x.example/#top"),
        ("tag", "ok"),
    ]
