"""Reply and quote controls: thread gates and post gates, written exactly once.

A member chooses who may reply to its posts (everybody, nobody, or any of: people it
mentions, its followers, people it follows, the members of a list — at most 5 rules) and
whether its posts may be quoted. Bluesky keeps the choice in two records beside each post,
under **the post's own record key** (the lexicons require it):

* ``app.bsky.feed.threadgate`` (only on a thread's root post): ``allow`` (absent: everybody;
  empty: nobody) and ``hiddenReplies`` (at most 300 replies the author hid);
* ``app.bsky.feed.postgate``: ``embeddingRules`` (``#disableRule``: no quotes) and
  ``detachedEmbeddingUris`` (quotes the author detached).

:func:`gate_writes` is the one library function that turns a choice (and replies to hide)
into writes for the one writer (:mod:`departures.bluesky.writer`). It starts from what the
PDS holds now (``existing``), so a gate written by someone else — the coalition hiding a
reply on a migrated post, the desk, the official app — keeps what it does not change, and a
record already equal to the wanted one is not written again: a create, an update (compared
by CID) or a delete only when something changes. After a kill, the writer's reconciliation
finds an update done when the server holds exactly its CID, so it is never sent twice.

Callers: ``departures migrate gates`` (:func:`apply_to_workspace`, the organisation's
migrated posts), the coalition's member page and triage queue
(:mod:`departures.coalition.triage`, the welcome post), and the desk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from departures.bluesky.budget import BudgetConfig
from departures.bluesky.cid import cid_for_record
from departures.bluesky.pds import Pds, StoredRecord
from departures.bluesky.records import POSTGATE, THREADGATE
from departures.bluesky.writer import Write, open_writer
from departures.errors import DeparturesError

__all__ = [
    "EVERYBODY",
    "MAX_HIDDEN",
    "REPLY_RULES",
    "GateChoice",
    "GatedPost",
    "GatesDone",
    "apply_to_workspace",
    "gate_key",
    "gate_writes",
    "parse_choice",
    "postgate_value",
    "store_choice",
    "stored_choice",
    "threadgate_value",
]

#: The reply rules a member may combine (besides a list), as the lexicon names them.
REPLY_RULES = {
    "mentioned": f"{THREADGATE}#mentionRule",
    "followers": f"{THREADGATE}#followerRule",
    "following": f"{THREADGATE}#followingRule",
}
_LIST_RULE = f"{THREADGATE}#listRule"
_DISABLE_RULE = f"{POSTGATE}#disableRule"
#: The lexicon's bounds: 5 allow rules, 300 hidden replies, 50 detached quotes.
MAX_RULES = 5
MAX_HIDDEN = 300


@dataclass(frozen=True)
class GateChoice:
    """Who may reply and whether quoting is allowed.

    ``replies``: ``"everybody"``, ``"nobody"`` or ``"some"`` (then ``rules`` — a subset of
    :data:`REPLY_RULES`'s names — and/or ``list_uri`` say who). ``quotes``: quoting allowed.
    """

    replies: str = "everybody"
    rules: tuple[str, ...] = ()
    list_uri: str = ""
    quotes: bool = True

    def allow(self) -> list[dict[str, Any]] | None:
        """The threadgate's ``allow``: None for everybody, ``[]`` for nobody."""
        if self.replies == "everybody":
            return None
        if self.replies == "nobody":
            return []
        allow: list[dict[str, Any]] = [{"$type": REPLY_RULES[rule]} for rule in self.rules]
        if self.list_uri:
            allow.append({"$type": _LIST_RULE, "list": self.list_uri})
        return allow

    def to_json(self) -> str:
        """The choice as stored (JSON)."""
        return json.dumps(
            {
                "replies": self.replies,
                "rules": list(self.rules),
                "list": self.list_uri,
                "quotes": self.quotes,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> GateChoice:
        """A stored choice; the default (everybody, quotes allowed) when unreadable."""
        try:
            data = json.loads(text) if text else {}
            return parse_choice(
                data.get("replies", "everybody"),
                data.get("rules", []),
                data.get("list", ""),
                quotes=bool(data.get("quotes", True)),
            )
        except (ValueError, AttributeError, DeparturesError):
            return EVERYBODY

    def describe(self) -> str:
        """A short English description (logs and the CLI; pages translate their own)."""
        if self.replies == "everybody":
            who = "everybody may reply"
        elif self.replies == "nobody":
            who = "nobody may reply"
        else:
            names = [*self.rules, *(["list"] if self.list_uri else [])]
            who = "replies from: " + ", ".join(names)
        return f"{who}; quotes {'allowed' if self.quotes else 'not allowed'}"


EVERYBODY = GateChoice()


def parse_choice(
    replies: str, rules: Iterable[str] = (), list_uri: str = "", *, quotes: bool = True
) -> GateChoice:
    """A checked :class:`GateChoice`; a :class:`DeparturesError` saying what to change."""
    rules = tuple(dict.fromkeys(rule.strip() for rule in rules if rule.strip()))
    list_uri = list_uri.strip()
    if replies not in ("everybody", "nobody", "some"):
        raise DeparturesError(f"unknown reply setting {replies!r}", "Use everybody, nobody or some")
    unknown = [rule for rule in rules if rule not in REPLY_RULES]
    if unknown:
        raise DeparturesError(
            f"unknown reply rule {unknown[0]!r}",
            "Use mentioned, followers or following (and a list's at:// address)",
        )
    if list_uri and not (list_uri.startswith("at://") and "/app.bsky.graph.list/" in list_uri):
        raise DeparturesError(
            f"{list_uri!r} is not the address of a Bluesky list",
            "Give it as at://did:.../app.bsky.graph.list/...",
        )
    if replies != "some":
        return GateChoice(replies, (), "", quotes)
    if not rules and not list_uri:
        raise DeparturesError(
            "no reply rule was chosen",
            "Choose at least one of mentioned, followers, following, a list",
        )
    if len(rules) + bool(list_uri) > MAX_RULES:
        raise DeparturesError(f"at most {MAX_RULES} reply rules", "Choose fewer")
    return GateChoice("some", rules, list_uri, quotes)


@dataclass(frozen=True)
class GatedPost:
    """A published post to gate: its URI and record key, its createdAt, whether it is a
    thread's root (only roots carry a threadgate)."""

    uri: str
    created_at: str
    is_root: bool = True

    @property
    def rkey(self) -> str:
        """The post's record key: the gates' too."""
        return self.uri.rsplit("/", 1)[-1]


def gate_key(collection: str, post_rkey: str) -> str:
    """The journal's name for a post's gate (``threadgate:<rkey>``, ``postgate:<rkey>``)."""
    return f"{collection.rsplit('.', 1)[-1]}:{post_rkey}"


def _rule_type(rule: Any) -> str:
    if isinstance(rule, Mapping):
        return str(rule.get("$type") or rule.get("py_type") or "")
    return ""


def _rules(value: Mapping[str, Any] | None, name: str) -> list[dict[str, Any]] | None:
    """A stored record's rules, normalised to lexicon JSON (None when absent)."""
    if value is None or value.get(name) is None:
        return None
    out: list[dict[str, Any]] = []
    for rule in value.get(name) or []:
        kind = _rule_type(rule)
        if not kind:
            continue
        item: dict[str, Any] = {"$type": kind}
        if kind == _LIST_RULE and isinstance(rule, Mapping):
            item["list"] = str(rule.get("list", ""))
        out.append(item)
    return out


def _uris(value: Mapping[str, Any] | None, name: str) -> list[str]:
    if value is None:
        return []
    return [str(uri) for uri in value.get(name) or [] if uri]


def _created(value: Mapping[str, Any] | None, fallback: str) -> str:
    if value is not None:
        found = value.get("createdAt") or value.get("created_at")
        if found:
            return str(found)
    return fallback


def threadgate_value(
    post: GatedPost,
    choice: GateChoice | None,
    existing: Mapping[str, Any] | None,
    hide: Sequence[str] = (),
) -> dict[str, Any] | None:
    """The threadgate record wanted for ``post``; None when no gate is needed.

    ``choice`` None keeps the existing ``allow``; ``hide`` adds replies to the hidden ones
    (the existing ones are kept; at most :data:`MAX_HIDDEN`).
    """
    allow = choice.allow() if choice is not None else _rules(existing, "allow")
    hidden = list(dict.fromkeys([*_uris(existing, "hiddenReplies"), *hide]))
    if len(hidden) > MAX_HIDDEN:
        raise DeparturesError(
            f"a thread can hide at most {MAX_HIDDEN} replies",
            "Limit who may reply to the post instead, or block the accounts",
        )
    if allow is None and not hidden:
        return None
    record: dict[str, Any] = {
        "$type": THREADGATE,
        "post": post.uri,
        "createdAt": _created(existing, post.created_at),
    }
    if allow is not None:
        record["allow"] = allow
    if hidden:
        record["hiddenReplies"] = hidden
    return record


def postgate_value(
    post: GatedPost, choice: GateChoice | None, existing: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The postgate record wanted for ``post``; None when quoting is free and nothing detached."""
    if choice is not None:
        rules = [] if choice.quotes else [{"$type": _DISABLE_RULE}]
    else:
        rules = _rules(existing, "embeddingRules") or []
    detached = _uris(existing, "detachedEmbeddingUris")
    if not rules and not detached:
        return None
    record: dict[str, Any] = {
        "$type": POSTGATE,
        "post": post.uri,
        "createdAt": _created(existing, post.created_at),
    }
    if rules:
        record["embeddingRules"] = rules
    if detached:
        record["detachedEmbeddingUris"] = detached
    return record


def _write(
    collection: str, post: GatedPost, wanted: dict[str, Any] | None, found: StoredRecord | None
) -> Write | None:
    key = gate_key(collection, post.rkey)
    if wanted is None:
        return Write.delete(key, collection, post.rkey) if found is not None else None
    if found is None:
        return Write.create(key, collection, post.rkey, wanted)
    if cid_for_record(wanted) == found.cid:
        return None  # already what we want: nothing is written
    return Write.update(key, collection, post.rkey, wanted)


def gate_writes(
    posts: Iterable[GatedPost],
    choice: GateChoice | None,
    existing: Mapping[tuple[str, str], StoredRecord],
    *,
    hide: Mapping[str, Sequence[str]] | None = None,
) -> list[Write]:
    """The writes that bring each post's gates to ``choice`` (and hide ``hide[post uri]``).

    ``existing``: the gates the PDS holds now, by (collection, rkey). ``choice`` None
    changes only the hidden replies. Only what differs is written (see the module docstring).
    """
    writes: list[Write] = []
    for post in posts:
        hidden = (hide or {}).get(post.uri, ())
        if post.is_root:
            found = existing.get((THREADGATE, post.rkey))
            wanted = threadgate_value(post, choice, found.value if found else None, hidden)
            write = _write(THREADGATE, post, wanted, found)
            if write is not None:
                writes.append(write)
        if choice is not None:
            found = existing.get((POSTGATE, post.rkey))
            wanted = postgate_value(post, choice, found.value if found else None)
            write = _write(POSTGATE, post, wanted, found)
            if write is not None:
                writes.append(write)
    return writes


def existing_gates(pds: Pds) -> dict[tuple[str, str], StoredRecord]:
    """Every thread gate and post gate of the account (two paged ``listRecords``)."""
    found: dict[tuple[str, str], StoredRecord] = {}
    for collection in (THREADGATE, POSTGATE):
        for record in pds.list_records(collection):
            found[(collection, record.uri.rsplit("/", 1)[-1])] = record
    return found


# --- an organisation's migrated posts (the workspace) --------------------------------------


@dataclass
class GatesDone:
    """What :func:`apply_to_workspace` did."""

    posts: int = 0
    written: int = 0
    unchanged: int = 0
    refused: list[str] = field(default_factory=list)


def published_posts(conn: Any) -> list[GatedPost]:
    """The workspace's published posts (not undone), with their createdAt and rootness.

    A post is a thread's root when the plan gives it no root (the publisher adds ``reply``
    to the record from the plan's root and parent keys).
    """
    rows = conn.execute(
        "SELECT p.uri, pp.record, pp.root_key FROM published p "
        "JOIN plan_posts pp ON pp.key = p.key WHERE p.deleted_at IS NULL ORDER BY pp.seq"
    ).fetchall()
    posts = []
    for uri, record_text, root_key in rows:
        record = json.loads(record_text)
        is_root = root_key is None and "reply" not in record
        posts.append(GatedPost(str(uri), str(record.get("createdAt", "")), is_root=is_root))
    return posts


def stored_choice(workspace: Any) -> GateChoice | None:
    """The choice ``departures migrate gates`` last applied in this workspace, if any."""
    row = workspace.conn.execute("SELECT choice FROM gate_choice WHERE id = 1").fetchone()
    return GateChoice.from_json(str(row[0])) if row else None


def store_choice(workspace: Any, choice: GateChoice) -> None:
    """Keep ``choice`` as the workspace's (what ``migrate run`` and the desk's publishing
    give the posts they publish), without writing anything to Bluesky."""
    with workspace.transaction() as conn:
        conn.execute(
            "INSERT INTO gate_choice (id, choice, chosen_at) VALUES (1, ?, datetime('now')) "
            "ON CONFLICT(id) DO UPDATE SET choice = excluded.choice, "
            "chosen_at = excluded.chosen_at",
            (choice.to_json(),),
        )


#: Gate writes sent between two progress reports (a report is where a job may pause).
PROGRESS_STEP = 100


def apply_to_workspace(
    workspace: Any,
    pds: Pds,
    choice: GateChoice,
    config: BudgetConfig | None = None,
    *,
    sleep: Callable[[float], None] | None = None,
    notify: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> GatesDone:
    """Give every post the workspace published ``choice``'s gates, exactly once.

    The choice is stored first (``gate_choice``), so a run killed midway is resumed by
    running it again: the journal settles what was in flight, what already matches is not
    written again. Writes go through the workspace's journal (``post_gates`` records them).
    ``on_progress(done, total)`` is called after every :data:`PROGRESS_STEP` writes (the
    desk's job reports there, and may stop there: what is left is written by the next run).
    """
    import time

    from departures.workspace.journal import WorkspaceJournal, check_account

    check_account(workspace, pds.did)
    store_choice(workspace, choice)
    writer = open_writer(
        pds,
        WorkspaceJournal(workspace, pds.did),
        config,
        sleep=sleep or time.sleep,
        notify=notify,
        reconcile=True,
    )
    posts = published_posts(workspace.conn)
    writes = gate_writes(posts, choice, existing_gates(pds))
    done = GatesDone(posts=len(posts))
    if on_progress is not None:
        on_progress(0, len(writes))
    for start in range(0, len(writes), PROGRESS_STEP):
        sent = writer.send_isolating(writes[start : start + PROGRESS_STEP])
        done.written += len(sent.results)
        done.refused += [f"{r.write.key}: {r.reason}" for r in sent.refused]
        if on_progress is not None:
            on_progress(min(len(writes), start + PROGRESS_STEP), len(writes))
    done.unchanged = len(posts) - len({w.rkey for w in writes})
    return done
