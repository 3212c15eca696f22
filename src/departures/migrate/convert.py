"""One tweet → the Bluesky posts that migrate it (pure functions, no I/O).

A tweet becomes one post, or a self-thread of parts when its text is over the limits. Part 0
carries everything that is not text: images or a video, a quote of a migrated post (the
publisher turns ``quote_key`` into a record embed), or one link card. Rules:

* Text: :func:`~departures.migrate.richtext.build_post_text` (links shortened with link
  facets, hashtags as tags, mentions as X profile links or Bluesky mentions when a DID is
  known), then :func:`~departures.migrate.split.split_post`. The footer goes on the last part.
* Quotes: when the quoted tweet is migrated (planned or already published) the post quotes
  it; otherwise a link card "Post by @user on X" points at the original. Either way the
  quoted status link leaves the text, as the app shows the embed instead.
* Retweets (only with ``--retweets``): reposting someone else's words as our own post would
  misrepresent them, and re-uploading their images is not ours to do. A retweet becomes a
  short post "Repost of @user" with a link card to the retweet on X (X shows the original
  there) whose description is the retweeted text.
* Images: up to 4, each with its alt text (a warning for each one without). Videos and GIFs:
  one per post as a video; one over the limits becomes a link card to the video on X.
  A media file missing from the archive is left out with a warning.
* ``createdAt``: the tweet's time to the millisecond (from its snowflake id); part k is k ms
  later so the parts sort in order. ``langs`` from the tweet's ``lang``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import regex  # type: ignore[import-untyped]

from departures.migrate.langs import bluesky_langs
from departures.migrate.media import (
    DEFAULT_LIMITS,
    MediaLimits,
    check_video,
)
from departures.migrate.richtext import (
    Hashtag,
    Link,
    Mention,
    RichText,
    SourceText,
    build_post_text,
    grapheme_count,
    post_record,
)
from departures.migrate.rkeys import tweet_time_ms
from departures.migrate.split import split_post

__all__ = [
    "MISSING_ALT",
    "ConvertOptions",
    "MediaRow",
    "PostDraft",
    "TweetRow",
    "convert_tweet",
    "iso_ms",
    "plan_key",
]

MAX_IMAGES = 4
#: Link card fields: the lexicon sets no limit, the app shows about this much.
CARD_DESCRIPTION_MAX = 300
#: Every warning about an image without alt text starts with this (alt-text import rewrites
#: them).
MISSING_ALT = "Missing alt text"
_STATUS_URL = re.compile(
    r"^https?://(?:www\.|mobile\.)?(?:twitter|x)\.com/(?P<user>[A-Za-z0-9_]+)/status(?:es)?/"
    r"(?P<id>\d+)",
    re.IGNORECASE,
)
_RT_PREFIX = re.compile(r"^RT @(?P<user>[A-Za-z0-9_]+):\s*")


def plan_key(tweet_id: int, part: int = 0) -> str:
    """The plan key of part ``part`` of the post migrated from ``tweet_id``."""
    return f"{tweet_id}:{part}"


def iso_ms(ms: int) -> str:
    """``createdAt`` form of a Unix time in ms: ISO 8601 UTC with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(frozen=True)
