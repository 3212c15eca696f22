"""Selection filters: kinds, dates, engagement, text, ids, top N, and threads kept whole."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from departures.migrate.convert import TweetRow
from departures.migrate.select import Selection, select_tweets

TWEPOCH_MS = 1288834974657
DAY_MS = 86_400_000
BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def tid(day: int, n: int = 0) -> int:
    return ((BASE_MS + day * DAY_MS + n * 1000 - TWEPOCH_MS) << 22) | n


def row(day: int, n: int = 0, **fields: Any) -> TweetRow:
    tweet_id = tid(day, n)
    fields.setdefault("kind", "original")
    fields.setdefault("text", f"tweet {day}.{n}")
    fields.setdefault("entities", {})
    created = date.fromordinal(date(2024, 1, 1).toordinal() + day).isoformat()
    return TweetRow(id=tweet_id, created_at=f"{created}T00:00:0{n}Z", **fields)


ROOT, MID, LEAF = tid(10, 0), tid(10, 1), tid(10, 2)


def archive() -> list[TweetRow]:
    """An original, a 3-tweet thread, a quote, a reply, a retweet, a deleted and more."""
    return [
        row(1, favorite_count=50, retweet_count=5, text="Soil matters"),
        row(10, 0, favorite_count=3, thread_root_id=ROOT, text="1/ Why we leave"),
        row(10, 1, kind="reply_to_self", thread_root_id=ROOT, thread_parent_id=ROOT,
            text="2/ hate", withheld=True),
        row(10, 2, kind="reply_to_self", thread_root_id=ROOT, thread_parent_id=MID,
            text="3/ See you #Bluesky",
            entities={"hashtags": [{"start": 10, "end": 18, "text": "Bluesky"}]}),
        row(20, kind="quote", quote_of=1, favorite_count=9),
        row(21, kind="reply_to_other", text="@bob yes"),
        row(22, kind="retweet", text="RT @bob: hi"),
        row(23, is_deleted=True),
        row(24, is_community=True),
        row(25, possibly_sensitive=True, favorite_count=1),
        row(26, kind="reply_to_self", thread_parent_id=12345, text="orphan self-reply"),
    ]  # fmt: skip


def chosen(selection: Selection, **kwargs: Any) -> list[int]:
    return select_tweets(archive(), selection, **kwargs).ids


def test_defaults_take_originals_threads_and_quotes_but_not_replies_retweets_deleted() -> None:
    result = select_tweets(archive(), Selection())
    assert result.ids == [tid(1), ROOT, LEAF, tid(20), tid(25), tid(26)]
    assert result.kind[LEAF] == "thread"
    assert result.kind[tid(20)] == "quote"
    assert result.kind[tid(26)] == "original"  # its parent is not in the archive
    assert result.skipped["withheld (--skip-withheld)"] == 1
    assert result.skipped["deleted on X"] == 1
    assert result.skipped["community tweet"] == 1


def test_a_thread_with_a_filtered_out_middle_attaches_to_the_nearest_planned_ancestor() -> None:
    result = select_tweets(archive(), Selection())
    assert MID not in result.ids
    assert result.parent[LEAF] == ROOT
    assert result.parent[ROOT] is None


def test_keeping_withheld_keeps_the_whole_chain() -> None:
    result = select_tweets(archive(), Selection(skip_withheld=False))
    assert [i for i in result.ids if i in (ROOT, MID, LEAF)] == [ROOT, MID, LEAF]
    assert result.parent[LEAF] == MID and result.parent[MID] == ROOT


def test_a_thread_is_selected_by_its_root_date_not_its_replies() -> None:
    # The thread's date is day 10: a range ending before it drops the whole thread.
    assert chosen(Selection(until=date(2024, 1, 10))) == [tid(1)]
    assert ROOT in chosen(Selection(since=date(2024, 1, 11), until=date(2024, 1, 11)))
    assert LEAF in chosen(Selection(since=date(2024, 1, 11), until=date(2024, 1, 11)))


def test_since_and_until_are_inclusive_days() -> None:
    assert chosen(Selection(since=date(2024, 1, 21), until=date(2024, 1, 21))) == [tid(20)]


def test_kind_switches() -> None:
    assert chosen(Selection(originals=False, threads=False, quotes=True)) == [tid(20)]
    assert tid(21) in chosen(Selection(replies=True))
    assert tid(22) in chosen(Selection(retweets=True))
    no_threads = chosen(Selection(threads=False))
    assert ROOT in no_threads and LEAF not in no_threads and tid(26) not in no_threads


def test_min_likes_and_reposts_look_at_the_root() -> None:
    assert chosen(Selection(min_likes=9)) == [tid(1), tid(20)]
    assert chosen(Selection(min_likes=3, min_reposts=1)) == [tid(1)]


def test_hashtag_in_any_tweet_of_a_thread_selects_the_whole_thread() -> None:
    assert chosen(Selection(hashtags=("#bluesky",))) == [ROOT, LEAF]


def test_match_is_a_case_insensitive_substring() -> None:
    assert chosen(Selection(match=("SOIL",))) == [tid(1)]
    assert chosen(Selection(match=("nothing like this",))) == []


def test_top_n_ranks_by_likes_plus_reposts() -> None:
    assert chosen(Selection(top=2)) == [tid(1), tid(20)]


def test_include_forces_deleted_and_exclude_removes() -> None:
    result = select_tweets(
        archive(), Selection(include=frozenset({tid(23), 999}), exclude=frozenset({tid(1), 5}))
    )
    assert tid(23) in result.ids and tid(1) not in result.ids
    assert result.warnings == [
        "--include 999: no such tweet in the archive",
        "--exclude 5: no such tweet in the archive",
    ]


def test_skip_sensitive() -> None:
    assert tid(25) in chosen(Selection())
    assert tid(25) not in chosen(Selection(skip_sensitive=True))


def test_a_published_ancestor_is_a_parent_even_when_not_selected_again() -> None:
    result = select_tweets(archive(), Selection(exclude=frozenset({ROOT})), published={ROOT})
    assert result.parent[LEAF] == ROOT


def test_excluded_root_leaves_the_rest_of_the_thread_as_a_new_thread() -> None:
    result = select_tweets(archive(), Selection(exclude=frozenset({ROOT}), skip_withheld=False))
    assert result.parent[MID] is None and result.parent[LEAF] == MID
    assert result.kind[MID] == "original"


@settings(max_examples=80, deadline=None)
@given(
    parents=st.lists(st.integers(min_value=-1, max_value=30), min_size=1, max_size=30),
    dropped=st.sets(st.integers(min_value=0, max_value=29)),
    threads=st.booleans(),
)
def test_every_planned_parent_is_the_nearest_planned_ancestor(
    parents: list[int], dropped: set[int], threads: bool
) -> None:
    # Tweet i replies to an earlier tweet parents[i] (or to nothing when -1 or not earlier).
    ids = [tid(1, 0) + i for i in range(len(parents))]
    parent_of: dict[int, int | None] = {}
    root_of: dict[int, int] = {}
    rows = []
    for i, p in enumerate(parents):
        parent = ids[p] if 0 <= p < i else None
        parent_of[ids[i]] = parent
        root_of[ids[i]] = root_of[parent] if parent is not None else ids[i]
        rows.append(
            TweetRow(
                id=ids[i],
                text=f"t{i}",
                entities={},
                kind="reply_to_self" if parent is not None else "original",
                created_at="2024-01-02T00:00:00Z",
                thread_root_id=root_of[ids[i]] if parent is not None else None,
                thread_parent_id=parent,
                withheld=i in dropped,
            )
        )
    roots_with_children = {root_of[i] for i, p in parent_of.items() if p is not None}
    rows = [
        TweetRow(**{**r.__dict__, "thread_root_id": r.id}) if r.id in roots_with_children else r
        for r in rows
    ]
    result = select_tweets(rows, Selection(threads=threads))
    chosen = set(result.ids)
    for tweet_id in result.ids:
        expected = parent_of[tweet_id]
        while expected is not None and expected not in chosen:
            expected = parent_of[expected]
        assert result.parent[tweet_id] == expected
        if expected is not None:
            assert result.ids.index(expected) < result.ids.index(tweet_id)
    assert not chosen & {ids[i] for i in dropped if i < len(ids)}
    if not threads:
        assert all(result.parent[t] is None for t in result.ids)
