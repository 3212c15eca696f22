"""The audience's tables in the workspace (migration ``m020_audience``) and their questions.

Who the organisation followed and who followed it (``following``, ``followers``), what is
known of them (``known_screen_names``, ``audience_names``), the directory's pairs
(``audience_directory``) and the candidates with their decisions (``audience_candidates``).
Every change is one transaction: bad input never leaves half an import behind.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from departures.audience.scoring import AUTO_ACCEPT, Match, XSide
from departures.errors import WorkspaceError
from departures.workspace.db import Workspace

RELATIONS = ("following", "followers")


def now_iso() -> str:
    """The current time as the audience tables store it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def require_archive(workspace: Workspace) -> None:
    """A clear error when no archive (hence no followings or followers) was imported."""
    row = workspace.conn.execute("SELECT count(*) FROM archive_imports").fetchone()
    if not row or not row[0]:
        raise WorkspaceError(
            "This workspace holds no X archive, so there is no audience to find",
            "Import one first: departures archive import twitter-archive.zip",
        )


def sources(workspace: Workspace, relation: str) -> list[int]:
    """X ids of ``following`` or ``followers``, ascending."""
    if relation not in RELATIONS:
        raise ValueError(relation)
    return [r[0] for r in workspace.conn.execute(f"SELECT account_id FROM {relation} ORDER BY 1")]


def relations_of(workspace: Workspace, x_ids: Iterable[int]) -> dict[int, list[str]]:
    """For each X id: ``following`` and/or ``followers``."""
    out: dict[int, list[str]] = {}
    for relation in RELATIONS:
        for (x_id,) in workspace.conn.execute(f"SELECT account_id FROM {relation}"):
            out.setdefault(int(x_id), []).append(relation)
    wanted = set(x_ids)
    return {k: v for k, v in out.items() if k in wanted}


def x_sides(workspace: Workspace, x_ids: Iterable[int]) -> dict[int, XSide]:
    """What is known of each X account: supplied names first, else the most seen screen name."""
    wanted = set(x_ids)
    known: dict[int, XSide] = {}
    for user_id, screen_name in workspace.conn.execute(
        "SELECT user_id, screen_name FROM known_screen_names ORDER BY user_id, seen, last_tweet_id"
    ):
        if user_id in wanted:
            known[int(user_id)] = XSide(int(user_id), handle=str(screen_name))  # most seen last
    for x_id, handle, name, website, bio in workspace.conn.execute(
        "SELECT x_id, handle, name, website, bio FROM audience_names"
    ):
        if x_id in wanted:
            known[int(x_id)] = XSide(int(x_id), handle, name, website, bio)
    return known


# --- user-supplied names ------------------------------------------------------------------


@dataclass(frozen=True)
class NameRow:
    """One row of ``import-names``."""

    x_id: int
    handle: str
    name: str = ""
    website: str = ""
    bio: str = ""


def save_names(workspace: Workspace, rows: Sequence[NameRow]) -> int:
    """Store (or replace) supplied descriptions of X accounts; how many."""
    stamp = now_iso()
    with workspace.transaction() as conn:
        conn.executemany(
            "INSERT OR REPLACE INTO audience_names (x_id, handle, name, website, bio, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?)",
            [(r.x_id, r.handle, r.name, r.website, r.bio, stamp) for r in rows],
        )
    return len(rows)


# --- the directory ------------------------------------------------------------------------


# The directory's proof levels (a coalition's ``coalition/claims.py``): only these two are
# accepted without a person's review; anyone can type an X id or write an account.js.
TRUSTED_LEVELS = frozenset({"verified", "vouched"})
_LEVEL_WORDS = {
    "verified": "its owner proved the X account by signing in with X",
    "vouched": "a coalition coordinator vouches for it",
    "archive": "it comes from an uploaded archive (plausible, not proof)",
    "declared": "its X side was only typed by its owner (not proven)",
}


@dataclass(frozen=True)
class DirectoryEntry:
    """One consented X id → Bluesky DID pair of the directory, and how its X side is known."""

    x_id: int
    did: str
    handle: str = ""
    level: str = "declared"
    """``verified``, ``vouched``, ``archive`` or ``declared`` (unknown levels: ``declared``)."""
    disputed: bool = False
    """Whether other accounts claim the X id at the same level (a coordinator decides)."""

    @property
    def trusted(self) -> bool:
        """Whether the pair may be accepted without a person's review."""
        return self.level in TRUSTED_LEVELS and not self.disputed

    @property
    def evidence(self) -> list[str]:
        """What review shows about the pair."""
        lines = [
            f"the coalition directory pairs this X id with {self.did} (consented)",
            f"proof level: {self.level} — {_LEVEL_WORDS.get(self.level, 'unknown')}",
        ]
        if self.disputed:
            lines.append("disputed: another Bluesky account claims this X id at the same level")
        return lines


