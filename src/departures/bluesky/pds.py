"""The account's repository: the only reads and writes of it the project makes.

Over the SDK's XRPC client (not hand-written HTTP), which stays private here: callers use
:class:`Pds` methods (writes only through :class:`~departures.bluesky.writer.Writer`).
Every failure of a write becomes one of:

* :class:`RateLimited` — a 429 with the server's ``RateLimit-*`` headers: nothing was
  written; wait for the reset;
* :class:`InvalidWrites` — a 400 for the request: nothing was written (applyWrites is all or
  nothing); ``index`` names the refused write when the server said which;
* :class:`Uncertain` — a timeout, a dropped connection or a 5xx: the writes may or may not
  have happened; only the server can tell (reconcile before sending again);
* :class:`~departures.errors.BlueskyError` — the session is no longer accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from atproto import Client, models
from atproto_client.exceptions import (
    AtProtocolError,
    BadRequestError,
    InvokeTimeoutError,
    LoginRequiredError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.dot_dict import DotDict

from departures.bluesky.records import FOLLOW
from departures.bluesky.session import SessionStore, expired, open_client
from departures.errors import BlueskyError

__all__ = ["InvalidWrites", "Pds", "RateLimited", "StoredRecord", "Uncertain"]

_WRITE_INDEX = re.compile(r"\$\.writes\[(\d+)\]")


class RateLimited(Exception):
    """The server refused the request for its rate limit (429)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__("rate limit exceeded")
        self.headers = dict(headers)


