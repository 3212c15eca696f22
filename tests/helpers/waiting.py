"""Waiting for what a server does asynchronously (the AppView indexes a moment later)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(check: Callable[[], T], seconds: float = 30.0, interval: float = 0.3) -> T:
    """Call ``check`` until it returns something truthy or ``seconds`` pass; its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(interval)
