"""Long posts: ``note-tweet.js`` entries and their link to the truncated tweet.

A note carries no tweet id. The linking rule (format doc, checked on 41 real notes): the
tweet was created in the same second as the note; when several tweets share that second
(threads), prefer the one whose snowflake time is nearest *after* the note's; then confirm
that the tweet's text (truncated, often ending in ``…``) is a prefix of the note's text once
links are taken out of both.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from departures.archive.tweets import SNOWFLAKE_EPOCH_MS, snowflake_ms, unescape

_URLISH = re.compile(r"https?://\S*")


@dataclass
class Note:
    """A note tweet with its text and entities (offsets into the text, links expanded)."""

    note_id: int
    created_at: str
    created_ms: int
    text: str
    entities: dict[str, list[dict[str, Any]]]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_note(item: dict[str, Any]) -> Note | None:
    """A :class:`Note` from a ``noteTweet`` object, or None when it lacks id, time or text."""
    note_id = _int(item.get("noteTweetId"))
    created = item.get("createdAt")
    core = item.get("core")
    if note_id is None or not isinstance(created, str) or not isinstance(core, dict):
        return None
    text = core.get("text")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return None
    created_ms = int(moment.timestamp() * 1000)
    return Note(note_id, created, created_ms, *_render_note(text, core))


def _render_note(text: str, core: dict[str, Any]) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """Expand the note's links and give every entity offsets into the expanded text."""
    spans: list[tuple[int, int, str, dict[str, Any]]] = []
    for key in ("urls", "mentions", "hashtags"):
        for entity in core.get(key) or ():
            if not isinstance(entity, dict):
                continue
            start, end = _int(entity.get("fromIndex")), _int(entity.get("toIndex"))
            if start is not None and end is not None and 0 <= start < end <= len(text):
                spans.append((start, end, key, entity))
    spans.sort(key=lambda s: (s[0], s[1]))
    out: list[str] = []
    entities: dict[str, list[dict[str, Any]]] = {"urls": [], "mentions": [], "hashtags": []}
    pos = length = 0
    for start, end, key, entity in spans:
        if start < pos:
            continue
        out.append(text[pos:start])
        length += start - pos
        if key == "urls":
            piece = entity.get("expandedUrl") or entity.get("shortUrl") or text[start:end]
            entities["urls"].append(
                {
                    "start": length,
                    "end": length + len(piece),
                    "url": piece,
                    "display_url": entity.get("displayUrl") or piece,
                    "tco": entity.get("shortUrl") or text[start:end],
                }
            )
        else:
            piece = text[start:end]
            if key == "mentions":
                entities["mentions"].append(
                    {
                        "start": length,
                        "end": length + len(piece),
                        "screen_name": entity.get("screenName") or piece.lstrip("@"),
                        "id": None,
                    }
                )
            else:
                entities["hashtags"].append(
                    {
                        "start": length,
                        "end": length + len(piece),
                        "text": entity.get("text") or piece.lstrip("#"),
                    }
                )
        out.append(piece)
        length += len(piece)
        pos = end
    out.append(text[pos:])
    return "".join(out), entities


def _normalise(text: str) -> str:
    return " ".join(_URLISH.sub(" ", text).split())


def is_prefix_of_note(tweet_text: str, note_text: str) -> bool:
    """Whether the truncated tweet text begins the note's text (links and spacing ignored)."""
    return _prefix_matches(tweet_text, _normalise(note_text))


def _prefix_matches(tweet_text: str, normalised_note: str) -> bool:
    prefix = _normalise(tweet_text)
    if prefix.endswith("…"):
        # The cut may fall inside a word: compare whole words only.
        prefix = prefix[:-1].rstrip()
        prefix = prefix.rsplit(" ", 1)[0] if " " in prefix else ""
    return normalised_note.startswith(prefix)


def choose_tweet(note: Note, candidates: list[tuple[int, str]]) -> int | None:
    """The id of the tweet (among those created in the note's second) that the note belongs to."""

    def distance(item: tuple[int, str]) -> tuple[int, int]:
        delta = snowflake_ms(item[0]) - note.created_ms
        # Nearest after the note first, then the ones before it.
        return (0, delta) if delta >= 0 else (1, -delta)

    normalised = _normalise(note.text)  # once, not once per candidate
    for tweet_id, text in sorted(candidates, key=distance):
        if _prefix_matches(text, normalised):
            return tweet_id
    return None


def _all_notes(conn: sqlite3.Connection, batch: int = 1000) -> Iterator[tuple[Any, ...]]:
    """Every note, a thousand at a time: memory does not grow with the number of notes."""
    last = -1
    while True:
        rows = conn.execute(
            "SELECT note_id, created_at, created_ms, text, entities FROM notes "
            "WHERE note_id > ? ORDER BY note_id LIMIT ?",
            (last, batch),
        ).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def link_notes(conn: sqlite3.Connection) -> tuple[int, list[int]]:
    """Link every stored note to its tweet and restore the full text; (linked, unlinked ids)."""
    linked = 0
    unlinked: list[int] = []
    tweet_updates: list[tuple[str, str, int, int]] = []
    note_updates: list[tuple[int | None, int]] = []

    def flush() -> None:
        conn.executemany(
            "UPDATE tweets SET text = ?, entities = ?, is_long_post = 1, note_id = ? WHERE id = ?",
            tweet_updates,
        )
        conn.executemany("UPDATE notes SET tweet_id = ? WHERE note_id = ?", note_updates)
        tweet_updates.clear()
        note_updates.clear()

    for note_id, created_at, created_ms, text, entities in _all_notes(conn):
        note = Note(note_id, created_at, created_ms, text, orjson.loads(entities))
        second = created_ms - created_ms % 1000
        low = (second - SNOWFLAKE_EPOCH_MS) << 22
        high = (second + 1000 - SNOWFLAKE_EPOCH_MS) << 22
        candidates = conn.execute(
            "SELECT id, CASE WHEN is_long_post THEN NULL ELSE text END, raw_text, entities "
            "FROM tweets WHERE id >= ? AND id < ?",
            (low, high),
        ).fetchall()
        texts = [(r[0], r[1] if r[1] is not None else unescape(r[2])) for r in candidates]
        tweet_id = choose_tweet(note, texts)
        if tweet_id is None:
            unlinked.append(note_id)
            note_updates.append((None, note_id))
            continue
        # Only the chosen tweet's entities are read: the mention ids the note lacks.
        tweet_entities = next(orjson.loads(r[3]) for r in candidates if r[0] == tweet_id)
        ids = {
            m["screen_name"].lower(): m["id"]
            for m in tweet_entities.get("mentions", [])
            if m.get("id") is not None
        }
        for mention in note.entities["mentions"]:
            mention["id"] = ids.get(mention["screen_name"].lower())
        tweet_updates.append((note.text, orjson.dumps(note.entities).decode(), note_id, tweet_id))
        note_updates.append((tweet_id, note_id))
        linked += 1
        if len(note_updates) >= 500:
            # In batches (fewer statements), bounded (memory stays flat). A tweet already
            # restored but not yet written here offers the same text for matching: its
            # stored text and its raw text differ only in links, which matching ignores.
            flush()
    flush()
    return linked, unlinked
