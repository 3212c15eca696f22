"""Which tweets to migrate: the filters of ``departures migrate plan`` (pure, no I/O).

Rules, in the order they apply:

* A self-thread is selected as a unit, by its root: the root's kind, date, likes and reposts
  decide; ``--hashtag`` and ``--match`` accept a thread when any of its tweets matches. So a
  thread is never cut in the middle by a date or engagement filter. ``--top N`` ranks units by
  the root's likes + reposts.
* Inside a selected unit, single tweets still drop out when they are deleted, community
  tweets, excluded by ``--exclude``, withheld (``--skip-withheld``, the default) or possibly
  sensitive (``--skip-sensitive``); with ``--no-threads`` every self-reply does. A tweet whose
  parent dropped out is attached to its nearest planned (or already published) ancestor, or
  starts a thread of its own when there is none.
* Deleted and community tweets are never planned unless ``--include`` names them;
  ``--include`` plans a tweet whatever the other filters say.
* A self-reply whose parent is not in the archive counts as the root of its own thread.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from departures.bluesky.limits import MediaLimits
from departures.migrate.convert import TweetRow

__all__ = [
    "DEFAULT_CHOICES",
    "Selected",
    "Selection",
    "select_tweets",
    "selection_from_choices",
]


@dataclass(frozen=True)
class Selection:
    """The filters of a plan (see the module docstring for how they combine)."""

    since: date | None = None
    until: date | None = None
    originals: bool = True
    threads: bool = True
    quotes: bool = True
    replies: bool = False
    retweets: bool = False
    min_likes: int = 0
    min_reposts: int = 0
    hashtags: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    include: frozenset[int] = frozenset()
    exclude: frozenset[int] = frozenset()
    top: int | None = None
    skip_sensitive: bool = False
    skip_withheld: bool = True


@dataclass
class Selected:
    """The outcome: tweets in time order, their planned parent and the kind they migrate as."""

    ids: list[int] = field(default_factory=list)
    parent: dict[int, int | None] = field(default_factory=dict)
    kind: dict[int, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def unit_kind(tweet: TweetRow) -> str:
    """The kind a unit root migrates as: original, quote, thread, reply or retweet."""
    return {
        "original": "original",
        "quote": "quote",
        "reply_to_self": "thread",
        "reply_to_other": "reply",
        "retweet": "retweet",
    }.get(tweet.kind, "original")


def select_tweets(
    tweets: Sequence[TweetRow],
    selection: Selection,
    *,
    published: Collection[int] = (),
) -> Selected:
    """Apply ``selection`` to ``tweets``; ``published`` are tweet ids already on Bluesky."""
    by_id = {t.id: t for t in tweets}
    units: dict[int, list[TweetRow]] = {}
    for tweet in tweets:
        units.setdefault(_unit_root(tweet, by_id), []).append(tweet)

    chosen_units = [
        root for root, members in units.items() if _unit_passes(by_id[root], members, selection)
    ]
    result = Selected()
    if selection.top is not None:
        chosen_units.sort(key=lambda r: (-by_id[r].engagement, -by_id[r].time_ms))
        result.skipped["below --top"] = len(chosen_units[selection.top :])
        chosen_units = chosen_units[: selection.top]
    result.skipped["filtered out"] = len(units) - len(chosen_units) - result.skipped["below --top"]

    chosen: set[int] = set()
    for root in chosen_units:
        for tweet in units[root]:
            reason = _drop_reason(tweet, tweet.id == root, selection)
            if reason is None:
                chosen.add(tweet.id)
            else:
                result.skipped[reason] += 1
    for tweet_id in sorted(selection.include):
        if tweet_id in by_id:
            chosen.add(tweet_id)
        else:
            result.warnings.append(f"--include {tweet_id}: no such tweet in the archive")
    for tweet_id in sorted(selection.exclude - by_id.keys()):
        result.warnings.append(f"--exclude {tweet_id}: no such tweet in the archive")

    result.ids = sorted(chosen, key=lambda i: (by_id[i].time_ms, i))
    published_ids = set(published)
    for tweet_id in result.ids:
        tweet = by_id[tweet_id]
        parent = _planned_parent(tweet, by_id, chosen, published_ids)
        result.parent[tweet_id] = parent
        if tweet.kind == "reply_to_self" and parent is not None:
            result.kind[tweet_id] = "thread"
        elif tweet.kind == "reply_to_self":
            result.kind[tweet_id] = "original"  # its thread above it is not migrated
        else:
            result.kind[tweet_id] = unit_kind(tweet)
    result.skipped = Counter({k: v for k, v in result.skipped.items() if v})
    return result


def _unit_root(tweet: TweetRow, by_id: dict[int, TweetRow]) -> int:
    root = tweet.thread_root_id
    if root is not None and root in by_id:
        return root
    return tweet.id


def _unit_passes(root: TweetRow, members: Sequence[TweetRow], sel: Selection) -> bool:
    wanted = {
        "original": sel.originals,
        "quote": sel.quotes,
        "thread": sel.threads,
        "reply": sel.replies,
        "retweet": sel.retweets,
    }[unit_kind(root)]
    if not wanted:
        return False
    day = _day(root)
    if sel.since is not None and (day is None or day < sel.since):
        return False
    if sel.until is not None and (day is None or day > sel.until):
        return False
    if root.favorite_count < sel.min_likes or root.retweet_count < sel.min_reposts:
        return False
    if sel.hashtags and not any(_has_hashtag(t, sel.hashtags) for t in members):
        return False
    return not sel.match or any(_matches(t, sel.match) for t in members)


def _day(tweet: TweetRow) -> date | None:
    if not tweet.created_at:
        return None
    try:
        return date.fromisoformat(tweet.created_at[:10])
    except ValueError:
        return None


def _has_hashtag(tweet: TweetRow, wanted: Iterable[str]) -> bool:
    tags = {str(h.get("text", "")).lstrip("#＃").casefold() for h in _list(tweet, "hashtags")}
    return any(w.lstrip("#＃").casefold() in tags for w in wanted)


def _list(tweet: TweetRow, name: str) -> list[dict[str, object]]:
    value = tweet.entities.get(name) if tweet.entities else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _matches(tweet: TweetRow, needles: Iterable[str]) -> bool:
    text = tweet.text.casefold()
    return any(n.casefold() in text for n in needles)


def _drop_reason(tweet: TweetRow, is_root: bool, sel: Selection) -> str | None:
    if tweet.id in sel.include:
        return None
    if tweet.id in sel.exclude:
        return "excluded by --exclude"
    if tweet.is_deleted:
        return "deleted on X"
    if tweet.is_community:
        return "community tweet"
    if not is_root and not sel.threads:
        return "self-reply (--no-threads)"
    if tweet.withheld and sel.skip_withheld:
        return "withheld (--skip-withheld)"
    if tweet.possibly_sensitive and sel.skip_sensitive:
        return "possibly sensitive (--skip-sensitive)"
    return None


def _planned_parent(
    tweet: TweetRow, by_id: dict[int, TweetRow], chosen: set[int], published: set[int]
) -> int | None:
    """The nearest self-thread ancestor that is planned or published, or None."""
    seen: set[int] = set()
    current = tweet.thread_parent_id
    while current is not None and current not in seen:
        if current in chosen or current in published:
            return current
        seen.add(current)
        parent = by_id.get(current)
        current = parent.thread_parent_id if parent is not None else None
    return None


#: The plan's choices by default, as ``departures migrate plan`` records them (``plan_choices``).
DEFAULT_CHOICES: dict[str, object] = {
    "since": None,
    "until": None,
    "originals": True,
    "threads": True,
    "quotes": True,
    "replies": False,
    "retweets": False,
    "min_likes": 0,
    "min_reposts": 0,
    "hashtags": [],
    "match": [],
    "include": [],
    "exclude": [],
    "top": None,
    "skip_sensitive": False,
    "skip_withheld": True,
    "footer": None,
    "video_max_seconds": MediaLimits().video_max_duration_ms // 1000,
    "video_max_mb": MediaLimits().video_max_bytes // 1_000_000,
}


def selection_from_choices(choices: Mapping[str, Any]) -> Selection:
    """The :class:`Selection` of recorded plan choices (missing ones take the defaults)."""
    merged = {**DEFAULT_CHOICES, **choices}
    since, until = merged["since"], merged["until"]
    top = merged["top"]
    return Selection(
        since=date.fromisoformat(str(since)) if since else None,
        until=date.fromisoformat(str(until)) if until else None,
        originals=bool(merged["originals"]),
        threads=bool(merged["threads"]),
        quotes=bool(merged["quotes"]),
        replies=bool(merged["replies"]),
        retweets=bool(merged["retweets"]),
        min_likes=int(merged["min_likes"]),
        min_reposts=int(merged["min_reposts"]),
        hashtags=tuple(str(h) for h in merged["hashtags"]),
        match=tuple(str(m) for m in merged["match"]),
        include=frozenset(int(i) for i in merged["include"]),
        exclude=frozenset(int(i) for i in merged["exclude"]),
        top=int(top) if top is not None else None,
        skip_sensitive=bool(merged["skip_sensitive"]),
        skip_withheld=bool(merged["skip_withheld"]),
    )
