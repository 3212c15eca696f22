"""Helpers of the coalition access tests (sessions, secrets, erasure): an in-process browser,
a campaign with a member, and a scan of every table of the store for a value."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, select

from departures.coalition.store import CoalitionStore, Organisation
from departures.coalition.store.schema import metadata
from departures.coalition.web import CoalitionApp


class Browser:
    """One browser (its own cookie jar) driving the app in-process on a private event loop."""

    def __init__(
        self,
        app: CoalitionApp,
        base_url: str = "http://testserver",
        client: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client),
            base_url=base_url,
            follow_redirects=True,
        )

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self.http.get(path, **kwargs))

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self.http.post(path, **kwargs))

    def csrf(self, path: str) -> str:
        page = self.get(path)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found, page.text
        return found.group(1)

    def cookie(self) -> str:
        return str(self.http.cookies.get("departures_session", ""))

    def close(self) -> None:
        self._loop.run_until_complete(self.http.aclose())
        self._loop.close()


def campaign_with_member(
    store: CoalitionStore, *, email: str = "comms@member.example", did: str = ""
) -> tuple[int, str, str, Organisation, str]:
    """(coordinator id, coordinator token, campaign slug, organisation, member key)."""
    coordinator_id, token = store.create_coordinator("Coalition office")
    now = datetime.now(UTC)
    campaign = store.create_campaign(
        coordinator_id,
        title="Leave X together",
        description="",
        threshold=2,
        deadline=now + timedelta(days=20),
        departure_at=now + timedelta(days=30),
        timezone="Europe/Brussels",
    )
    store.open_campaign(campaign.slug, coordinator_id)
    invite = store.create_invite(campaign.slug, coordinator_id, "Member NGO")
    organisation, key = store.accept_invite(
        invite,
        name="Member NGO",
        email=email,
        x_handle="member_ngo",
        bluesky_handle="member.example" if did else "",
        bluesky_did=did,
    )
    return coordinator_id, token, campaign.slug, organisation, key


def rows_naming(engine: Engine, *values: str | int, id_columns: tuple[str, ...] = ()) -> list[str]:
    """Every ``table.column`` of every table of the store holding one of ``values``.

    Text columns are searched for the values as substrings (a DID inside JSON, a handle in
    an e-mail); the integer ``values`` are compared only with the columns named in
    ``id_columns`` (an organisation id is not the same thing as any other number 7).
    """
    texts = [str(v) for v in values if isinstance(v, str) and v]
    numbers = [v for v in values if isinstance(v, int)]
    found = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for column, value in row._mapping.items():
                    named = isinstance(value, str) and any(t in value for t in texts)
                    if named or (column in id_columns and value in numbers):
                        found.append(f"{table.name}.{column}")
    return found
