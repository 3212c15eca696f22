"""Deterministic record keys for migrated posts: the heart of exactly-once publishing.

A post's record key (rkey) is a TID (:mod:`departures.bluesky.records`). We derive it from
the tweet alone (its time in milliseconds, the part number of a split post, and a hash of the
tweet id as the clock id), so every retry after a crash asks the server to create *the same*
record key, and the server refuses a second create instead of storing a duplicate.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from departures.bluesky.records import encode_tid

_SNOWFLAKE_EPOCH_MS = 1288834974657
# Tweets older than snowflake ids (before November 2010) carry small sequential ids.
_FIRST_SNOWFLAKE = 29_700_859_247
MAX_PARTS = 1000


def tweet_time_ms(tweet_id: int, created_at: str | None) -> int:
    """The tweet's time in ms: from its snowflake id, else from ``created_at`` (ISO 8601)."""
    if tweet_id >= _FIRST_SNOWFLAKE:
        return (tweet_id >> 22) + _SNOWFLAKE_EPOCH_MS
    if created_at:
        return int(datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp() * 1000)
    return 0


def clock_id_for(tweet_id: int, salt: int = 0) -> int:
    """A stable 10-bit clock id from the tweet id (``salt`` moves it on a rare collision)."""
    digest = hashlib.blake2b(f"{tweet_id}:{salt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 1024


def rkey_for(tweet_id: int, part: int, created_at: str | None = None, salt: int = 0) -> str:
    """The record key of part ``part`` (0-based) of the post migrated from ``tweet_id``.

    Parts of one tweet get consecutive microseconds, so a split post's parts sort in order.
    ``salt`` is for the planner only: should two tweets of one plan ever map to the same key
    (same millisecond and same 10-bit hash), it retries with salt 1, 2, ... deterministically.
    """
    if not 0 <= part < MAX_PARTS:
        raise ValueError(f"a post is split into at most {MAX_PARTS} parts")
    timestamp_us = tweet_time_ms(tweet_id, created_at) * 1000 + part
    return encode_tid(timestamp_us, clock_id_for(tweet_id, salt))
