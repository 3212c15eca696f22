"""Turning one tweet object of the archive into rows (pure: data in, data out).

The rules come from ``docs/x-archive-format.md``:

* entity ``indices`` are code-point offsets into the HTML-*escaped* ``full_text``, so the text
  is cut at the entities first and each piece unescaped afterwards (``&amp; &lt; &gt;`` only);
* t.co links become their ``expanded_url``; the media link (``pic.twitter.com``) is removed;
* the stored entities carry code-point offsets into the stored (unescaped, expanded) text;
* kind: ``retweet`` (text starts ``RT @name: ``), ``reply_to_self`` / ``reply_to_other`` (a
  status id is replied to; a user id alone is a mention, not a reply), ``quote`` (a link to
  ``twitter.com|x.com/<user>/status/<id>``), else ``original``. A reply that also quotes
  keeps its reply kind and still records ``quote_of``.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any

import orjson

_QUOTE_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(\w{1,50})/status(?:es)?/(\d+)(?:[/?#]|$)",
    re.IGNORECASE,
)
_MONTHS = {
    m: f"{i:02d}"
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

# Twitter's snowflake epoch (ms): the creation time of an id is (id >> 22) + this.
SNOWFLAKE_EPOCH_MS = 1288834974657

TWEET_COLUMNS = (
    "id", "text", "raw_text", "entities", "kind", "quote_of", "quote_url",
    "reply_to_id", "reply_to_user_id", "reply_to_screen_name",
    "retweet_of_user_id", "retweet_of_screen_name",
    "created_at", "lang", "possibly_sensitive", "withheld", "withheld_in_countries",
    "favorite_count", "retweet_count", "is_deleted", "is_community", "community_id",
    "deleted_at", "edit_initial_id", "media_count", "source_file",
)  # fmt: skip

MEDIA_COLUMNS = (
    "tweet_id", "position", "media_id", "type", "media_url", "tco", "expanded_url",
    "file_path", "variant_url", "variant_bitrate", "width", "height",
    "aspect_w", "aspect_h", "duration_ms", "source_tweet_id", "missing",
)  # fmt: skip


def unescape(text: str) -> str:
    """Undo the archive's HTML escaping (exactly ``&amp; &lt; &gt;``; quotes stay raw)."""
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def iso_created_at(value: str) -> str:
    """``Fri Mar 06 13:02:05 +0000 2026`` as ``2026-03-06T13:02:05Z`` (UTC)."""
    # X always writes this fixed-width form in UTC: slicing is five times faster than
    # strptime, which matters at a million tweets.
    if len(value) == 30 and value[20:25] == "+0000" and value[4:7] in _MONTHS:
        return f"{value[26:30]}-{_MONTHS[value[4:7]]}-{value[8:10]}T{value[11:19]}Z"
    from datetime import UTC, datetime

    parsed = datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")


def snowflake_ms(tweet_id: int) -> int:
    """The creation time (Unix ms) encoded in a snowflake id (ids after late 2010)."""
    return (tweet_id >> 22) + SNOWFLAKE_EPOCH_MS


def _int(value: Any) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Rendered:
    """The stored text of a tweet and its entities with offsets into that text."""

    text: str
    urls: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)
    hashtags: list[dict[str, Any]] = field(default_factory=list)

    def entities_json(self) -> str:
        """The ``entities`` column: JSON with ``urls``, ``mentions`` and ``hashtags``."""
        if not (self.urls or self.mentions or self.hashtags):
            return _NO_ENTITIES
        return orjson.dumps(
            {"urls": self.urls, "mentions": self.mentions, "hashtags": self.hashtags}
        ).decode()


_URL, _MENTION, _HASHTAG, _MEDIA = 0, 1, 2, 3
_NO_ENTITIES = '{"urls":[],"mentions":[],"hashtags":[]}'


def render_text(full_text: str, entities: dict[str, Any], media: list[dict[str, Any]]) -> Rendered:
    """Cut ``full_text`` at its entities, expand links, drop media links, then unescape."""
    return Rendered(*_render(full_text, entities, media))


_Render = tuple[str, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]


