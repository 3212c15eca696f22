"""Counts over the imported archive, for ``departures archive stats``."""

from __future__ import annotations

from typing import Any

from departures.workspace.db import Workspace

# Tweets "from the tweets files": deleted and community tweets are counted apart.
_OWN = "is_deleted = 0 AND is_community = 0"


def archive_stats(workspace: Workspace) -> dict[str, Any]:
    """The archive's figures: integer counts, the account, and the first/last tweet dates.

    ``media_items`` and ``media_files_missing`` count the media of the tweets counted under
    ``tweets`` (not those of deleted or community tweets); ``known_screen_names`` counts
    distinct (X id, screen name) pairs, screen names compared case-insensitively.
    """
    conn = workspace.conn

    def one(sql: str, *args: Any) -> int:
        return int(conn.execute(sql, args).fetchone()[0] or 0)

    # One pass over the covering index tweets_stats (never over the texts).
    (total, originals, self_replies, replies, retweets, quotes, long_posts, first, last) = (
        conn.execute(
            "SELECT COUNT(*), SUM(kind = 'original'), SUM(kind = 'reply_to_self'), "
            "SUM(kind = 'reply_to_other'), SUM(kind = 'retweet'), SUM(kind = 'quote'), "
            f"SUM(is_long_post), MIN(created_at), MAX(created_at) FROM tweets WHERE {_OWN}"
        ).fetchone()
    )
    deleted, community = conn.execute(
        "SELECT SUM(is_deleted = 1), SUM(is_community = 1) FROM tweets"
    ).fetchone()
    media_items, media_missing = conn.execute(
        "SELECT COUNT(*), SUM(media.missing) FROM media "
        f"JOIN tweets ON tweets.id = media.tweet_id WHERE {_OWN}"
    ).fetchone()
    account = conn.execute(
        "SELECT id, username, display_name FROM account WHERE id = ?",
        (workspace.get_meta("account_id"),),
    ).fetchone()
    return {
        "tweets": int(total),
        "originals": int(originals or 0),
        "self_replies": int(self_replies or 0),
        "replies_to_others": int(replies or 0),
        "retweets": int(retweets or 0),
        "quotes": int(quotes or 0),
        "long_posts_restored": int(long_posts or 0),
        "media_items": int(media_items),
        "media_files_missing": int(media_missing or 0),
        "followers": one("SELECT COUNT(*) FROM followers"),
        "following": one("SELECT COUNT(*) FROM following"),
        "likes": one("SELECT COUNT(*) FROM likes"),
        "blocks": one("SELECT COUNT(*) FROM blocks"),
        "mutes": one("SELECT COUNT(*) FROM mutes"),
        "deleted_tweets": int(deleted or 0),
        "community_tweets": int(community or 0),
        "known_screen_names": one("SELECT COUNT(*) FROM known_screen_names"),
        "account": {
            "id": str(account[0]) if account else None,
            "username": account[1] if account else None,
            "display_name": account[2] if account else None,
        },
        "date_range": {"first": first, "last": last},
    }


def archive_overview(workspace: Workspace, *, top: int = 5) -> dict[str, Any]:
    """What the desk's overview draws, beyond :func:`archive_stats`: posts per year (by
    kind), the ``top`` most-liked posts, media by type, and the long posts.

    Only the tweets counted by :func:`archive_stats` (not deleted or community ones).
    """
    conn = workspace.conn
    per_year: dict[str, dict[str, int]] = {}
    for year, kind, count in conn.execute(
        "SELECT substr(created_at, 1, 4) AS year, kind, COUNT(*) FROM tweets "
        f"WHERE {_OWN} AND created_at IS NOT NULL GROUP BY year, kind ORDER BY year"
    ):
        per_year.setdefault(str(year), {})[str(kind)] = int(count)
    liked = [
        {
            "id": str(row[0]),
            "text": row[1],
            "likes": int(row[2]),
            "reposts": int(row[3]),
            "created_at": row[4],
            "kind": row[5],
        }
        for row in conn.execute(
            "SELECT id, text, favorite_count, retweet_count, created_at, kind FROM tweets "
            f"WHERE {_OWN} AND kind != 'retweet' ORDER BY favorite_count DESC, id LIMIT ?",
            (top,),
        )
    ]
    media = {
        str(kind): int(count)
        for kind, count in conn.execute(
            "SELECT media.type, COUNT(*) FROM media JOIN tweets ON tweets.id = media.tweet_id "
            f"WHERE {_OWN} GROUP BY media.type ORDER BY COUNT(*) DESC"
        )
    }
    return {"per_year": per_year, "most_liked": liked, "media": media}
