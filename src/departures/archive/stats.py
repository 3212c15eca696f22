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

    kinds = dict(
        conn.execute(f"SELECT kind, COUNT(*) FROM tweets WHERE {_OWN} GROUP BY kind").fetchall()
    )
    own_media = f"tweet_id IN (SELECT id FROM tweets WHERE {_OWN})"
    account = conn.execute(
        "SELECT id, username, display_name FROM account WHERE id = ?",
        (workspace.get_meta("account_id"),),
    ).fetchone()
    first, last = conn.execute(
        f"SELECT MIN(created_at), MAX(created_at) FROM tweets WHERE {_OWN}"
    ).fetchone()
    return {
        "tweets": one(f"SELECT COUNT(*) FROM tweets WHERE {_OWN}"),
        "originals": int(kinds.get("original", 0)),
        "self_replies": int(kinds.get("reply_to_self", 0)),
        "replies_to_others": int(kinds.get("reply_to_other", 0)),
        "retweets": int(kinds.get("retweet", 0)),
        "quotes": int(kinds.get("quote", 0)),
        "long_posts_restored": one(f"SELECT COUNT(*) FROM tweets WHERE is_long_post AND {_OWN}"),
        "media_items": one(f"SELECT COUNT(*) FROM media WHERE {own_media}"),
        "media_files_missing": one(f"SELECT COUNT(*) FROM media WHERE missing AND {own_media}"),
        "followers": one("SELECT COUNT(*) FROM followers"),
        "following": one("SELECT COUNT(*) FROM following"),
        "likes": one("SELECT COUNT(*) FROM likes"),
        "blocks": one("SELECT COUNT(*) FROM blocks"),
        "mutes": one("SELECT COUNT(*) FROM mutes"),
        "deleted_tweets": one("SELECT COUNT(*) FROM tweets WHERE is_deleted = 1"),
        "community_tweets": one("SELECT COUNT(*) FROM tweets WHERE is_community = 1"),
        "known_screen_names": one("SELECT COUNT(*) FROM known_screen_names"),
        "account": {
            "id": str(account[0]) if account else None,
            "username": account[1] if account else None,
            "display_name": account[2] if account else None,
        },
        "date_range": {"first": first, "last": last},
    }