class MediaRow:
    """One row of the ``media`` table, with the size of its file in the archive if known."""

    position: int
    type: str  # photo / video / animated_gif
    file_path: str | None
    missing: bool = False
    width: int | None = None
    height: int | None = None
    aspect_w: int | None = None
    aspect_h: int | None = None
    duration_ms: int | None = None
    expanded_url: str | None = None
    size: int | None = None
    #: The tweet that first posted this media when that tweet is not in the archive: most
    #: likely another account's picture, which is not ours to republish without asking.
    foreign_source_id: int | None = None

    @property
    def is_video(self) -> bool:
        """Videos and GIFs (X stores GIFs as mp4) go up as a video."""
        return self.type in ("video", "animated_gif")

    @property
    def aspect(self) -> tuple[int, int] | None:
        """Width and height for ``aspectRatio`` (from the archive), or None."""
        if self.width and self.height:
            return (self.width, self.height)
        if self.aspect_w and self.aspect_h:
            return (self.aspect_w, self.aspect_h)
        return None

    @property
    def file_name(self) -> str:
        """The file's base name (what the alt-text CSV shows)."""
        return (self.file_path or "").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TweetRow:
    """What conversion needs of one row of the ``tweets`` table."""

    id: int
    text: str
    entities: Mapping[str, Any]
    kind: str
    created_at: str | None = None
    lang: str | None = None
    quote_of: int | None = None
    quote_url: str | None = None
    thread_root_id: int | None = None
    thread_parent_id: int | None = None
    reply_to_screen_name: str | None = None
    retweet_of_screen_name: str | None = None
    possibly_sensitive: bool = False
    withheld: bool = False
    is_deleted: bool = False
    is_community: bool = False
    favorite_count: int = 0
    retweet_count: int = 0
    media: tuple[MediaRow, ...] = ()

    @property
    def engagement(self) -> int:
        """Likes plus reposts (what ``--top`` ranks by)."""
        return self.favorite_count + self.retweet_count

    @property
    def time_ms(self) -> int:
        """The tweet's time in Unix ms (from its snowflake id when it has one)."""
        return tweet_time_ms(self.id, self.created_at)


@dataclass(frozen=True)
class ConvertOptions:
    """Settings of a conversion that are the same for every tweet of a plan."""

    username: str = "i"  # the account's X screen name, for links back to X
    footer: str | None = None
    mention_dids: Mapping[str, str] = field(default_factory=dict)
    alt_texts: Mapping[tuple[int, int], str] = field(default_factory=dict)
    limits: MediaLimits = DEFAULT_LIMITS


