"""Long posts: ``note-tweet.js`` entries and their link to the truncated tweet.

A note carries no tweet id. The linking rule (format doc, checked on 41 real notes): the
tweet was created in the same second as the note; when several tweets share that second
(threads), prefer the one whose snowflake time is nearest *after* the note's; then confirm
that the tweet's text (truncated, often ending in ``…``) is a prefix of the note's text once
links are taken out of both.

A reply is the exception to "prefix": X writes the @names a reply answers at the start of the
tweet's ``full_text`` (``display_text_range`` starts at 0 all the same), while the note leaves
them out. So a tweet's leading @names may be skipped when it is compared with its note, and the
restored text keeps them in front of the note's text, as every other reply's text has them.
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
    prefix = _tweet_prefix(tweet_text)
    return _normalised_head(note_text, len(prefix)).startswith(prefix)


def _tweet_prefix(tweet_text: str) -> str:
    """The part of a (possibly truncated) tweet text that its note must begin with."""
    prefix = _normalise(tweet_text)
    if prefix.endswith("…"):
        # The cut may fall inside a word: compare whole words only.
        prefix = prefix[:-1].rstrip()
        prefix = prefix.rsplit(" ", 1)[0] if " " in prefix else ""
    return prefix


def _normalised_head(text: str, at_least: int) -> str:
    """A prefix of ``_normalise(text)``: at least ``at_least`` characters long unless it is the
    whole. Notes run to 25,000 characters while a tweet holds 280: normalising only the
    head of the note is what makes linking thousands of notes cheap.
    """
    size = max(4 * at_least, 1024)
    if size >= len(text):
        return _normalise(text)
    # Cut at a space: no link spans it, so the words before it normalise as in the whole.
    cut = text.rfind(" ", 0, size)
    head = _normalise(text[:cut]) if cut > 0 else ""
    return head if len(head) > at_least else _normalise(text)


# The @names a reply answers, as X writes them before the reply's text: "@alice @bob_2 ".
_REPLY_NAMES = re.compile(r"(?:[@＠][A-Za-z0-9_]+\s+)+")


def reply_names(tweet_text: str, note_text: str) -> str:
    """The @names that begin a reply's text but not its note ('' when there are none).

    X writes the names a reply answers at the start of the tweet's ``full_text``; the note
    leaves them out. A note that itself begins with the same names keeps them (nothing to skip).
    """
    found = _REPLY_NAMES.match(tweet_text)
    if found is None or note_text.startswith(found.group()):
        return ""
    return found.group()


def _raw_begins(note: Note, text: str) -> bool:
    """Whether a tweet's ``text`` begins the note's text as it is (no normalising needed).

    Mostly the tweet's text (truncated: up to its last whole word) begins the note as it is;
    a raw prefix is one once normalised too.
    """
    head = text
    if text.endswith("…"):  # truncated: the cut word does not count
        head = text[: max(text.rfind(" ", 0, len(text) - 1), 0)]
    return len(head) >= 20 and note.text.startswith(head)


def _by_nearness(note: Note, candidates: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The candidates, nearest after the note first, then the ones before it."""

    def distance(item: tuple[int, str]) -> tuple[int, int]:
        delta = snowflake_ms(item[0]) - note.created_ms
        return (0, delta) if delta >= 0 else (1, -delta)

    return sorted(candidates, key=distance)


def choose_tweet(note: Note, candidates: list[tuple[int, str]]) -> int | None:
    """The id of the tweet (among those created in the note's second) that the note belongs to."""
    ordered = _by_nearness(note, candidates)
    normalised: str | None = None
    for tweet_id, text in ordered:
        names = reply_names(text, note.text)
        # A reply's note begins after the @names X put before the reply's text (and must
        # begin with words: names alone match nothing).
        body = text[len(names) :] if names and _tweet_prefix(text[len(names) :]) else None
        if _raw_begins(note, text) or (body is not None and _raw_begins(note, body)):
            return tweet_id
        if normalised is None:
            # Once per note, not per candidate; only as much of the note as a tweet needs.
            normalised = _normalised_head(note.text, max(len(t) for _, t in ordered))
        if normalised.startswith(_tweet_prefix(text)) or (
            body is not None and normalised.startswith(_tweet_prefix(body))
        ):
            return tweet_id
    return None


def _quoted(text: str, limit: int = 60) -> str:
    """The start of a text, on one line, quoted for a warning."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def why_unlinked(note: Note, candidates: list[tuple[int, str]]) -> str:
    """Why ``choose_tweet`` found no tweet for ``note``, in the user's words."""
    second = note.created_at[:19].replace("T", " ")
    if not candidates:
        return f"no tweet of the archive was created in its second ({second} UTC)"
    tweet_id, text = _by_nearness(note, candidates)[0]
    others = len(candidates) - 1
    which = f"the tweet {tweet_id} of its second ({second} UTC)"
    if others:
        which = (
            f"none of the {others + 1} tweets of its second ({second} UTC) begins like it: {which}"
        )
    # The whole tweet text, @names included: that is how the user knows the tweet.
    return f"{which} begins {_quoted(text)} where the long post begins {_quoted(note.text)}"


