"""Clocks a test moves by hand, for code that takes its time from a callable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# The moment most coalition tests start at (a Wednesday morning, before any deadline).
START = datetime(2025, 1, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A wall clock standing at ``now`` until the test sets or advances it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward by ``timedelta(**delta)``."""
        self.now += timedelta(**delta)


class SecondsClock:
    """A ``time.time`` / ``time.monotonic`` stand-in (seconds as a float) moved by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        self.now += seconds
