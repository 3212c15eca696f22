"""Tweet text → Bluesky rich text: post text plus facets in UTF-8 byte offsets.

The archive importer stores a tweet's text with HTML entities decoded, t.co links already
replaced by their expanded URL, and entity offsets in code points. This module turns that
into what a Bluesky client would have written: links shown shortened (exactly as the
official app's ``toShortUrl`` does) with a link facet to the full URL, hashtags as tag
facets, and mentions as mention facets (when the Bluesky DID is known) or as links to the
X profile.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import regex  # type: ignore[import-untyped]

__all__ = [
    "Facet",
    "Hashtag",
    "Link",
    "Mention",
    "RichText",
    "SourceText",
    "build_post_text",
    "grapheme_count",
    "to_short_url",
]

#: Lexicon limits of ``app.bsky.richtext.facet#tag``.
TAG_MAX_GRAPHEMES = 64
TAG_MAX_BYTES = 640

FacetKind = Literal["link", "mention", "tag"]

_GRAPHEME = regex.compile(r"\X")
# URLs in a user-written footer become links too; trailing punctuation is not part of them.
_FOOTER_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]}'’”]")


# In text people write for Bluesky: @handle (a domain name) and #tag (up to punctuation).
_PLAIN_MENTION = re.compile(
    r"(?<![\w@.])@([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+)"
)
_PLAIN_TAG = re.compile(r"(?<![\w#＃&])[#＃]([^\s#＃.,;:!?()\[\]{}'\"’”]+)")


def grapheme_count(text: str) -> int:
    """The number of extended grapheme clusters in ``text`` (what Bluesky counts)."""
    return len(_GRAPHEME.findall(text))


# --- the input: a tweet's text and entities as the archive importer stores them -----------


@dataclass(frozen=True)
class Link:
    """An expanded link in the source text; ``text[start:end]`` is the expanded URL."""

    start: int
    end: int
    url: str
    display_url: str = ""
    tco: str = ""


@dataclass(frozen=True)
class Mention:
    """An ``@name`` in the source text; ``id`` is the X account id when the archive has it."""

    start: int
    end: int
    screen_name: str
    id: str | None = None


@dataclass(frozen=True)
class Hashtag:
    """A ``#tag`` in the source text; ``text`` is the tag without ``#``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class SourceText:
    """A tweet's decoded text with its entities (offsets in code points into ``text``)."""

    text: str
    links: tuple[Link, ...] = ()
    mentions: tuple[Mention, ...] = ()
    hashtags: tuple[Hashtag, ...] = ()

    @classmethod
    def from_stored(cls, text: str, entities: Mapping[str, Any] | None) -> SourceText:
        """Build from the importer's stored form: ``text`` plus the ``entities`` dict.

        An entity whose offsets do not point at what it names is looked up by its text, or
        dropped: a quirky archive must neither crash the conversion nor misplace a facet.
        A link whose text is still the t.co address is shown shortened like any other.
        """
        entities = entities or {}
        links = tuple(
            Link(
                start, end, str(e["url"]), str(e.get("display_url") or ""), str(e.get("tco") or "")
            )
            for e, start, end in _located(
                text, entities.get("urls"), lambda e: (str(e["url"]), str(e.get("tco") or ""))
            )
        )
        mentions = tuple(
            Mention(
                start,
                end,
                str(e["screen_name"]),
                None if e.get("id") in (None, "", "-1", -1) else str(e["id"]),
            )
            for e, start, end in _located(
                text, entities.get("mentions"), lambda e: ("@" + str(e["screen_name"]),)
            )
        )
        hashtags = tuple(
            Hashtag(start, end, str(e["text"]).lstrip("#＃"))
            for e, start, end in _located(
                text, entities.get("hashtags"), lambda e: ("#" + str(e["text"]).lstrip("#＃"),)
            )
        )
        return cls(text, links, mentions, hashtags)

    @classmethod
    def from_plain(cls, text: str) -> SourceText:
        """Find links, ``@handle`` mentions and ``#tags`` in text written for Bluesky.

        What Bluesky's own apps detect when a person types a post: ``http(s)://`` links
        (trailing punctuation left out), mentions of handles (names with a dot, such as
        ``@oxfam.bsky.social``) and tags (not only digits). The mentions carry the handle as
        ``screen_name``; ``build_post_text`` makes a mention facet of those it is given a DID
        for (give only resolved ones).
        """
        links = tuple(Link(m.start(), m.end(), m.group()) for m in _FOOTER_URL.finditer(text))
        mentions = tuple(
            Mention(m.start(), m.end(), m.group(1)) for m in _PLAIN_MENTION.finditer(text)
        )
        hashtags = tuple(
            Hashtag(m.start(), m.end(), m.group(1))
            for m in _PLAIN_TAG.finditer(text)
            if not m.group(1).isdigit()
        )
        return cls(text, links, mentions, hashtags)