@dataclass
class UnlinkedNote:
    """A note no tweet was found for, and why."""

    note_id: int
    reason: str

    @property
    def warning(self) -> str:
        """The import warning for it."""
        return (
            f"long post {self.note_id} matches no tweet of the archive: {self.reason}; "
            "it stays unpublished"
        )


def _restored(
    note: Note, tweet_text: str, tweet_entities: dict[str, Any]
) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    """The tweet's full text and entities: the note's, after the @names a reply begins with."""
    names = reply_names(tweet_text, note.text)
    ids = {
        m["screen_name"].lower(): m["id"]
        for m in tweet_entities.get("mentions", [])
        if m.get("id") is not None
    }
    for mention in note.entities["mentions"]:
        mention["id"] = ids.get(mention["screen_name"].lower())
    if not names:
        return note.text, note.entities
    shift = len(names)
    entities: dict[str, list[dict[str, Any]]] = {
        key: [{**e, "start": e["start"] + shift, "end": e["end"] + shift} for e in items]
        for key, items in note.entities.items()
    }
    # The reply's own mentions (with the ids the note lacks) stand before the note's.
    leading = [m for m in tweet_entities.get("mentions", []) if m.get("end", shift + 1) <= shift]
    entities["mentions"] = leading + entities.get("mentions", [])
    return names + note.text, entities


_NOTE_BATCH = 500


def _note_batches(conn: sqlite3.Connection) -> Iterator[list[tuple[Any, ...]]]:
    """Every note, a few hundred at a time: memory does not grow with the number of notes."""
    last = -1
    while True:
        rows = conn.execute(
            "SELECT note_id, created_at, created_ms, text, entities FROM notes "
            "WHERE note_id > ? ORDER BY note_id LIMIT ?",
            (last, _NOTE_BATCH),
        ).fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _candidates(
    conn: sqlite3.Connection, notes: list[tuple[Any, ...]]
) -> dict[int, list[tuple[int, str, str]]]:
    """For each note of the batch (by its place in it), the tweets created in its second:
    (id, text as it was in the archive, entities)."""
    windows = []
    for created_ms in (row[2] for row in notes):
        second = created_ms - created_ms % 1000
        windows.append(
            [(second - SNOWFLAKE_EPOCH_MS) << 22, (second + 1000 - SNOWFLAKE_EPOCH_MS) << 22]
        )
    found: dict[int, list[tuple[int, str, str]]] = {}
    # One statement for the batch: each window is a range of the tweets' ids (snowflakes).
    for place, tweet_id, is_long, text, entities in conn.execute(
        "SELECT w.key, t.id, t.is_long_post, CASE WHEN t.is_long_post THEN t.raw_text "
        "ELSE t.text END, t.entities FROM json_each(?) w JOIN tweets t "
        "ON t.id >= json_extract(w.value, '$[0]') AND t.id < json_extract(w.value, '$[1]')",
        (orjson.dumps(windows),),
    ):
        # A tweet already restored (an earlier import, or this one) offers its raw text:
        # it differs from the stored one only in links, which matching ignores.
        found.setdefault(place, []).append(
            (tweet_id, unescape(text) if is_long else text, entities)
        )
    return found


def link_notes(conn: sqlite3.Connection) -> tuple[int, list[UnlinkedNote]]:
    """Link every stored note to its tweet and restore the full text; (linked, unlinked)."""
    linked = 0
    unlinked: list[UnlinkedNote] = []
    for batch in _note_batches(conn):
        tweet_updates: list[tuple[str, str, int, int]] = []
        note_updates: list[tuple[int | None, int]] = []
        candidates = _candidates(conn, batch)
        for place, (note_id, created_at, created_ms, text, entities) in enumerate(batch):
            found = candidates.get(place, [])
            note = Note(note_id, created_at, created_ms, text, {})
            texts = [(c[0], c[1]) for c in found]
            tweet_id = choose_tweet(note, texts)
            if tweet_id is None:
                unlinked.append(UnlinkedNote(note_id, why_unlinked(note, texts)))
                note_updates.append((None, note_id))
                continue
            note.entities = orjson.loads(entities)
            # Only the chosen tweet's entities are read: the mention ids the note lacks.
            _, tweet_text, tweet_entities = next(c for c in found if c[0] == tweet_id)
            full_text, full_entities = _restored(note, tweet_text, orjson.loads(tweet_entities))
            tweet_updates.append(
                (full_text, orjson.dumps(full_entities).decode(), note_id, tweet_id)
            )
            note_updates.append((tweet_id, note_id))
            linked += 1
        # Written batch by batch: the next batch's candidates see this one's restored tweets.
        conn.executemany(
            "UPDATE tweets SET text = ?, entities = ?, is_long_post = 1, note_id = ? WHERE id = ?",
            tweet_updates,
        )
        conn.executemany("UPDATE notes SET tweet_id = ? WHERE note_id = ?", note_updates)
    return linked, unlinked