class InvalidWrites(Exception):
    """The server refused the request as invalid (400); nothing was written."""

    def __init__(self, message: str, index: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


class Uncertain(Exception):
    """The request failed in a way that leaves open whether it was applied."""


@dataclass(frozen=True)
class StoredRecord:
    """A record as the PDS holds it."""

    uri: str
    cid: str
    value: dict[str, Any]


def _headers(exc: RequestErrorBase) -> dict[str, str]:
    response = exc.response
    return dict(response.headers) if response is not None and response.headers else {}


def _message(exc: RequestErrorBase) -> str:
    response = exc.response
    content = getattr(response, "content", None)
    error = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if error or message:
        return f"{error or 'Error'}: {message or ''}".strip().rstrip(":")
    status = response.status_code if response is not None else "no response"
    return f"{type(exc).__name__} ({status})"


class Pds:
    """The account's repository on its PDS."""

    def __init__(self, client: Client, did: str, handle: str = "") -> None:
        self._client = client
        self.did = did
        self.handle = handle or did

    def close(self) -> None:
        """Close the connections."""
        self._client.request.close()

    def uri(self, collection: str, rkey: str) -> str:
        """The ``at://`` URI of a record of this repository."""
        return f"at://{self.did}/{collection}/{rkey}"

    def apply_writes(self, writes: Sequence[Mapping[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        """Send one ``applyWrites``; the per-write results and the response's headers."""
        body = orjson.dumps({"repo": self.did, "validate": True, "writes": list(writes)})
        try:
            response = self._client.invoke_procedure(
                "com.atproto.repo.applyWrites",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except RateLimitExceededError as exc:
            raise RateLimited(_headers(exc)) from exc
        except BadRequestError as exc:
            message = _message(exc)
            if "ExpiredToken" in message or "InvalidToken" in message:
                raise expired(self.handle) from exc
            match = _WRITE_INDEX.search(message)
            raise InvalidWrites(message, int(match.group(1)) if match else None) from exc
        except (UnauthorizedError, LoginRequiredError) as exc:
            if "Missing required scope" in _message(exc):
                # An OAuth session granted without this kind of write: nothing was written.
                raise BlueskyError(
                    f"The session of {self.handle} was not granted this kind of write",
                    "Connect the account again and accept what the service asks for",
                ) from exc
            raise expired(self.handle) from exc
        except (InvokeTimeoutError, NetworkError, RequestErrorBase) as exc:
            # A timeout, a dropped connection, a 5xx: the server may have written.
            raise Uncertain(_message(exc)) from exc
        content = response.content if isinstance(response.content, dict) else {}
        return list(content.get("results") or []), dict(response.headers)

    def get_record(self, collection: str, rkey: str) -> StoredRecord | None:
        """The record at ``collection/rkey``, or None when it does not exist."""
        try:
            response = self._client.com.atproto.repo.get_record(
                models.ComAtprotoRepoGetRecord.Params(
                    repo=self.did, collection=collection, rkey=rkey
                )
            )
        except BadRequestError as exc:
            if "RecordNotFound" in _message(exc) or "Could not locate" in _message(exc):
                return None
            raise Uncertain(_message(exc)) from exc
        except (UnauthorizedError, LoginRequiredError) as exc:
            raise expired(self.handle) from exc
        except RequestErrorBase as exc:
            raise Uncertain(_message(exc)) from exc
        value = response.value
        as_dict = value if isinstance(value, dict) else models.get_model_as_dict(value)
        return StoredRecord(uri=response.uri, cid=str(response.cid), value=as_dict)

    def list_records(self, collection: str) -> Iterator[StoredRecord]:
        """Every record of ``collection`` in this repository (``listRecords``, paged).

        Raises :class:`~departures.errors.BlueskyError` when a page cannot be read.
        """
        cursor: str | None = None
        while True:
            try:
                page = self._client.com.atproto.repo.list_records(
                    models.ComAtprotoRepoListRecords.Params(
                        repo=self.did, collection=collection, limit=100, cursor=cursor
                    )
                )
            except AtProtocolError as exc:
                raise BlueskyError(
                    f"Cannot list the records of {self.handle}",
                    "Check the connection and try again; nothing was written",
                ) from exc
            for record in page.records:
                value = record.value
                fields = value if isinstance(value, dict) else models.get_model_as_dict(value)
                yield StoredRecord(uri=str(record.uri), cid=str(record.cid), value=fields)
            if not page.cursor or not page.records:
                return
            cursor = page.cursor

    def list_rkeys(self, collection: str) -> list[str]:
        """Every record key of ``collection`` in this repository."""
        return [record.uri.rsplit("/", 1)[-1] for record in self.list_records(collection)]

    def followed(self, collection: str = FOLLOW, list_uri: str | None = None) -> dict[str, str]:
        """Subjects the account follows already (or lists in ``list_uri``): ``{did: uri}``.

        ``collection`` is ``app.bsky.graph.follow`` or ``app.bsky.graph.listitem``; the
        first record of a subject wins (a subject followed twice by hand keeps its first).
        """
        out: dict[str, str] = {}
        for record in self.list_records(collection):
            if list_uri and record.value.get("list") != list_uri:
                continue
            subject = record.value.get("subject")
            if isinstance(subject, str):
                out.setdefault(subject, record.uri)
        return out

    def mute_list(self, list_uri: str, *, mute: bool) -> None:
        """Mute (or unmute) a moderation list for this account.

        ``app.bsky.graph.muteActorList`` / ``unmuteActorList``: a private preference the
        AppView keeps (the PDS proxies the call), not a record of the repository, so it is
        not a write of the journaled writer; calling it twice is harmless.
        """
        nsid = "app.bsky.graph.muteActorList" if mute else "app.bsky.graph.unmuteActorList"
        try:
            self._client.invoke_procedure(
                nsid,
                content=orjson.dumps({"list": list_uri}),
                headers={"Content-Type": "application/json"},
            )
        except RateLimitExceededError as exc:
            raise RateLimited(_headers(exc)) from exc
        except (UnauthorizedError, LoginRequiredError) as exc:
            raise expired(self.handle) from exc
        except RequestErrorBase as exc:
            raise BlueskyError(
                f"The Bluesky server did not change the list's mute ({_message(exc)})",
                "Try again in a minute",
            ) from exc

    def list_viewer(self, list_uri: str) -> dict[str, Any]:
        """This account's view of a list (``app.bsky.graph.getList``'s ``viewer``: ``muted``,
        ``blocked``); empty when the AppView does not answer."""
        try:
            response = self._client.invoke_query(
                "app.bsky.graph.getList", params={"list": list_uri, "limit": 1}
            )
        except AtProtocolError:
            return {}
        content = response.content if isinstance(response.content, dict) else {}
        viewer = (content.get("list") or {}).get("viewer")
        return viewer if isinstance(viewer, dict) else {}

    def appview_query(self, nsid: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """An ``app.bsky.*`` read with the account's session; None when the subject is gone.

        The PDS forwards it to its AppView on the account's behalf, so the answer is what
        the account itself would see (its blocks and mutes applied). A post or actor that
        does not exist (deleted, taken down) is None; any other failure raises
        :class:`Uncertain` (the caller skips and tries again later).
        """
        try:
            response = self._client.invoke_query(nsid, params=DotDict(dict(params)))
        except BadRequestError as exc:
            message = _message(exc)
            if "ExpiredToken" in message or "InvalidToken" in message:
                raise expired(self.handle) from exc
            if "NotFound" in message or "not found" in message.lower():
                return None
            raise Uncertain(message) from exc
        except (UnauthorizedError, LoginRequiredError) as exc:
            raise expired(self.handle) from exc
        except RequestErrorBase as exc:
            raise Uncertain(_message(exc)) from exc
        content = response.content
        if isinstance(content, DotDict):
            return dict(content.to_dict())
        return content if isinstance(content, dict) else {}

    def upload_blob(self, data: bytes, mime: str) -> dict[str, Any]:
        """Upload ``data``; the blob reference (JSON form) to put into a record."""
        try:
            response = self._client.invoke_procedure(
                "com.atproto.repo.uploadBlob", content=data, headers={"Content-Type": mime}
            )
        except RateLimitExceededError as exc:
            raise RateLimited(_headers(exc)) from exc
        except (UnauthorizedError, LoginRequiredError) as exc:
            raise expired(self.handle) from exc
        except BadRequestError as exc:
            raise InvalidWrites(_message(exc), None) from exc
        except RequestErrorBase as exc:
            raise Uncertain(_message(exc)) from exc
        content = response.content if isinstance(response.content, dict) else {}
        blob = content.get("blob")
        if not isinstance(blob, dict):
            raise Uncertain("uploadBlob answered without a blob")
        return blob

    def server_info(self) -> dict[str, Any]:
        """``describeServer`` plus the PDS version from ``/xrpc/_health`` (both best effort)."""
        info: dict[str, Any] = {}
        for nsid in ("com.atproto.server.describeServer", "_health"):
            try:
                response = self._client.invoke_query(nsid)
            except AtProtocolError:
                continue
            if isinstance(response.content, dict):
                info.update(response.content)
        return info

    def video_upload_limits(self) -> dict[str, Any] | None:
        """``app.bsky.video.getUploadLimits`` where the server has a video service, else None."""
        try:
            response = self._client.invoke_query("app.bsky.video.getUploadLimits")
        except AtProtocolError:
            return None
        return response.content if isinstance(response.content, dict) else None


def open_account(who: str | None = None, *, store: SessionStore | None = None) -> Pds:
    """The repository of the stored session of ``who`` (handle or DID; default the current
    account): what ``migrate run``, ``audience follow`` and the desk's jobs write to.

    Close it with :meth:`Pds.close`. Errors: nobody logged in, the session expired or
    revoked, the PDS unreachable (one-line :class:`BlueskyError` each).
    """
    store = store or SessionStore()
    client = open_client(who, store=store)
    stored = store.get(who)
    if stored is None:  # open_client said so already; keeps mypy content
        client.request.close()
        raise BlueskyError(
            "Nobody is logged in", "Run 'departures login --handle HANDLE'", kind="not-logged-in"
        )
    return Pds(client, stored.did, stored.handle)