def save_directory(
    workspace: Workspace, entries: Sequence[DirectoryEntry], source: str
) -> tuple[int, int]:
    """Store directory pairs as candidates; (pairs stored, new candidates).

    A ``verified`` or ``vouched`` pair is accepted (``auto``); any other (only declared, from
    an archive, or disputed) is proposed for review with its level as evidence. A person's
    decision always stands.
    """
    stamp = now_iso()
    new = 0
    with workspace.transaction() as conn:
        for entry in entries:
            conn.execute(
                "INSERT OR REPLACE INTO audience_directory (x_id, did, handle, source, fetched_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (entry.x_id, entry.did, entry.handle, source, stamp),
            )
            seen = conn.execute(
                "SELECT 1 FROM audience_candidates WHERE x_id = ? AND did = ?",
                (entry.x_id, entry.did),
            ).fetchone()
            new += seen is None
            status = "accepted" if entry.trusted else "proposed"
            decided_by = "auto" if entry.trusted else None
            conn.execute(
                "INSERT INTO audience_candidates (x_id, did, handle, score, evidence, found_by, "
                "status, decided_by, found_at, decided_at) "
                "VALUES (?, ?, ?, 1.0, ?, 'directory', ?, ?, ?, ?) "
                "ON CONFLICT (x_id, did) DO UPDATE SET score = 1.0, found_by = 'directory', "
                "evidence = excluded.evidence, handle = excluded.handle, "
                # A person's decision stands; otherwise the level decides, as it is now.
                "status = CASE WHEN audience_candidates.decided_by = 'user' "
                "THEN audience_candidates.status ELSE excluded.status END, "
                "decided_by = CASE WHEN audience_candidates.decided_by = 'user' THEN 'user' "
                "ELSE excluded.decided_by END",
                (
                    entry.x_id,
                    entry.did,
                    entry.handle,
                    json.dumps(entry.evidence),
                    status,
                    decided_by,
                    stamp,
                    stamp if entry.trusted else None,
                ),
            )
    return len(entries), new


def directory_ids(workspace: Workspace) -> set[int]:
    """X ids the directory already answered."""
    return {r[0] for r in workspace.conn.execute("SELECT x_id FROM audience_directory")}


# --- candidates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A stored candidate as review shows it."""

    id: int
    x_id: int
    x_handle: str
    did: str
    handle: str
    display_name: str
    score: float
    evidence: list[str]
    found_by: str
    status: str
    decided_by: str | None


def save_match(
    workspace: Workspace,
    x: XSide,
    did: str,
    handle: str,
    display_name: str,
    match: Match,
    *,
    auto_accept: float = AUTO_ACCEPT,
) -> None:
    """Store a scored candidate; a score at or above ``auto_accept`` is accepted as ``auto``.

    A person's decision is never overwritten; the score and evidence are refreshed.
    """
    stamp = now_iso()
    evidence = json.dumps([e.text for e in match.evidence])
    auto = match.score >= auto_accept
    with workspace.transaction() as conn:
        conn.execute(
            "INSERT INTO audience_candidates (x_id, x_handle, did, handle, display_name, score, "
            "evidence, found_by, status, decided_by, found_at, decided_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'search', ?, ?, ?, ?) "
            "ON CONFLICT (x_id, did) DO UPDATE SET x_handle = excluded.x_handle, "
            "handle = excluded.handle, display_name = excluded.display_name, "
            "score = MAX(audience_candidates.score, excluded.score), evidence = CASE "
            "WHEN audience_candidates.found_by = 'directory' THEN audience_candidates.evidence "
            "ELSE excluded.evidence END, "
            "status = CASE WHEN audience_candidates.decided_by = 'user' "
            "OR audience_candidates.found_by = 'directory' THEN audience_candidates.status "
            "ELSE excluded.status END, "
            "decided_by = CASE WHEN audience_candidates.decided_by = 'user' "
            "OR audience_candidates.found_by = 'directory' THEN audience_candidates.decided_by "
            "ELSE excluded.decided_by END",
            (
                x.x_id,
                x.handle,
                did,
                handle,
                display_name,
                match.score,
                evidence,
                "accepted" if auto else "proposed",
                "auto" if auto else None,
                stamp,
                stamp if auto else None,
            ),
        )


