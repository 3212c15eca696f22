"""Hooks for the coalition's Bluesky writes, called by the scheduler pass.

The scheduler (:mod:`departures.coalition.notify`) calls them; nothing here writes to Bluesky.
The departure-day publisher (:mod:`.departure`, members' welcome posts, exactly once) and the
list/starter-pack sync (:mod:`.listsync`) implement these protocols over the one journaled,
budgeted writer in ``departures.bluesky`` and are passed to
:class:`~departures.coalition.notify.Notifier`.
Both are called on every scheduler pass and must be idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from departures.coalition.store import Campaign, Organisation

__all__ = ["DepartureHook", "ListSync", "NoBlueskyWrites", "TriagePass", "TriageSummary"]


class DepartureHook(Protocol):
    """Publishes the members' prepared welcome posts once the campaign has departed."""

    def on_departure(self, campaign: Campaign, members: Sequence[Organisation]) -> None:
        """Called on every pass while the campaign is departed, with the members who go."""
        ...


class ListSync(Protocol):
    """Keeps the coordinator's list and starter pack equal to the landed members."""

    def sync(self, campaign: Campaign, landed: Sequence[Organisation]) -> None:
        """Called on every pass for an open, on or departed campaign with its landed members."""
        ...


class TriageSummary(Protocol):
    """What a triage pass reports to the scheduler."""

    scored: int
    errors: list[str]


class TriagePass(Protocol):
    """Reads, scores and queues the replies to opted-in members' posts (coalition/triage.py)."""

    def run(self) -> TriageSummary:
        """Called once per scheduler pass, in the scheduler's turn."""
        ...


class NoBlueskyWrites:
    """The default when no Bluesky service is configured: write nothing to Bluesky."""

    def on_departure(self, campaign: Campaign, members: Sequence[Organisation]) -> None:
        """Do nothing."""

    def sync(self, campaign: Campaign, landed: Sequence[Organisation]) -> None:
        """Do nothing."""
