"""Hooks for the coalition's Bluesky writes, which the journaled write path will implement.

The scheduler (:mod:`departures.coalition.notify`) calls them; nothing here writes to Bluesky.
The departure-day publisher (members' welcome posts, exactly once) and the list/starter-pack
sync belong to the one journaled, budgeted writer in ``departures.bluesky``; they plug in by
implementing these protocols and being passed to :class:`~departures.coalition.notify.Notifier`.
Both are called on every scheduler pass and must be idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from departures.coalition.store import Campaign, Organisation

__all__ = ["DepartureHook", "ListSync", "NoBlueskyWrites"]


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


class NoBlueskyWrites:
    """The default: no Bluesky writes (until the journaled writer provides the real hooks)."""

    def on_departure(self, campaign: Campaign, members: Sequence[Organisation]) -> None:
        """Do nothing."""

    def sync(self, campaign: Campaign, landed: Sequence[Organisation]) -> None:
        """Do nothing."""
