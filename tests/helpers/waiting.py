"""Waiting for what a server does asynchronously (the AppView indexes a moment later)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


def poll(check: Callable[[], T], seconds: float = 30.0, interval: float = 0.3) -> T:
    """Call ``check`` until it returns something truthy or ``seconds`` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)


def thread_post(appview_url: str, uri: str) -> dict[str, Any] | None:
    """The AppView's view of the post at the head of ``uri``'s thread, or None until indexed.

    The AppView answers ``NotFound`` (HTTP 400) for a post it has not indexed yet; a test
    that polls must read that as "not yet", not fail on it.
    """
    response = httpx.get(
        f"{appview_url}/xrpc/app.bsky.feed.getPostThread", params={"uri": uri}, timeout=10
    )
    answer = response.json()
    if response.status_code == 400 and answer.get("error") == "NotFound":
        return None
    response.raise_for_status()
    post = (answer.get("thread") or {}).get("post")
    return dict(post) if post else None
