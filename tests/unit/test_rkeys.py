"""Deterministic record keys: valid TIDs, stable per tweet and part, distinct across tweets."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from departures.bluesky.records import decode_tid, encode_tid
from departures.migrate.rkeys import rkey_for, tweet_time_ms

TID_RE = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


def test_rkey_is_a_valid_tid_and_stable() -> None:
    key = rkey_for(1_571_521_051_921_629_184, 0)
    assert TID_RE.match(key)
    assert rkey_for(1_571_521_051_921_629_184, 0) == key


def test_rkey_encodes_the_tweet_time() -> None:
    tweet_id = 1_571_521_051_921_629_184  # 2022-09-18T15:26:30.884 UTC
    timestamp_us, _ = decode_tid(rkey_for(tweet_id, 0))
    assert timestamp_us // 1000 == tweet_time_ms(tweet_id, None)
    assert 1663514790000 <= timestamp_us // 1000 < 1663514791000


def test_parts_of_one_tweet_sort_in_order() -> None:
    keys = [rkey_for(1_571_521_051_921_629_184, part) for part in range(5)]
    assert keys == sorted(keys)
    assert len(set(keys)) == 5


def test_pre_snowflake_tweet_uses_created_at() -> None:
    key = rkey_for(12345, 0, "2009-05-01T10:00:00Z")
    assert decode_tid(key)[0] // 1_000_000 == 1241172000


@given(st.integers(min_value=0, max_value=(1 << 53) - 1), st.integers(0, 1023))
def test_encode_decode_roundtrip(timestamp_us: int, clock_id: int) -> None:
    tid = encode_tid(timestamp_us, clock_id)
    assert TID_RE.match(tid)
    assert decode_tid(tid) == (timestamp_us, clock_id)


@given(
    st.lists(
        st.integers(min_value=30_000_000_000, max_value=(1 << 63) - 1),
        unique=True,
        min_size=2,
        max_size=50,
    )
)
def test_distinct_tweets_get_distinct_keys(ids: list[int]) -> None:
    keys = {rkey_for(i, 0) for i in ids}
    # Equal keys need the same millisecond AND the same 10-bit hash; the planner salts those.
    same_ms = len({tweet_time_ms(i, None) for i in ids}) < len(ids)
    assert len(keys) == len(ids) or same_ms


def test_tid_order_follows_time() -> None:
    assert encode_tid(1000, 5) < encode_tid(1001, 0) < encode_tid(2_000_000_000_000_000, 0)