def _candidate(row: sqlite3.Row | tuple[object, ...]) -> Candidate:
    (id_, x_id, x_handle, did, handle, name, score_, evidence, found_by, status, decided_by) = row
    return Candidate(
        int(str(id_)),
        int(str(x_id)),
        str(x_handle),
        str(did),
        str(handle),
        str(name),
        float(str(score_)),
        list(json.loads(str(evidence))),
        str(found_by),
        str(status),
        None if decided_by is None else str(decided_by),
    )


_COLUMNS = (
    "id, x_id, x_handle, did, handle, display_name, score, evidence, found_by, status, decided_by"
)


def candidates(
    workspace: Workspace, *, status: str | None = None, min_score: float = 0.0
) -> list[Candidate]:
    """Stored candidates, best first (optionally only one status, or above a score)."""
    query = f"SELECT {_COLUMNS} FROM audience_candidates WHERE score >= ?"
    params: list[object] = [min_score]
    if status:
        query += " AND status = ?"
        params.append(status)
    query += " ORDER BY status = 'proposed' DESC, score DESC, x_id, id"
    return [_candidate(r) for r in workspace.conn.execute(query, params)]


#: The review's statuses, in the order the "all" view lists them.
REVIEW_ORDER = ("proposed", "accepted", "rejected")


def candidates_page(
    workspace: Workspace, *, status: str | None = "proposed", offset: int = 0, limit: int = 50
) -> list[Candidate]:
    """One page of candidates, best first (what the desk's review page shows).

    ``status`` None: every candidate, the proposed ones first, then the accepted, then the
    rejected. Within a status, by score (then the newest first), which the index on
    ``(status, score)`` gives as it is: a page deep in a list of tens of thousands skips
    index entries only, and reads just its own rows.
    """
    conn = workspace.conn
    wanted: list[int] = []
    skip, room = max(0, offset), max(0, limit)
    for each in (status,) if status else REVIEW_ORDER:
        if room == 0:
            break
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM audience_candidates WHERE status = ? "
                "ORDER BY score DESC, id DESC LIMIT ? OFFSET ?",
                (each, room, skip),
            )
        ]
        if not ids and status is None:
            # Past this status's end: what is left to skip counts against the next one.
            skip = max(0, skip - _count(conn, each))
            continue
        wanted += ids
        room -= len(ids)
        skip = 0
    if not wanted:
        return []
    marks = ",".join("?" * len(wanted))
    rows = {
        int(r[0]): _candidate(r)
        for r in conn.execute(
            f"SELECT {_COLUMNS} FROM audience_candidates WHERE id IN ({marks})", wanted
        )
    }
    return [rows[i] for i in wanted if i in rows]


def _count(conn: sqlite3.Connection, status: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM audience_candidates WHERE status = ?", (status,)
    ).fetchone()
    return int(row[0])


@dataclass(frozen=True)
class XProfile:
    """What the workspace knows of an X account, for the review's left-hand side."""

    x_id: int
    name: str
    handle: str
    relations: tuple[str, ...]  # "following", "followers"


