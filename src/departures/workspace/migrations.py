"""Ordered, named schema migrations of the workspace database.

Each migration is a function ``mNNN_name(conn)``; :data:`MIGRATIONS` lists them in order.
Applied names are recorded in the ``_migrations`` table, so a migration runs exactly once
per database. Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]


def m001_initial(conn: sqlite3.Connection) -> None:
    """Key/value settings of the workspace (its account, creation time, ...)."""
    conn.execute(
        """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
        """
    )


def m002_archive(conn: sqlite3.Connection) -> None:
    """The archive as read from X: tweets, media, long posts, the account and its relations.

    Stored tweet shape (``tweets``, one row per tweet, keyed by the X id as an INTEGER):

    * ``text``: the text to publish: t.co links replaced by their ``expanded_url``, the media
      link (pic.twitter.com) removed, HTML entities decoded after the entity offsets were
      mapped; for long posts (``is_long_post`` = 1) the full text of the note tweet.
      ``raw_text`` keeps the archive's ``full_text`` as it was.
    * ``entities``: JSON ``{"urls": [{start, end, url, display_url, tco}], "mentions":
      [{start, end, screen_name, id}], "hashtags": [{start, end, text}]}``; ``start``/``end``
      are code-point offsets into ``text`` (Python ``str`` indices); ``url`` is the expanded
      link; a mention's ``id`` is null when X gave -1 or nothing.
    * ``kind``: ``original``, ``reply_to_self``, ``reply_to_other``, ``retweet`` or ``quote``
      (a reply that quotes keeps its reply kind; ``quote_of`` is set whenever a link points at a
      status: the quoted tweet id from the last such link, ``quote_url`` that link).
    * ``reply_to_id``, ``reply_to_user_id``, ``reply_to_screen_name`` (may be null while the
      user id is set); ``retweet_of_user_id``/``retweet_of_screen_name`` for retweets.
    * ``thread_root_id``/``thread_parent_id``: set for every tweet of a self-reply chain whose
      parent is in the archive (the root has ``thread_root_id`` = its own id and no parent).
    * ``created_at``: ISO 8601 UTC (``2026-03-06T13:02:05Z``); ``lang`` raw as X gave it
      (pseudo-codes ``qme``, ``und``, ``zxx``... kept); ``possibly_sensitive`` 0/1/null;
      ``withheld`` 0/1 and ``withheld_in_countries`` (JSON list or null); ``favorite_count``,
      ``retweet_count`` integers.
    * ``is_deleted`` (from deleted-tweets.js, with ``deleted_at``) and ``is_community`` (from
      community-tweet.js, with ``community_id``): never published by default.
    * Edits are collapsed: only the last version present is kept (``edit_initial_id`` names
      the first version); ``tweet_versions`` maps every dropped version id to the kept id, and
      ``reply_to_id``/``quote_of`` pointing at a dropped version are rewritten to the kept one.

    ``media``: one row per media item (``position`` 0-3 in the tweet's order), ``type`` photo /
    video / animated_gif, ``media_url``, ``variant_url``/``variant_bitrate`` (best mp4),
    ``width``/``height`` (large size), ``aspect_w``/``aspect_h``, ``duration_ms``, and
    ``file_path``: the member name inside the archive (zip member, or path relative to the
    folder that was imported) of the chosen file, ``missing`` = 1 when it is not there. The
    archive itself is named by the meta keys ``archive_path`` (absolute) and ``archive_kind``
    (zip / dir / file); see :func:`departures.archive.media.open_media`.

    ``screen_name_sightings`` records every (X user id, screen name) pair that mentions and
    reply fields reveal, with the tweet and the field; the view ``known_screen_names`` folds
    them per pair (screen names compare case-insensitively).
    """
    # Statement by statement: executescript() would COMMIT the migration's transaction.
    for statement in _ARCHIVE_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_ARCHIVE_SCHEMA = """
        CREATE TABLE tweets (
            id INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            raw_text TEXT NOT NULL,
            entities TEXT NOT NULL,
            kind TEXT NOT NULL,
            quote_of INTEGER,
            quote_url TEXT,
            reply_to_id INTEGER,
            reply_to_user_id INTEGER,
            reply_to_screen_name TEXT,
            retweet_of_user_id INTEGER,
            retweet_of_screen_name TEXT,
            thread_root_id INTEGER,
            thread_parent_id INTEGER,
            created_at TEXT,
            lang TEXT,
            possibly_sensitive INTEGER,
            withheld INTEGER NOT NULL DEFAULT 0,
            withheld_in_countries TEXT,
            favorite_count INTEGER NOT NULL DEFAULT 0,
            retweet_count INTEGER NOT NULL DEFAULT 0,
            is_deleted INTEGER NOT NULL DEFAULT 0,
            is_community INTEGER NOT NULL DEFAULT 0,
            community_id INTEGER,
            deleted_at TEXT,
            is_long_post INTEGER NOT NULL DEFAULT 0,
            note_id INTEGER,
            edit_initial_id INTEGER,
            media_count INTEGER NOT NULL DEFAULT 0,
            source_file TEXT
        );
        CREATE INDEX tweets_thread_parent ON tweets (thread_parent_id)
            WHERE thread_parent_id IS NOT NULL;
        CREATE INDEX tweets_edit_initial ON tweets (edit_initial_id)
            WHERE edit_initial_id IS NOT NULL;
        CREATE TABLE media (
            tweet_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            media_id INTEGER,
            type TEXT NOT NULL,
            media_url TEXT,
            tco TEXT,
            expanded_url TEXT,
            file_path TEXT,
            variant_url TEXT,
            variant_bitrate INTEGER,
            width INTEGER,
            height INTEGER,
            aspect_w INTEGER,
            aspect_h INTEGER,
            duration_ms INTEGER,
            source_tweet_id INTEGER,
            missing INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (tweet_id, position)
        );
        CREATE TABLE tweet_versions (
            version_id INTEGER PRIMARY KEY,
            kept_id INTEGER NOT NULL
        );
        CREATE TABLE notes (
            note_id INTEGER PRIMARY KEY,
            tweet_id INTEGER,
            created_at TEXT,
            created_ms INTEGER,
            text TEXT NOT NULL,
            entities TEXT NOT NULL
        );
        CREATE TABLE account (
            id INTEGER PRIMARY KEY,
            username TEXT,
            display_name TEXT,
            created_at TEXT,
            created_via TEXT,
            bio TEXT,
            website TEXT,
            location TEXT,
            avatar_media_url TEXT,
            header_media_url TEXT
        );
        CREATE TABLE followers (account_id INTEGER PRIMARY KEY, user_link TEXT);
        CREATE TABLE following (account_id INTEGER PRIMARY KEY, user_link TEXT);
        CREATE TABLE blocks (account_id INTEGER PRIMARY KEY, user_link TEXT);
        CREATE TABLE mutes (account_id INTEGER PRIMARY KEY, user_link TEXT);
        CREATE TABLE likes (tweet_id INTEGER PRIMARY KEY, full_text TEXT, expanded_url TEXT);
        CREATE TABLE lists (
            relation TEXT NOT NULL,
            url TEXT NOT NULL,
            PRIMARY KEY (relation, url)
        );
        CREATE TABLE screen_name_changes (
            account_id INTEGER,
            changed_at TEXT NOT NULL,
            changed_from TEXT NOT NULL,
            changed_to TEXT NOT NULL,
            PRIMARY KEY (changed_at, changed_from, changed_to)
        );
        CREATE TABLE screen_name_sightings (
            user_id INTEGER NOT NULL,
            screen_name TEXT NOT NULL COLLATE NOCASE,
            tweet_id INTEGER NOT NULL,
            field TEXT NOT NULL,
            PRIMARY KEY (user_id, screen_name, tweet_id, field)
        ) WITHOUT ROWID;
        CREATE VIEW known_screen_names AS
            SELECT user_id, screen_name, COUNT(*) AS seen,
                   MIN(tweet_id) AS first_tweet_id, MAX(tweet_id) AS last_tweet_id
            FROM screen_name_sightings GROUP BY user_id, screen_name;
        CREATE TABLE archive_imports (
            id INTEGER PRIMARY KEY,
            imported_at TEXT NOT NULL,
            archive_path TEXT NOT NULL,
            counts TEXT NOT NULL,
            warnings TEXT NOT NULL
        );
"""


def m003_tweet_stats_index(conn: sqlite3.Connection) -> None:
    """A covering index for the archive's counts, so stats never scan the tweets' texts."""
    conn.execute(
        "CREATE INDEX tweets_stats ON tweets "
        "(is_deleted, is_community, kind, is_long_post, created_at)"
    )


def m010_migrate_plan(conn: sqlite3.Connection) -> None:
    """The migration plan (``plan_posts``) and the user's alt texts (``alt_texts``).

    ``plan_posts``: one row per Bluesky post to create, written by the planner
    (:mod:`departures.migrate.plan`) and read by the publisher; the columns are the contract in
    ``notes/migrate-contract.md``: ``key`` (``"<tweet_id>:<part>"``), ``tweet_id``, ``part``,
    ``parts``, ``seq`` (publish order: parents and quoted posts first), ``rkey`` (unique TID),
    ``root_key``/``parent_key`` (reply refs as plan keys), ``quote_key``, ``record`` (post
    record JSON without ``reply`` and blobs), ``media`` (JSON list of uploads), ``warnings``
    (JSON list of strings), ``planned_at``. Added for the preview and summaries: ``kind`` (what
    the post migrates: original, thread, quote, reply, retweet).

    ``alt_texts``: alt text per media item (``tweet_id``, ``position`` as in ``media``), from
    ``departures migrate alt-text import``; the archive has none.
    """
    for statement in _PLAN_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_PLAN_SCHEMA = """
        CREATE TABLE plan_posts (
            key TEXT PRIMARY KEY,
            tweet_id INTEGER NOT NULL,
            part INTEGER NOT NULL,
            parts INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            rkey TEXT NOT NULL UNIQUE,
            root_key TEXT,
            parent_key TEXT,
            quote_key TEXT,
            record TEXT NOT NULL,
            media TEXT NOT NULL DEFAULT '[]',
            warnings TEXT NOT NULL DEFAULT '[]',
            planned_at TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'original'
        );
        CREATE INDEX plan_posts_seq ON plan_posts (seq);
        CREATE INDEX plan_posts_tweet ON plan_posts (tweet_id);
        CREATE TABLE alt_texts (
            tweet_id INTEGER NOT NULL,
            position INTEGER NOT NULL,
            alt TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (tweet_id, position)
        )
"""


def m011_publish_journal(conn: sqlite3.Connection) -> None:
    """What the publisher wrote to Bluesky, and its journal (:mod:`departures.workspace.journal`).

    ``published``: one row per plan key that exists on the server (uri, cid; ``deleted_at``
    once undone). ``write_batches``/``batch_writes``: every ``applyWrites`` batch, journaled
    before it is sent (``state`` = ``sent``) and after (``done``, or ``refused`` with the
    reason), with each write's result; a batch left ``sent`` is reconciled with the server on
    the next run. ``publish_failures``: plan keys that cannot be published (``failed``) or
    wait on one that cannot (``blocked``), with the reason. ``blobs``: uploaded media by
    ``media_key`` and content hash, so a retry never uploads twice. ``write_budget``: the
    write budget's state per account DID.
    """
    for statement in _PUBLISH_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_PUBLISH_SCHEMA = """
        CREATE TABLE published (
            key TEXT PRIMARY KEY,
            uri TEXT NOT NULL,
            cid TEXT NOT NULL,
            published_at TEXT NOT NULL,
            verified_at TEXT,
            deleted_at TEXT
        );
        CREATE TABLE write_batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            state TEXT NOT NULL,
            writes INTEGER NOT NULL,
            sent_at TEXT NOT NULL,
            finished_at TEXT,
            reason TEXT
        );
        CREATE INDEX write_batches_state ON write_batches (state);
        CREATE TABLE batch_writes (
            batch_id INTEGER NOT NULL REFERENCES write_batches (id),
            position INTEGER NOT NULL,
            key TEXT NOT NULL,
            action TEXT NOT NULL,
            collection TEXT NOT NULL,
            rkey TEXT NOT NULL,
            expected_cid TEXT,
            uri TEXT,
            cid TEXT,
            done INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (batch_id, position)
        );
        CREATE TABLE publish_failures (
            key TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            reason TEXT NOT NULL,
            failed_at TEXT NOT NULL
        );
        CREATE TABLE blobs (
            media_key TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            blob TEXT NOT NULL,
            size INTEGER NOT NULL,
            mime TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (media_key, sha256)
        );
        CREATE TABLE write_budget (
            account TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
"""


def m020_audience(conn: sqlite3.Connection) -> None:
    """The audience: names the user supplies, the directory, candidates, follows.

    * ``audience_names``: X accounts described by the user (``import-names``): handle, name,
      and optionally website and bio.
    * ``audience_directory``: X id → Bluesky DID pairs from the coalition's directory
      (consented entries only; ``source`` says which export file or server).
    * ``audience_candidates``: one row per (X account, Bluesky DID) with the ``score`` and
      the ``evidence`` (JSON list of sentences), how it was found (``directory`` or
      ``search``) and the decision: ``proposed``, ``accepted`` or ``rejected``, by ``auto``
      or ``user``. A candidate is never deleted silently: a new search only adds or updates.
    * ``audience_follows``: the writes that follow (or list) an accepted DID, keyed like the
      journal's writes (``follow:<did>``, ``listitem:<list rkey>:<did>``), with the
      deterministic ``rkey`` and the outcome: ``pending``, ``done``, ``existing`` (found on
      the server, made by someone else) or ``failed`` (with the server's ``reason``).
    """
    for statement in _AUDIENCE_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


_AUDIENCE_SCHEMA = """
        CREATE TABLE audience_names (
            x_id INTEGER PRIMARY KEY,
            handle TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            website TEXT NOT NULL DEFAULT '',
            bio TEXT NOT NULL DEFAULT '',
            imported_at TEXT NOT NULL
        );
        CREATE TABLE audience_directory (
            x_id INTEGER PRIMARY KEY,
            did TEXT NOT NULL,
            handle TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            fetched_at TEXT NOT NULL
        );
        CREATE TABLE audience_candidates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            x_id INTEGER NOT NULL,
            x_handle TEXT NOT NULL DEFAULT '',
            did TEXT NOT NULL,
            handle TEXT NOT NULL DEFAULT '',
            display_name TEXT NOT NULL DEFAULT '',
            score REAL NOT NULL,
            evidence TEXT NOT NULL,
            found_by TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'proposed',
            decided_by TEXT,
            found_at TEXT NOT NULL,
            decided_at TEXT,
            UNIQUE (x_id, did)
        );
        CREATE INDEX audience_candidates_status ON audience_candidates (status, score);
        CREATE TABLE audience_follows (
            key TEXT PRIMARY KEY,
            did TEXT NOT NULL,
            collection TEXT NOT NULL,
            rkey TEXT NOT NULL,
            list_uri TEXT,
            state TEXT NOT NULL DEFAULT 'pending',
            uri TEXT,
            reason TEXT,
            planned_at TEXT NOT NULL,
            done_at TEXT
        );
        CREATE INDEX audience_follows_state ON audience_follows (state, done_at)
"""


def m030_plan_choices(conn: sqlite3.Connection) -> None:
    """The choices of every stored plan, so ``migrate plan --again`` can repeat them.

    ``plan_choices``: one row per plan stored, newest last: ``planned_at``, ``choices`` (JSON
    object of the options of ``departures migrate plan``, tweet ids of ``--include`` and
    ``--exclude`` files resolved) and ``posts`` (the posts the plan held).
    """
    conn.execute(
        "CREATE TABLE plan_choices (id INTEGER PRIMARY KEY, planned_at TEXT NOT NULL, "
        "choices TEXT NOT NULL, posts INTEGER NOT NULL)"
    )


def m033_gates(conn: sqlite3.Connection) -> None:
    """Reply and quote controls of the migrated posts (``departures migrate gates``).

    * ``gate_choice``: one row (``id`` 1), the organisation's last choice (JSON of
      :class:`departures.migrate.gates.GateChoice`) and when it was made;
    * ``post_gates``: one row per gate record written (``collection``: threadgate or
      postgate, ``rkey``: the post's), its ``uri`` and ``cid`` as the server answered and
      ``deleted`` when the gate was removed — filled by the journal whoever settles the batch.
    """
    conn.execute(
        "CREATE TABLE gate_choice (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "choice TEXT NOT NULL, chosen_at TEXT NOT NULL)"
    )
    conn.execute(
        "CREATE TABLE post_gates (collection TEXT NOT NULL, rkey TEXT NOT NULL, "
        "uri TEXT NOT NULL, cid TEXT NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0, "
        "written_at TEXT NOT NULL, PRIMARY KEY (collection, rkey))"
    )


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_archive,
    m003_tweet_stats_index,
    m010_migrate_plan,
    m011_publish_journal,
    m020_audience,
    m030_plan_choices,
    m033_gates,
]