def _located(
    text: str, items: Any, expected: Callable[[Mapping[str, Any]], tuple[str, ...]]
) -> Iterator[tuple[Mapping[str, Any], int, int]]:
    """Entities with offsets that point at what they name (one of ``expected``).

    When ``text[start:end]`` is none of the expected strings (an importer quirk), the
    entity is looked up by its text instead, and dropped if absent: a wrong offset must
    never put a facet on the wrong words.
    """
    folded = text.casefold()
    for item in items or ():
        try:
            wanted = [w for w in expected(item) if len(w) >= 2]
        except (KeyError, TypeError):
            continue
        try:
            start, end = int(item["start"]), int(item["end"])
        except (KeyError, TypeError, ValueError):
            start = end = -1
        if 0 <= start < end <= len(text) and any(_same(text[start:end], w) for w in wanted):
            yield item, start, end
            continue
        for want in wanted:
            found = folded.find(want.casefold())
            # casefold can change lengths (ß → ss): only trust a find that maps back 1:1.
            if found >= 0 and _same(text[found : found + len(want)], want):
                yield item, found, found + len(want)
                break


def _same(shown: str, want: str) -> bool:
    # Full-width ＃ and ＠ count as # and @ on X.
    return shown.casefold().replace("＃", "#").replace("＠", "@") == want.casefold()


# --- the output: text plus facets in byte offsets -----------------------------------------