def x_profiles(workspace: Workspace, x_ids: Iterable[int]) -> dict[int, XProfile]:
    """Name, handle and relation of each of ``x_ids`` (a page's worth: indexed lookups)."""
    ids = sorted(set(x_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    conn = workspace.conn
    names = {
        int(x): (str(handle), str(name))
        for x, handle, name in conn.execute(
            f"SELECT x_id, handle, name FROM audience_names WHERE x_id IN ({marks})", ids
        )
    }
    relations: dict[int, list[str]] = {}
    for relation in RELATIONS:
        for (x,) in conn.execute(
            f"SELECT account_id FROM {relation} WHERE account_id IN ({marks})", ids
        ):
            relations.setdefault(int(x), []).append(relation)
    out = {}
    for x in ids:
        handle, name = names.get(x, ("", ""))
        out[x] = XProfile(x, name, handle, tuple(relations.get(x, [])))
    return out


def decide(workspace: Workspace, ids: Sequence[int], status: str) -> int:
    """Accept or reject candidates by id (a person's decision); unknown ids are an error."""
    if status not in ("accepted", "rejected"):
        raise ValueError(status)
    known = {
        r[0]
        for r in workspace.conn.execute(
            f"SELECT id FROM audience_candidates WHERE id IN ({','.join('?' * len(ids))})",
            list(ids),
        )
    }
    missing = sorted(set(ids) - known)
    if missing:
        raise WorkspaceError(
            f"No candidate with id {', '.join(map(str, missing))}",
            "See the ids with: departures audience review",
        )
    with workspace.transaction() as conn:
        conn.executemany(
            "UPDATE audience_candidates SET status = ?, decided_by = 'user', decided_at = ? "
            "WHERE id = ?",
            [(status, now_iso(), i) for i in ids],
        )
    return len(ids)


def accept_above(workspace: Workspace, threshold: float) -> int:
    """A person accepts every proposed candidate scoring at least ``threshold``; how many."""
    with workspace.transaction() as conn:
        return conn.execute(
            "UPDATE audience_candidates SET status = 'accepted', decided_by = 'user', "
            "decided_at = ? WHERE status = 'proposed' AND score >= ?",
            (now_iso(), threshold),
        ).rowcount


def accepted_dids(workspace: Workspace) -> list[tuple[str, int]]:
    """(DID, X id) of every accepted candidate, once per DID, in a stable order.

    A DID that a person rejected for any X account is left out: a rejection wins.
    """
    rows = workspace.conn.execute(
        "SELECT did, MIN(x_id) FROM audience_candidates WHERE status = 'accepted' "
        "AND did NOT IN (SELECT did FROM audience_candidates WHERE status = 'rejected' "
        "AND decided_by = 'user') GROUP BY did ORDER BY MIN(found_at), did"
    )
    return [(str(did), int(x_id)) for did, x_id in rows]


def counts(workspace: Workspace) -> dict[str, int]:
    """Candidates by status."""
    out = {"proposed": 0, "accepted": 0, "rejected": 0}
    for status, n in workspace.conn.execute(
        "SELECT status, count(*) FROM audience_candidates GROUP BY status"
    ):
        out[str(status)] = int(n)
    return out


# --- for the migration --------------------------------------------------------------------


def mention_dids(workspace: Workspace) -> dict[str, str]:
    """What the migration's mentions may point to: ``{X id or lower-case screen name: DID}``.

    Each X account the directory pairs with a proven claim (verified or vouched) or a match
    accepted (by the rule or a person) gives its id; the screen names the workspace knows
    for it give names too, for mentions the archive stored without an id. A pair a person
    rejected, or one still to review, is left out. A directory pair
    wins over a searched one, then the best score. A screen name also seen for another,
    unmatched X account (names are reused) or for two matched ones is left out: a wrong
    Bluesky mention notifies a stranger, the X profile link is the safe fallback.
    """
    conn = workspace.conn
    by_id: dict[int, str] = {}
    for x_id, did in conn.execute(
        "SELECT x_id, did FROM audience_candidates WHERE status = 'accepted' "
        "ORDER BY x_id, found_by = 'directory' DESC, score DESC, id"
    ):
        by_id.setdefault(int(x_id), str(did))
    # A directory pair counts only while its candidate is accepted: an unproven claim (typed,
    # from an archive, disputed) waits for review and must not turn into a mention of an
    # account that may be an impostor; a pair a person rejected is left out too. (Pairs
    # stored before candidates carried the directory's proof level have no candidate.)
    for x_id, did in conn.execute(
        "SELECT d.x_id, d.did FROM audience_directory d WHERE NOT EXISTS (SELECT 1 FROM "
        "audience_candidates c WHERE c.x_id = d.x_id AND c.did = d.did "
        "AND c.status != 'accepted') ORDER BY d.x_id"
    ):
        by_id.setdefault(int(x_id), str(did))
    owners: dict[str, set[int]] = {}
    for x_id, name in conn.execute(
        "SELECT user_id, screen_name FROM known_screen_names "
        "UNION SELECT x_id, handle FROM audience_names "
        "UNION SELECT x_id, x_handle FROM audience_candidates"
    ):
        text = str(name or "").strip().removeprefix("@").lower()
        if text:
            owners.setdefault(text, set()).add(int(x_id))
    out: dict[str, str] = {str(x_id): did for x_id, did in by_id.items()}
    for name, ids in owners.items():
        if len(ids) == 1:
            (x_id,) = ids
            if x_id in by_id:
                out.setdefault(name, by_id[x_id])
    return out