def _render(full_text: str, entities: dict[str, Any], media: list[dict[str, Any]]) -> _Render:
    """:func:`render_text` as a plain tuple (text, urls, mentions, hashtags)."""
    # The hot loop of an import (a million tweets): helpers inlined, unescaping skipped
    # when the text has no "&" at all, no object built per tweet.
    spans: list[tuple[int, int, int, int, dict[str, Any]]] = []
    append = spans.append
    for items, kind in (
        (entities.get("urls"), _URL),
        (entities.get("user_mentions"), _MENTION),
        (entities.get("hashtags"), _HASHTAG),
        (media, _MEDIA),
    ):
        if not items:
            continue
        for entity in items:
            try:
                ix = entity["indices"]
                append((int(ix[0]), int(ix[1]), kind, len(spans), entity))
            except (KeyError, TypeError, ValueError, IndexError):
                continue
    escaped = "&" in full_text
    if not spans:
        return (unescape(full_text) if escaped else full_text), [], [], []
    if len(spans) > 1:
        spans.sort()
    out: list[str] = []
    urls: list[dict[str, Any]] = []
    mentions: list[dict[str, Any]] = []
    hashtags: list[dict[str, Any]] = []
    pos = 0
    length = 0
    end_of_text = len(full_text)
    media_end = -1
    for start, end, kind, _, entity in spans:
        # Overlapping, reversed or cut-off entities (truncated retweets) are left as text.
        if start < pos or end > end_of_text or start >= end:
            continue
        if start > pos:
            gap = full_text[pos:start]
            if escaped:
                gap = unescape(gap)
            out.append(gap)
            length += len(gap)
        if kind == _MEDIA:
            pos = media_end = end
            continue
        get = entity.get
        if kind == _URL:
            tco = get("url") or full_text[start:end]
            piece = get("expanded_url") or tco
            size = len(piece)
            urls.append(
                {
                    "start": length,
                    "end": length + size,
                    "url": piece,
                    "display_url": get("display_url") or piece,
                    "tco": tco,
                }
            )
        else:
            piece = full_text[start:end]
            if escaped:
                piece = unescape(piece)
            size = len(piece)
            if kind == _MENTION:
                user_id = _int(get("id_str") or get("id"))
                mentions.append(
                    {
                        "start": length,
                        "end": length + size,
                        "screen_name": get("screen_name") or piece.lstrip("@＠"),
                        "id": None if user_id is None or user_id < 0 else user_id,
                    }
                )
            else:
                hashtags.append(
                    {
                        "start": length,
                        "end": length + size,
                        "text": get("text") or piece.lstrip("#＃"),
                    }
                )
        out.append(piece)
        length += size
        pos = end
    rest = full_text[pos:]
    out.append(unescape(rest) if escaped else rest)
    text = "".join(out)
    if media_end >= 0 and not full_text[media_end:].strip():
        # The media link ended the text: drop the space that led to it.
        text = text.rstrip()
    return text, urls, mentions, hashtags


def quote_target(urls: list[dict[str, Any]]) -> tuple[int, str] | None:
    """The (tweet id, url) that a tweet quotes: its last link to a status, if any."""
    found: tuple[int, str] | None = None
    for url in urls:
        if "/status" not in url["url"]:
            continue
        match = _QUOTE_URL.match(url["url"])
        if match:
            found = (int(match.group(2)), url["url"])
    return found


@dataclass
class TweetRows:
    """What one archive tweet becomes: its row, its media rows, its screen-name sightings."""

    tweet: tuple[Any, ...]
    media: list[tuple[Any, ...]]
    sightings: list[tuple[int, str, int, str]]
    media_missing: list[str]


