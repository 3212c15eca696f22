"""The preview's HTML rendering: facets as links and tags, everything else escaped."""

from __future__ import annotations

from typing import Any

from departures.migrate.plan import PlanSummary
from departures.migrate.preview import PreviewPost, render_pages, render_text


def facet(start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


def test_facets_render_as_links_mentions_and_tags_at_byte_offsets() -> None:
    text = "🌍 see example.org #soil @bob"
    data = text.encode()
    link = data.index(b"example.org")
    tag = data.index(b"#soil")
    mention = data.index(b"@bob")
    html = render_text(
        text,
        [
            facet(link, link + 11, {"$type": "app.bsky.richtext.facet#link",
                                    "uri": "https://example.org/a?b=1&c=2"}),
            facet(tag, tag + 5, {"$type": "app.bsky.richtext.facet#tag", "tag": "soil"}),
            facet(mention, mention + 4, {"$type": "app.bsky.richtext.facet#mention",
                                         "did": "did:plc:bob"}),
        ],
    )  # fmt: skip
    assert html == (
        "🌍 see <a href='https://example.org/a?b=1&amp;c=2' "
        "title='https://example.org/a?b=1&amp;c=2' rel='noopener noreferrer'>example.org</a> "
        "<span class='tag'>#soil</span> "
        "<a class='mention' href='https://bsky.app/profile/did:plc:bob'>@bob</a>"
    )


def test_hostile_text_and_non_http_links_stay_inert() -> None:
    text = "<b>x</b> click"
    start = text.encode().index(b"click")
    html = render_text(
        text,
        [facet(start, start + 5, {"$type": "app.bsky.richtext.facet#link",
                                  "uri": "javascript:alert(1)"})],
    )  # fmt: skip
    assert html == "&lt;b&gt;x&lt;/b&gt; click"


def test_card_fields_are_escaped_and_only_http_cards_link() -> None:
    post = PreviewPost(
        key="1:0",
        tweet_id=1,
        part=0,
        parts=1,
        seq=1,
        kind="retweet",
        root_key=None,
        parent_key=None,
        quote_key=None,
        record={
            "text": "Repost",
            "createdAt": "2024-01-01T00:00:00.000Z",
            "embed": {
                "$type": "app.bsky.embed.external",
                "external": {
                    "uri": "javascript:alert(1)",
                    "title": "<script>alert(1)</script>",
                    "description": "a'b\"c",
                },
            },
        },
        media=[],
        warnings=["<i>warned</i>"],
    )
    [(name, page)] = render_pages([post], PlanSummary(), username="<u>")
    assert name == "preview.html"
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "href='#'" in page and "javascript:" not in page.split("<main>")[1].split("<small>")[0]
    assert "a&#x27;b&quot;c" in page
    assert "&lt;i&gt;warned&lt;/i&gt;" in page
    assert "@&lt;u&gt;" in page
