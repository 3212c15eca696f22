"""Record kinds and record keys: what the project writes to Bluesky, and under which keys.

Exactly-once writing rests on record keys chosen by the caller: a retry after a crash asks
the server for *the same* key, and the server recognises it instead of storing a duplicate.
Every key is a TID (13 base32-sortable characters: 53 bits of microseconds since the epoch,
10 bits of "clock id"), derived from what the write is about, never from the clock:

* :func:`encode_tid` / :func:`decode_tid` — the TID format itself;
* :func:`derived_rkey` — a TID that depends only on some strings (a subject's DID, a list's
  URI...): the key of a follow or a list item, the same in the CLI and the coalition service;
* :func:`follow_key` — the journal's name for following a DID (or listing it).

A thread gate or post gate has no key of its own: the lexicon requires the record key of
the post it governs (``departures.migrate.gates``).

Keys derived from other sources live with their owner and use :func:`encode_tid`: a tweet's
post (:func:`departures.migrate.rkeys.rkey_for`), a campaign's lists and welcome posts
(:mod:`departures.coalition.listsync`, :mod:`departures.coalition.departure`).
"""

from __future__ import annotations

import hashlib

__all__ = [
    "CURATELIST",
    "FOLLOW",
    "LIST",
    "LISTBLOCK",
    "LISTITEM",
    "MODLIST",
    "POST",
    "POSTGATE",
    "PROFILE",
    "REFERENCELIST",
    "STARTERPACK",
    "THREADGATE",
    "TID_ALPHABET",
    "decode_tid",
    "derived_rkey",
    "encode_tid",
    "follow_key",
]

# --- record kinds (collection NSIDs) -------------------------------------------------------

POST = "app.bsky.feed.post"
PROFILE = "app.bsky.actor.profile"
FOLLOW = "app.bsky.graph.follow"
LIST = "app.bsky.graph.list"
LISTITEM = "app.bsky.graph.listitem"
LISTBLOCK = "app.bsky.graph.listblock"
STARTERPACK = "app.bsky.graph.starterpack"
#: Who may reply to a thread, and which replies are hidden; its rkey is the root post's rkey.
THREADGATE = "app.bsky.feed.threadgate"
#: Whether a post may be quoted (and which quotes are detached); its rkey is the post's rkey.
POSTGATE = "app.bsky.feed.postgate"
#: A list's purpose: people to follow (the audience's list).
CURATELIST = "app.bsky.graph.defs#curatelist"
#: A list's purpose: the kind a starter pack points at.
REFERENCELIST = "app.bsky.graph.defs#referencelist"
#: A list's purpose: accounts to mute or block (the coalition's moderation list).
MODLIST = "app.bsky.graph.defs#modlist"

# --- TIDs ----------------------------------------------------------------------------------

TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
# 2025-01-01T00:00:00Z: derived TIDs lie in the ~13 days after it. A fixed epoch keeps them
# deterministic; their time is only a key, the record's createdAt is real.
_DERIVED_EPOCH_US = 1_735_689_600 * 1_000_000
_SPREAD_BITS = 40


def encode_tid(timestamp_us: int, clock_id: int) -> str:
    """The 13-character TID for ``timestamp_us`` (microseconds) and ``clock_id`` (0-1023)."""
    if not 0 <= clock_id < 1024:
        raise ValueError("clock_id must be in 0..1023")
    if not 0 <= timestamp_us < (1 << 53):
        raise ValueError("timestamp out of range for a TID")
    value = (timestamp_us << 10) | clock_id
    chars = []
    for _ in range(13):
        chars.append(TID_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def decode_tid(tid: str) -> tuple[int, int]:
    """``(timestamp_us, clock_id)`` of a TID; ``ValueError`` if it is not one."""
    if (
        len(tid) != 13
        or any(c not in TID_ALPHABET for c in tid)
        or tid[0] not in "234567abcdefghij"
    ):
        raise ValueError(f"not a TID: {tid!r}")
    value = 0
    for char in tid:
        value = (value << 5) | TID_ALPHABET.index(char)
    return value >> 10, value & 1023


def derived_rkey(*parts: str) -> str:
    """A TID that depends only on ``parts`` (a subject DID, a list's URI...)."""
    digest = hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    offset = (value >> 10) % (1 << _SPREAD_BITS)
    return encode_tid(_DERIVED_EPOCH_US + offset, value & 1023)


def follow_key(did: str, list_uri: str | None = None) -> str:
    """The journal's key of following ``did`` (or of adding it to ``list_uri``)."""
    return f"listitem:{list_uri}:{did}" if list_uri else f"follow:{did}"