@dataclass
class PostDraft:
    """One planned post: a row of ``plan_posts`` without ``seq``, ``rkey`` and ``planned_at``."""

    tweet_id: int
    part: int
    parts: int
    kind: str
    record: dict[str, Any]
    root_key: str | None = None
    parent_key: str | None = None
    quote_key: str | None = None
    media: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``"<tweet_id>:<part>"``."""
        return plan_key(self.tweet_id, self.part)


def convert_tweet(
    tweet: TweetRow,
    options: ConvertOptions,
    *,
    kind: str | None = None,
    root_key: str | None = None,
    parent_key: str | None = None,
    quote_migrated: bool = False,
    with_footer: bool = True,
) -> list[PostDraft]:
    """The posts (1 or more parts) that migrate ``tweet``; none when nothing is left to show.

    ``root_key``/``parent_key`` place it in a thread (the parent's last part);
    ``quote_migrated`` says the quoted tweet has (or will have) a post of its own.
    ``with_footer`` is False for a tweet followed by its own self-reply in the plan.
    """
    kind = kind or tweet.kind
    warnings: list[str] = []
    embed: dict[str, Any] | None
    media: list[dict[str, Any]] = []
    quote_key: str | None = None
    if tweet.kind == "retweet":
        rich, embed = _retweet(tweet, options)
    else:
        rich, embed, media, quote_key = _content(tweet, options, quote_migrated, warnings)
    if not rich.text.strip() and not media and embed is None and quote_key is None:
        return []  # nothing left to show (e.g. a picture-only tweet whose file is missing)
    if with_footer and options.footer and options.footer.strip():
        rich = _with_footer(rich, options.footer)
    parts = split_post(rich)
    if tweet.possibly_sensitive:
        warnings.append("Marked possibly sensitive on X: review before publishing")
    if tweet.withheld:
        warnings.append("Withheld in some countries on X")
    base_ms = tweet.time_ms
    langs = bluesky_langs(tweet.lang)
    drafts: list[PostDraft] = []
    thread_root = root_key
    for index, part in enumerate(parts):
        record = post_record(
            part,
            created_at=iso_ms(base_ms + index),
            langs=langs,
            embed=embed if index == 0 else None,
        )
        if index == 0:
            draft = PostDraft(
                tweet.id,
                0,
                len(parts),
                kind,
                record,
                root_key=root_key,
                parent_key=parent_key,
                quote_key=quote_key,
                media=media,
                warnings=warnings,
            )
            thread_root = root_key or draft.key
        else:
            draft = PostDraft(
                tweet.id,
                index,
                len(parts),
                kind,
                record,
                root_key=thread_root,
                parent_key=drafts[-1].key,
            )
        drafts.append(draft)
    return drafts


def _with_footer(rich: RichText, footer: str) -> RichText:
    # Re-use build_post_text's footer handling (links in it become facets) on finished text.
    tail = build_post_text(SourceText(""), footer=footer)
    if not rich.text:
        return tail
    base = rich.byte_length + 2
    return RichText(
        f"{rich.text}\n\n{tail.text}", rich.facets + tuple(f.shifted(base) for f in tail.facets)
    )


def _content(
    tweet: TweetRow, options: ConvertOptions, quote_migrated: bool, warnings: list[str]
) -> tuple[RichText, dict[str, Any] | None, list[dict[str, Any]], str | None]:
    source = SourceText.from_stored(tweet.text, tweet.entities)
    media, fallback_card = _media(tweet, options, warnings)
    quote_key: str | None = None
    card: dict[str, Any] | None = None
    quoted = _quoted(tweet)
    if quoted is not None:
        quote_id, quote_user, quote_url = quoted
        if quote_migrated:
            quote_key = plan_key(quote_id)
            source = _without_link(source, quote_url)
        elif not media:
            title = f"Post by @{quote_user} on X" if quote_user else "Post on X"
            card = _card(quote_url, title, "")
            source = _without_link(source, quote_url)
        # With media and an unmigrated quote there is no room for a card: the link stays.
    if fallback_card is not None:
        if media or quote_key or card is not None:
            warnings.append("The video's link card is left out: the post already has an embed")
        else:
            card = fallback_card
    rich = build_post_text(source, mention_dids=options.mention_dids)
    embed = None
    if card is not None:
        embed = {"$type": "app.bsky.embed.external", "external": card}
    return rich, embed, media, quote_key


def _quoted(tweet: TweetRow) -> tuple[int, str, str] | None:
    """(quoted tweet id, its author or "", the link as it stands in the text) of a quote."""
    if tweet.quote_of is None or not tweet.quote_url:
        return None
    match = _STATUS_URL.match(tweet.quote_url)
    user = match.group("user") if match else ""
    # x.com/i/status/N and x.com/i/web/status/N name no author.
    return tweet.quote_of, "" if user.lower() == "i" else user, tweet.quote_url


def _without_link(source: SourceText, url: str) -> SourceText:
    """``source`` without the link to ``url`` (and the blank space it leaves behind)."""
    target = next((link for link in source.links if link.url == url), None)
    if target is None:
        return source
    text = source.text
    start, end = target.start, target.end
    # Take the whitespace before the link with it, so no dangling blank line remains.
    while start > 0 and text[start - 1].isspace():
        start -= 1
    if start == 0:
        while end < len(text) and text[end].isspace():
            end += 1
    removed = end - start

    def moved(pos: int) -> int:
        return pos - removed if pos >= end else pos

    def keep(s: int, e: int) -> bool:
        return e <= start or s >= end

    return SourceText(
        text[:start] + text[end:],
        tuple(
            Link(moved(x.start), moved(x.end), x.url, x.display_url, x.tco)
            for x in source.links
            if x is not target and keep(x.start, x.end)
        ),
        tuple(
            Mention(moved(m.start), moved(m.end), m.screen_name, m.id)
            for m in source.mentions
            if keep(m.start, m.end)
        ),
        tuple(
            Hashtag(moved(h.start), moved(h.end), h.text)
            for h in source.hashtags
            if keep(h.start, h.end)
        ),
    )


def _card(uri: str, title: str, description: str) -> dict[str, Any]:
    if grapheme_count(description) > CARD_DESCRIPTION_MAX:
        description = _cut(description, CARD_DESCRIPTION_MAX - 1) + "…"
    return {"uri": uri, "title": title, "description": description}


def _cut(text: str, graphemes: int) -> str:
    return "".join(regex.findall(r"\X", text)[:graphemes]).rstrip()


def _media(
    tweet: TweetRow, options: ConvertOptions, warnings: list[str]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The uploads of part 0, and a link card standing in for a video that cannot go."""
    images: list[dict[str, Any]] = []
    videos: list[dict[str, Any]] = []
    card: dict[str, Any] | None = None
    for item in sorted(tweet.media, key=lambda m: m.position):
        label = f"{'image' if not item.is_video else 'video'} {item.position + 1}"
        if item.missing or not item.file_path:
            warnings.append(
                f"Missing media: {label} ({item.file_name or 'no file'}) is not in the archive;"
                " the post goes without it"
            )
            continue
        entry: dict[str, Any] = {
            "kind": "video" if item.is_video else "image",
            "member": item.file_path,
            "media_key": f"{tweet.id}:{item.position}",
            "alt": options.alt_texts.get((tweet.id, item.position), ""),
            "aspect": list(item.aspect) if item.aspect else None,
            "mime": "video/mp4" if item.is_video else _image_mime(item.file_path),
        }
        if item.size is not None:
            entry["size"] = item.size
        if item.foreign_source_id is not None:
            warnings.append(
                f"Media from another post: {label} was first posted in "
                f"https://x.com/i/status/{item.foreign_source_id}; make sure you may republish it"
            )
        if not item.is_video:
            images.append(entry)
            continue
        reason = check_video(item.duration_ms, item.size, options.limits)
        if reason:
            warnings.append(f"Video too large: {label}: {reason}; it becomes a link card to X")
            url = item.expanded_url or f"https://x.com/{options.username}/status/{tweet.id}"
            card = card or _card(url, f"Video by @{options.username} on X", "")
            continue
        videos.append(entry)
    chosen: list[dict[str, Any]]
    if images:
        chosen = images[:MAX_IMAGES]
        left_out = len(images) - len(chosen) + len(videos)
        if left_out:
            warnings.append(
                f"Unsupported media mix: {left_out} item(s) left out (a post holds up to 4 "
                "images or one video)"
            )
    else:
        chosen = videos[:1]
        if len(videos) > 1:
            warnings.append(f"{len(videos) - 1} more video(s) left out (one video per post)")
    for entry in chosen:
        if not entry["alt"]:
            what = "image" if entry["kind"] == "image" else "video"
            position = int(entry["media_key"].split(":")[1]) + 1
            name = entry["member"].rsplit("/", 1)[-1]
            warnings.append(f"{MISSING_ALT}: {what} {position} ({name})")
    return chosen, card


def _image_mime(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".png"):
        return "image/png"
    if lower.endswith(".gif"):
        return "image/gif"
    if lower.endswith(".webp"):
        return "image/webp"
    return "image/jpeg"


def _retweet(tweet: TweetRow, options: ConvertOptions) -> tuple[RichText, dict[str, Any]]:
    match = _RT_PREFIX.match(tweet.text)
    user = tweet.retweet_of_screen_name or (match.group("user") if match else "someone")
    body = tweet.text[match.end() :] if match else tweet.text
    text = f"Repost of @{user}"
    mention = text.index("@")
    source = SourceText(text, mentions=(Mention(mention, len(text), user),))
    rich = build_post_text(source, mention_dids=options.mention_dids)
    url = f"https://x.com/{options.username}/status/{tweet.id}"
    card = _card(url, f"Post by @{user} on X", body.strip())
    return rich, {"$type": "app.bsky.embed.external", "external": card}


def thread_leaves(parent_of: Mapping[int, int | None], selected: Sequence[int]) -> set[int]:
    """The selected tweets that no other selected tweet replies to (they get the footer)."""
    has_child = {parent for parent in parent_of.values() if parent is not None}
    return {tweet_id for tweet_id in selected if tweet_id not in has_child}
