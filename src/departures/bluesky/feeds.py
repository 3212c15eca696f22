"""Reading what others wrote to an account: replies, quotes and mentions, from the AppView.

Every read goes through the account's own session (:meth:`Pds.appview_query`: the PDS
forwards it to its AppView), so the answers are what the account sees. Used by the
coalition's triage pass (:mod:`departures.coalition.triage`); nothing here scores or stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from departures.bluesky.pds import Pds

__all__ = ["FeedReader", "OwnPost", "Reaction", "Unreadable"]

_NOT_A_POST = (
    "app.bsky.feed.defs#notFoundPost",
    "app.bsky.feed.defs#blockedPost",
)


@dataclass(frozen=True)
class OwnPost:
    """One of the account's recent posts: its URI, when it was indexed, its thread's root."""

    uri: str
    indexed_at: str
    root_uri: str


@dataclass(frozen=True)
class Reaction:
    """A reply, mention or quote someone else wrote.

    ``post_uri``: the account's post it answers or quotes (for a mention: the mentioning
    post); ``root_uri``: the root of the thread it is in (a hide is written there).
    """

    uri: str
    kind: str  # reply, quote or mention
    post_uri: str
    root_uri: str
    author_did: str
    author_handle: str
    text: str


@dataclass(frozen=True)
class Unreadable:
    """A post that could not be read, and why (deleted, blocked, the AppView failed)."""

    uri: str
    reason: str


def _record(view: Mapping[str, Any]) -> Mapping[str, Any]:
    record = view.get("record")
    return record if isinstance(record, Mapping) else {}


def _root_of(uri: str, record: Mapping[str, Any]) -> str:
    reply = record.get("reply")
    if isinstance(reply, Mapping):
        root = reply.get("root")
        if isinstance(root, Mapping) and root.get("uri"):
            return str(root["uri"])
    return uri


def _author(view: Mapping[str, Any]) -> tuple[str, str]:
    author = view.get("author")
    if not isinstance(author, Mapping):
        return "", ""
    return str(author.get("did", "")), str(author.get("handle", ""))


class FeedReader:
    """The account's recent posts and what others wrote to it, through its session."""

    def __init__(self, pds: Pds) -> None:
        self.pds = pds
        self.did = pds.did

    def recent_posts(self, limit: int = 25) -> list[OwnPost]:
        """The account's latest own posts (reposts left out), newest first."""
        page = self.pds.appview_query(
            "app.bsky.feed.getAuthorFeed",
            {"actor": self.did, "limit": min(100, limit), "filter": "posts_with_replies"},
        )
        posts: list[OwnPost] = []
        for entry in (page or {}).get("feed") or []:
            view = entry.get("post") if isinstance(entry, Mapping) else None
            if not isinstance(view, Mapping) or entry.get("reason"):
                continue  # a repost
            if _author(view)[0] != self.did:
                continue
            uri = str(view.get("uri", ""))
            posts.append(OwnPost(uri, str(view.get("indexedAt", "")), _root_of(uri, _record(view))))
        return posts

    def replies(self, post_uri: str, depth: int = 6) -> list[Reaction] | Unreadable:
        """Everyone else's replies under ``post_uri`` (down to ``depth``)."""
        answer = self.pds.appview_query(
            "app.bsky.feed.getPostThread", {"uri": post_uri, "depth": depth, "parentHeight": 0}
        )
        thread = (answer or {}).get("thread")
        if not isinstance(thread, Mapping) or thread.get("$type") in _NOT_A_POST:
            reason = "deleted or not found" if answer is None or thread is None else "blocked"
            return Unreadable(post_uri, reason)
        return list(self._walk(thread, post_uri))

    def _walk(self, node: Mapping[str, Any], parent_uri: str) -> Iterator[Reaction]:
        for child in node.get("replies") or []:
            if not isinstance(child, Mapping) or child.get("$type") in _NOT_A_POST:
                continue
            view = child.get("post")
            if not isinstance(view, Mapping):
                continue
            uri = str(view.get("uri", ""))
            did, handle = _author(view)
            record = _record(view)
            if did and did != self.did:
                yield Reaction(
                    uri,
                    "reply",
                    parent_uri,
                    _root_of(uri, record),
                    did,
                    handle,
                    str(record.get("text", "")),
                )
            yield from self._walk(child, uri)

    def quotes(self, post_uri: str, limit: int = 100) -> list[Reaction]:
        """Posts quoting ``post_uri`` ([] from an AppView without ``getQuotes``)."""
        answer = self.pds.appview_query(
            "app.bsky.feed.getQuotes", {"uri": post_uri, "limit": min(100, limit)}
        )
        found: list[Reaction] = []
        for view in (answer or {}).get("posts") or []:
            if not isinstance(view, Mapping):
                continue
            uri = str(view.get("uri", ""))
            did, handle = _author(view)
            record = _record(view)
            if did and did != self.did:
                found.append(
                    Reaction(
                        uri,
                        "quote",
                        post_uri,
                        _root_of(uri, record),
                        did,
                        handle,
                        str(record.get("text", "")),
                    )
                )
        return found

    def mentions(self, limit: int = 50) -> list[Reaction]:
        """Recent posts mentioning the account (its notifications of reason ``mention``)."""
        answer = self.pds.appview_query(
            "app.bsky.notification.listNotifications",
            {"limit": min(100, limit), "reasons": ["mention"]},
        )
        found: list[Reaction] = []
        for note in (answer or {}).get("notifications") or []:
            if not isinstance(note, Mapping) or note.get("reason") != "mention":
                continue
            uri = str(note.get("uri", ""))
            did, handle = _author(note)
            record = _record(note)
            if did and did != self.did:
                found.append(
                    Reaction(
                        uri,
                        "mention",
                        uri,
                        _root_of(uri, record),
                        did,
                        handle,
                        str(record.get("text", "")),
                    )
                )
        return found