@dataclass
class TweetContext:
    """What the transform needs to know about the archive and the file being read."""

    account_id: int | None
    source_file: str
    media_dirs: tuple[str, ...]  # member-name prefixes to look for media files, best first
    media_files: Container[str]  # member names of the media files the archive holds
    is_deleted: bool = False
    is_community: bool = False


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def tweet_rows(tw: dict[str, Any], ctx: TweetContext) -> TweetRows | None:
    """The rows of one tweet object, or None when it has no usable id."""
    get = tw.get
    tweet_id = _int(get("id_str") or get("id"))
    if tweet_id is None:
        return None
    full_text = get("full_text")
    if not isinstance(full_text, str):
        # Very old exports used "text"; anything else means no text at all.
        full_text = get("text")
        if not isinstance(full_text, str):
            full_text = ""
    entities = get("entities")
    if not isinstance(entities, dict):
        entities = {}
    extended = get("extended_entities")
    media_items = extended.get("media") if isinstance(extended, dict) else None
    if not media_items:
        media_items = entities.get("media") or []
    text, urls, mentions, hashtags = _render(full_text, entities, media_items)

    reply_to_id = _int(get("in_reply_to_status_id_str") or get("in_reply_to_status_id"))
    reply_user = _int(get("in_reply_to_user_id_str") or get("in_reply_to_user_id"))
    reply_name = get("in_reply_to_screen_name") or None
    quote = quote_target(urls) if urls else None

    retweet_of_user: int | None = None
    retweet_of_name: str | None = None
    if full_text.startswith("RT @"):
        kind = "retweet"
        user_mentions = entities.get("user_mentions") or []
        first = user_mentions[0] if user_mentions and isinstance(user_mentions[0], dict) else {}
        retweet_of_name = first.get("screen_name") or full_text[4:].split(":", 1)[0]
        retweet_of_user = _int(first.get("id_str"))
    elif reply_to_id is not None:
        self_reply = ctx.account_id is not None and reply_user == ctx.account_id
        kind = "reply_to_self" if self_reply else "reply_to_other"
    elif quote is not None:
        kind = "quote"
    else:
        kind = "original"

    edit_initial: int | None = None
    edit_info = get("edit_info")
    if edit_info:
        edit = edit_info.get("edit")
        if edit:
            edit_initial = _int(edit.get("initialTweetId"))
        else:
            initial = edit_info.get("initial")
            if initial and len(initial.get("editTweetIds") or ()) > 1:
                # The first version of an edited tweet: it heads its own edit group.
                edit_initial = tweet_id
    withheld = get("withheld_in_countries")
    sensitive = get("possibly_sensitive")

    sightings: list[tuple[int, str, int, str]] = (
        [
            (m["id"], m["screen_name"], tweet_id, "user_mentions")
            for m in mentions
            if m["id"] is not None and m["screen_name"]
        ]
        if mentions
        else []
    )
    if reply_name and reply_user is not None and reply_user >= 0:
        sightings.append((reply_user, reply_name, tweet_id, "in_reply_to"))

    if media_items:
        media_rows, missing = _media_rows(tweet_id, media_items, ctx)
    else:
        media_rows, missing = [], []
    created = get("created_at")
    favorites = get("favorite_count")
    retweets = get("retweet_count")
    row = (
        tweet_id,
        text,
        full_text,
        (
            orjson.dumps({"urls": urls, "mentions": mentions, "hashtags": hashtags}).decode()
            if urls or mentions or hashtags
            else _NO_ENTITIES
        ),
        kind,
        quote[0] if quote else None,
        quote[1] if quote else None,
        reply_to_id,
        reply_user,
        reply_name,
        retweet_of_user,
        retweet_of_name,
        iso_created_at(created) if isinstance(created, str) else None,
        get("lang"),
        None if sensitive is None else int(sensitive in (True, "true")),
        1 if withheld else 0,
        orjson.dumps(withheld).decode() if withheld else None,
        int(favorites) if type(favorites) is str and favorites.isdigit() else _count(favorites),
        int(retweets) if type(retweets) is str and retweets.isdigit() else _count(retweets),
        int(ctx.is_deleted),
        int(ctx.is_community),
        _int(get("community_id_str") or get("community_id")),
        get("deleted_at"),
        edit_initial,
        len(media_rows),
        ctx.source_file,
    )
    return TweetRows(row, media_rows, sightings, missing)


def best_mp4(video_info: dict[str, Any]) -> tuple[str | None, int | None]:
    """The mp4 variant with the highest bitrate (a GIF's single mp4 has bitrate 0)."""
    best: tuple[str | None, int | None] = (None, None)
    best_rate = -1
    for variant in video_info.get("variants") or ():
        if not isinstance(variant, dict) or variant.get("content_type") != "video/mp4":
            continue
        rate = _int(variant.get("bitrate")) or 0
        if rate > best_rate and variant.get("url"):
            best_rate = rate
            best = (str(variant["url"]), rate)
    return best


def _media_rows(
    tweet_id: int, items: list[dict[str, Any]], ctx: TweetContext
) -> tuple[list[tuple[Any, ...]], list[str]]:
    rows: list[tuple[Any, ...]] = []
    missing: list[str] = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        mtype = item.get("type") or "photo"
        media_url = item.get("media_url_https") or item.get("media_url") or ""
        variant_url: str | None = None
        bitrate: int | None = None
        aspect_w = aspect_h = duration = None
        video_info = item.get("video_info")
        if isinstance(video_info, dict):
            variant_url, bitrate = best_mp4(video_info)
            ratio = video_info.get("aspect_ratio")
            if isinstance(ratio, list) and len(ratio) == 2:
                aspect_w, aspect_h = _int(ratio[0]), _int(ratio[1])
            duration = _int(video_info.get("duration_millis"))
        source = variant_url if mtype in ("video", "animated_gif") and variant_url else media_url
        basename = source.split("?", 1)[0].rsplit("/", 1)[-1]
        file_path: str | None = None
        is_missing = 1
        if basename:
            filename = f"{tweet_id}-{basename}"
            candidates = [d + filename for d in ctx.media_dirs]
            file_path = candidates[0]
            for candidate in candidates:
                if candidate in ctx.media_files:
                    file_path = candidate
                    is_missing = 0
                    break
        if is_missing and file_path:
            missing.append(file_path)
        large = (item.get("sizes") or {}).get("large") or {}
        rows.append(
            (
                tweet_id,
                position,
                _int(item.get("id_str") or item.get("id")),
                mtype,
                media_url,
                item.get("url"),
                item.get("expanded_url"),
                file_path,
                variant_url,
                bitrate,
                _int(large.get("w")),
                _int(large.get("h")),
                aspect_w,
                aspect_h,
                duration,
                _int(item.get("source_status_id_str") or item.get("source_status_id")),
                is_missing,
            )
        )
    return rows, missing
