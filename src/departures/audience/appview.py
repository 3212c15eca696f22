"""Read-only questions to a Bluesky AppView: who might an X account be there?

``app.bsky.actor.searchActors`` finds accounts by a term and ``app.bsky.actor.getProfiles``
(at most 25 actors a call) gives their bios and websites. Both are public reads: no login,
no write, so they are outside the one write path. Errors become one-line
:class:`~departures.errors.BlueskyError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from atproto import Client, models
from atproto_client.exceptions import AtProtocolError, BadRequestError, NetworkError
from atproto_client.request import Request

from departures.audience.scoring import BskySide
from departures.errors import BlueskyError, debug_detail

PUBLIC_APPVIEW = "https://public.api.bsky.app"
APPVIEW_ENV = "DEPARTURES_APPVIEW"
PROFILES_PER_CALL = 25


def _unreachable(url: str, exc: BaseException) -> BlueskyError:
    detail = debug_detail(exc)
    return BlueskyError(
        f"Cannot reach the Bluesky AppView at {url} (the service that finds accounts on "
        f"Bluesky){detail}",
        "Check the address and your internet connection, or pass another --appview URL",
    )


def _side(profile: Any) -> BskySide:
    description = str(getattr(profile, "description", None) or "")
    website = getattr(profile, "website", None)
    if website:
        # The profile's own website field reads like a link in the bio for the scorer.
        description = f"{description}\n{website}"
    return BskySide(
        did=str(profile.did),
        handle=str(profile.handle),
        display_name=str(getattr(profile, "display_name", None) or ""),
        description=description,
    )


def _batches(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AppView:
    """A read-only client of one AppView (close it when done, or use it as a context)."""

    def __init__(self, url: str = PUBLIC_APPVIEW, *, timeout: float = 20.0) -> None:
        self.url = url.rstrip("/")
        self.client = Client(base_url=self.url, request=Request(timeout=timeout))

    def __enter__(self) -> AppView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self.client.request.close()

    def search(self, term: str, limit: int = 10) -> list[BskySide]:
        """Accounts the AppView finds for ``term`` (best first, at most ``limit``)."""
        term = term.strip()
        if not term:
            return []
        try:
            response = self.client.app.bsky.actor.search_actors(
                models.AppBskyActorSearchActors.Params(q=term, limit=max(1, min(limit, 100)))
            )
        except BadRequestError:
            return []  # a term the server refuses finds nobody
        except (NetworkError, AtProtocolError) as exc:
            raise _unreachable(self.url, exc) from exc
        return [_side(actor) for actor in response.actors]

    def profiles(self, actors: Iterable[str]) -> list[BskySide]:
        """Full profiles of handles or DIDs, 25 a call; actors that do not resolve are left out."""
        wanted = list(dict.fromkeys(a for a in actors if a))
        found: list[BskySide] = []
        for batch in _batches(wanted, PROFILES_PER_CALL):
            found.extend(self._profiles(batch))
        return found

    def _profiles(self, batch: Sequence[str]) -> list[BskySide]:
        try:
            response = self.client.app.bsky.actor.get_profiles(
                models.AppBskyActorGetProfiles.Params(actors=list(batch))
            )
        except BadRequestError:
            # One handle that does not resolve can fail the whole call: ask one by one.
            if len(batch) == 1:
                return []
            out: list[BskySide] = []
            for actor in batch:
                out.extend(self._profiles([actor]))
            return out
        except (NetworkError, AtProtocolError) as exc:
            raise _unreachable(self.url, exc) from exc
        return [_side(profile) for profile in response.profiles]