@dataclass(frozen=True)
class Facet:
    """One facet: a byte range of the post text and what it means.

    ``value`` is the full URI for a link, the DID for a mention, the tag (without ``#``)
    for a tag.
    """

    byte_start: int
    byte_end: int
    kind: FacetKind
    value: str

    def shifted(self, delta: int) -> Facet:
        """The same facet moved by ``delta`` bytes."""
        return Facet(self.byte_start + delta, self.byte_end + delta, self.kind, self.value)

    def to_model(self) -> Any:
        """This facet as the atproto SDK's ``models.AppBskyRichtextFacet.Main``."""
        from atproto import models

        feature: Any
        if self.kind == "link":
            feature = models.AppBskyRichtextFacet.Link(uri=self.value)
        elif self.kind == "mention":
            feature = models.AppBskyRichtextFacet.Mention(did=self.value)
        else:
            feature = models.AppBskyRichtextFacet.Tag(tag=self.value)
        return models.AppBskyRichtextFacet.Main(
            features=[feature],
            index=models.AppBskyRichtextFacet.ByteSlice(
                byte_start=self.byte_start, byte_end=self.byte_end
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        """This facet as lexicon JSON (``$type`` keys, camelCase), as stored in a record."""
        feature: dict[str, Any]
        if self.kind == "link":
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": self.value}
        elif self.kind == "mention":
            feature = {"$type": "app.bsky.richtext.facet#mention", "did": self.value}
        else:
            feature = {"$type": "app.bsky.richtext.facet#tag", "tag": self.value}
        return {
            "$type": "app.bsky.richtext.facet",
            "index": {"byteStart": self.byte_start, "byteEnd": self.byte_end},
            "features": [feature],
        }


@dataclass(frozen=True)
class RichText:
    """Post text with its facets, sorted by position and never overlapping.

    Construction checks that every facet lies inside the text on character boundaries, so
    a ``RichText`` can always be sliced and published.
    """

    text: str
    facets: tuple[Facet, ...] = ()
    _bytes: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = self.text.encode("utf-8")
        object.__setattr__(self, "_bytes", data)
        object.__setattr__(self, "facets", tuple(sorted(self.facets, key=_facet_key)))
        previous_end = 0
        for facet in self.facets:
            if not 0 <= facet.byte_start < facet.byte_end <= len(data):
                raise ValueError(f"facet {facet} lies outside the text ({len(data)} bytes)")
            if facet.byte_start < previous_end:
                raise ValueError(f"facet {facet} overlaps the one before it")
            if _is_continuation(data, facet.byte_start) or _is_continuation(data, facet.byte_end):
                raise ValueError(f"facet {facet} cuts a UTF-8 character")
            previous_end = facet.byte_end

    @property
    def byte_length(self) -> int:
        """Length of the text in UTF-8 bytes (what the 3,000-byte limit counts)."""
        return len(self._bytes)

    @property
    def grapheme_length(self) -> int:
        """Length of the text in graphemes (what the 300-grapheme limit counts)."""
        return grapheme_count(self.text)

    def facet_text(self, facet: Facet) -> str:
        """The substring of the text a facet covers."""
        return self._bytes[facet.byte_start : facet.byte_end].decode("utf-8")

    def facet_models(self) -> list[Any]:
        """The facets as atproto SDK models, ready for ``models.AppBskyFeedPost.Record``."""
        return [facet.to_model() for facet in self.facets]

    def record_fields(self) -> dict[str, Any]:
        """``text`` and (when there are any) ``facets`` of an ``app.bsky.feed.post`` record.

        Lexicon JSON, to merge into the record dict with ``createdAt``, ``langs``, ``reply``
        and ``embed``.
        """
        fields: dict[str, Any] = {"text": self.text}
        if self.facets:
            fields["facets"] = [facet.to_dict() for facet in self.facets]
        return fields


def _facet_key(facet: Facet) -> tuple[int, int]:
    return (facet.byte_start, facet.byte_end)


def _is_continuation(data: bytes, index: int) -> bool:
    return index < len(data) and (data[index] & 0xC0) == 0x80


def post_record(
    rich: RichText,
    *,
    created_at: str,
    langs: Sequence[str] = (),
    reply: Mapping[str, Any] | None = None,
    embed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete ``app.bsky.feed.post`` record dict (lexicon JSON) for ``rich``."""
    record: dict[str, Any] = {"$type": "app.bsky.feed.post", **rich.record_fields()}
    record["createdAt"] = created_at
    if langs:
        record["langs"] = list(langs)[:3]
    if reply is not None:
        record["reply"] = dict(reply)
    if embed is not None:
        record["embed"] = dict(embed)
    return record


# --- the conversion ------------------------------------------------------------------------


def to_short_url(url: str) -> str:
    """The text the official Bluesky app shows for a link (its ``toShortUrl`` rule).

    Scheme dropped, host kept as it is (``www.`` included: the app warns when a link's
    label names a different host than its target), and the rest (path without a lone
    ``/``, query, fragment) cut to 13 characters plus ``...`` when longer than 15.
    Anything that is not an http(s) URL is shown unchanged.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not host:
        return url
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme.lower()]:
        host = f"{host}:{port}"
    # The app reads these from a WHATWG URL, which percent-encodes non-ASCII characters.
    path = "" if parts.path in ("", "/") else _encode(parts.path)
    if parts.query:
        path += "?" + _encode(parts.query)
    if parts.fragment:
        path += "#" + _encode(parts.fragment)
    if len(path) > 15:
        return host + path[:13] + "..."
    return host + path


def _encode(component: str) -> str:
    return quote(component, safe="".join(chr(c) for c in range(0x21, 0x7F)))


def _link_uri(url: str) -> str:
    # A facet's uri must be a full URI; old tweets sometimes expand to "example.org/x".
    return url if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url) else "http://" + url


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    shown: str
    kind: FacetKind | None
    value: str


def build_post_text(
    source: SourceText,
    *,
    mention_dids: Mapping[str, str] | None = None,
    footer: str | None = None,
) -> RichText:
    """Convert a tweet's text and entities into a Bluesky post text with facets.

    ``mention_dids`` maps an X account id or a lower-case screen name to a Bluesky DID;
    a mention found there becomes a mention facet, any other a link to the X profile.
    ``footer`` (if given) is appended after a blank line; URLs in it become links.
    The result is not split: see :func:`departures.migrate.split.split_post`.
    """
    dids = mention_dids or {}
    spans = _spans(source, dids)
    pieces: list[str] = []
    facets: list[Facet] = []
    offset = 0
    cursor = 0
    for span in spans:
        offset = _emit(pieces, source.text[cursor : span.start], offset)
        start = offset
        offset = _emit(pieces, span.shown, offset)
        if span.kind is not None:
            facets.append(Facet(start, offset, span.kind, span.value))
        cursor = span.end
    offset = _emit(pieces, source.text[cursor:], offset)

    text = "".join(pieces).rstrip()
    # Trailing space is dropped; a facet that covered only some of it goes with it.
    facets = [f for f in facets if f.byte_end <= len(text.encode("utf-8"))]
    if footer and footer.strip():
        footer_text = footer.strip()
        base = len(text.encode("utf-8")) + 2 if text else 0
        for match in _FOOTER_URL.finditer(footer_text):
            before = len(footer_text[: match.start()].encode("utf-8"))
            length = len(match.group().encode("utf-8"))
            facets.append(Facet(base + before, base + before + length, "link", match.group()))
        text = f"{text}\n\n{footer_text}" if text else footer_text
    return RichText(text, tuple(facets))


def _emit(pieces: list[str], text: str, offset: int) -> int:
    pieces.append(text)
    return offset + len(text.encode("utf-8"))


def _spans(source: SourceText, dids: Mapping[str, str]) -> list[_Span]:
    """Entity spans in text order, overlapping ones dropped (the first one wins)."""
    text = source.text
    candidates: list[_Span] = []
    for link in source.links:
        # Shown from the expanded URL even where the text still holds the t.co address.
        shown = to_short_url(link.url)
        candidates.append(_Span(link.start, link.end, shown, "link", _link_uri(link.url)))
    for mention in source.mentions:
        shown = text[mention.start : mention.end]
        did = _mention_did(mention, dids)
        if did is not None:
            candidates.append(_Span(mention.start, mention.end, shown, "mention", did))
        else:
            profile = f"https://x.com/{mention.screen_name}"
            candidates.append(_Span(mention.start, mention.end, shown, "link", profile))
    for tag in source.hashtags:
        shown = text[tag.start : tag.end]
        value = tag.text.lstrip("#＃")
        fits = (
            value
            and grapheme_count(value) <= TAG_MAX_GRAPHEMES
            and len(value.encode("utf-8")) <= TAG_MAX_BYTES
        )
        # A tag the lexicon would refuse stays plain text instead of failing the post.
        candidates.append(_Span(tag.start, tag.end, shown, "tag" if fits else None, value))
    candidates.sort(key=lambda s: (s.start, s.end))
    spans: list[_Span] = []
    end = 0
    for span in candidates:
        if span.start >= end:
            spans.append(span)
            end = span.end
    return spans


def _mention_did(mention: Mention, dids: Mapping[str, str]) -> str | None:
    if mention.id is not None and mention.id in dids:
        return dids[mention.id]
    return dids.get(mention.screen_name.lower()) or dids.get(mention.screen_name)
