"""Campaigns and members made straight in a coalition store, for tests that start from one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from departures.coalition.store import Campaign, CoalitionStore, Organisation
from helpers.clock import START


def open_campaign(
    store: CoalitionStore, *, start: datetime = START, coordinator: str = "Office", **terms: Any
) -> tuple[int, Campaign]:
    """A new coordinator's campaign, created and opened: (the coordinator's id, the campaign).

    Titled "Leave X", threshold 1, deadline a week after ``start`` and departure a week
    later, unless ``terms`` (any ``create_campaign`` keyword) say otherwise.
    """
    coordinator_id, _token = store.create_coordinator(coordinator)
    values: dict[str, Any] = {
        "title": "Leave X",
        "threshold": 1,
        "deadline": start + timedelta(days=7),
        "departure_at": start + timedelta(days=14),
        **terms,
    }
    campaign = store.create_campaign(coordinator_id, **values)
    store.open_campaign(campaign.slug, coordinator_id)
    return coordinator_id, campaign


def join(
    store: CoalitionStore, slug: str, coordinator: int, name: str, **details: Any
) -> tuple[Organisation, str]:
    """An organisation invited to the campaign and accepted: (organisation, member key)."""
    token = store.create_invite(slug, coordinator)
    return store.accept_invite(token, name=name, **details)
