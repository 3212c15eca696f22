"""Which AppView shows what a PDS holds: a local network's own, else Bluesky's public one.

A local network (the sandbox) runs its own AppView, which the PDS's URL alone does not
reveal. Whoever starts such a network registers the pair here (:func:`register_local`) and
removes it when the network goes down (:func:`forget_local`); :func:`appview_for` answers
from those registrations. The registry is one small file per PDS under the user's cache
(``$DEPARTURES_CACHE`` or ``~/.cache/departures``), so that any process finds it and no
two networks write the same file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

__all__ = ["PUBLIC_APPVIEW", "appview_for", "forget_local", "register_local"]

PUBLIC_APPVIEW = "https://public.api.bsky.app"
_CACHE_ENV = "DEPARTURES_CACHE"


def _registry() -> Path:
    base = os.environ.get(_CACHE_ENV)
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "departures"
    return root / "appviews"


def _entry(pds_url: str) -> Path:
    name = hashlib.sha256(pds_url.rstrip("/").encode()).hexdigest()[:24]
    return _registry() / name


def register_local(pds_url: str, appview_url: str) -> None:
    """Remember that ``appview_url`` shows what the local PDS at ``pds_url`` holds."""
    entry = _entry(pds_url)
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = entry.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(appview_url.rstrip("/") + "\n", encoding="utf-8")
    tmp.replace(entry)


def forget_local(pds_url: str) -> None:
    """Forget the local AppView of ``pds_url`` (its network went down)."""
    with contextlib.suppress(OSError):
        _entry(pds_url).unlink()


def appview_for(pds_url: str) -> str:
    """The AppView for a PDS: a registered local one, else Bluesky's public one."""
    if pds_url:
        with contextlib.suppress(OSError):
            registered = _entry(pds_url).read_text(encoding="utf-8").strip()
            if registered:
                return registered
    return PUBLIC_APPVIEW
