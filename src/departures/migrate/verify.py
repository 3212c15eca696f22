"""Checking that published posts are visible where people look: the AppView.

Importers are known for posts that exist on the PDS but never show up in the app. ``verify``
asks the AppView (``app.bsky.feed.getPosts``, 25 URIs a call) for every published post,
records ``verified_at`` for those it shows, and reports the others. With ``repair`` each
missing one is looked up on the PDS: a record that is not there any more is forgotten from
``published`` so that ``run`` creates it again with the same record key; one that is there
is only reported (the AppView may still be indexing it, or has taken it down).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from atproto import Client, models
from atproto_client.exceptions import AtProtocolError

from departures.bluesky.appviews import PUBLIC_APPVIEW, appview_for
from departures.bluesky.pds import Pds
from departures.bluesky.records import POST
from departures.errors import BlueskyError, debug_detail
from departures.workspace.db import Workspace
from departures.workspace.journal import now_iso

__all__ = ["APPVIEW_ENV", "PUBLIC_APPVIEW", "VerifyReport", "default_appview", "verify"]
APPVIEW_ENV = "DEPARTURES_APPVIEW"
PAGE = 25


@dataclass
class VerifyReport:
    """What ``verify`` found."""

    checked: int = 0
    visible: int = 0
    missing: list[str] = field(default_factory=list)  # plan keys not shown by the AppView
    on_pds_only: list[str] = field(default_factory=list)  # exist on the PDS (repair mode)
    recreate: list[str] = field(default_factory=list)  # gone from the PDS: run creates them


def default_appview(pds_url: str) -> str:
    """The AppView for a PDS: a local network's own (the sandbox's), else Bluesky's public one."""
    return appview_for(pds_url)


def visible_uris(appview: str, uris: list[str]) -> set[str]:
    """The URIs among ``uris`` that the AppView shows."""
    client = Client(base_url=appview)
    try:
        return _visible(client, appview, uris)
    finally:
        client.request.close()


def _visible(client: Client, appview: str, uris: list[str]) -> set[str]:
    shown: set[str] = set()
    for start in range(0, len(uris), PAGE):
        page = uris[start : start + PAGE]
        try:
            response = client.app.bsky.feed.get_posts(models.AppBskyFeedGetPosts.Params(uris=page))
        except AtProtocolError as exc:
            raise BlueskyError(
                f"Cannot ask the Bluesky AppView at {appview} (the service that shows posts "
                f"to people){debug_detail(exc)}",
                "Check the address (--appview URL) and your connection",
            ) from exc
        shown.update(post.uri for post in response.posts)
    return shown


def verify(
    workspace: Workspace,
    appview: str,
    *,
    pds: Pds | None = None,
    repair: bool = False,
    wait_seconds: float = 0.0,
) -> VerifyReport:
    """Check every published post through the AppView (see the module docstring).

    ``wait_seconds``: an AppView indexes a burst of posts some seconds after they were
    written, so the posts not yet shown are asked for again until they are or the time is up.
    """
    rows = workspace.conn.execute(
        "SELECT key, uri FROM published WHERE deleted_at IS NULL ORDER BY published_at, key"
    ).fetchall()
    report = VerifyReport(checked=len(rows))
    all_uris = [str(uri) for _key, uri in rows]
    shown = visible_uris(appview, all_uris)
    deadline = time.monotonic() + wait_seconds
    while len(shown) < len(all_uris) and time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        shown |= visible_uris(appview, [uri for uri in all_uris if uri not in shown])
    stamp = now_iso()
    with workspace.transaction() as conn:
        for key, uri in rows:
            if uri in shown:
                conn.execute("UPDATE published SET verified_at = ? WHERE key = ?", (stamp, key))
            else:
                report.missing.append(key)
    report.visible = len(rows) - len(report.missing)
    if repair and pds is not None:
        uris = dict(rows)
        for key in report.missing:
            rkey = str(uris[key]).rsplit("/", 1)[-1]
            if pds.get_record(POST, rkey) is None:
                report.recreate.append(key)
            else:
                report.on_pds_only.append(key)
        if report.recreate:
            with workspace.transaction() as conn:
                conn.executemany(
                    "DELETE FROM published WHERE key = ?", [(k,) for k in report.recreate]
                )
    return report
