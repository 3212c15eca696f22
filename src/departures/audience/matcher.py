"""Finding candidates on Bluesky for X accounts whose handle is known.

For each X account: search the AppView for the handle's variants (and the name when the
user supplied one), guess the obvious handles (``name.bsky.social``, the website's
domain), fetch the full profiles of everything found (25 a call), score each
(:mod:`departures.audience.scoring`) and keep the best few at or above the review floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from departures.audience.appview import AppView
from departures.audience.scoring import (
    AUTO_ACCEPT,
    REVIEW_FLOOR,
    SHARED_HOSTS,
    BskySide,
    Match,
    XSide,
    bsky_handles_named_in,
    handle_variants,
    score,
    site_domain,
)

#: Candidates kept per X account (the best ones).
KEEP_PER_ACCOUNT = 3
SEARCH_LIMIT = 10


@dataclass(frozen=True)
class Found:
    """A scored candidate for one X account."""

    x: XSide
    bsky: BskySide
    match: Match


def search_terms(x: XSide) -> list[str]:
    """What to type into the AppView's search for ``x`` (handle variants, then the name)."""
    terms = sorted(handle_variants(x.handle), key=lambda v: (v != x.handle.lower(), v))
    if x.name and x.name.lower() not in terms:
        terms.append(x.name)
    return terms


def guessed_handles(x: XSide) -> list[str]:
    """Handles to try directly: those the X bio names, ``<variant>.bsky.social``, the website."""
    guesses = sorted(bsky_handles_named_in(x.bio))
    guesses += [f"{v}.bsky.social" for v in sorted(handle_variants(x.handle)) if "_" not in v]
    domain = site_domain(x.website)
    if domain and domain not in SHARED_HOSTS:  # nobody's handle is linktr.ee
        guesses.append(domain)
    return guesses


def rank(x: XSide, profiles: Iterable[BskySide], keep: int = KEEP_PER_ACCOUNT) -> list[Found]:
    """Score ``profiles`` against ``x``; the best ``keep`` at or above the review floor."""
    seen: dict[str, Found] = {}
    for profile in profiles:
        if profile.did in seen:
            continue
        seen[profile.did] = Found(x, profile, score(x, profile))
    kept = [f for f in seen.values() if f.match.score >= REVIEW_FLOOR]
    kept.sort(key=lambda f: (-f.match.score, f.bsky.handle))
    return kept[:keep]


def find(
    appview: AppView,
    accounts: list[XSide],
    *,
    on_account: Callable[[XSide, list[Found]], None] | None = None,
) -> list[Found]:
    """Candidates for every account (``on_account`` is told after each, to store and count)."""
    everything: list[Found] = []
    for x in accounts:
        dids: dict[str, None] = {}
        for term in search_terms(x):
            for actor in appview.search(term, SEARCH_LIMIT):
                dids.setdefault(actor.did)
        profiles = appview.profiles([*dids, *guessed_handles(x)])
        found = rank(x, profiles)
        everything.extend(found)
        if on_account is not None:
            on_account(x, found)
    return everything


def auto_accepted(found: Iterable[Found], threshold: float = AUTO_ACCEPT) -> list[Found]:
    """Those that would be followed without review."""
    return [f for f in found if f.match.score >= threshold]
