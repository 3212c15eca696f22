"""How sure we are that a Bluesky account is a given X account: evidence and a score.

Pure logic: it takes what is known of the X account (:class:`XSide`) and of one Bluesky
profile (:class:`BskySide`) and returns the evidence found, each piece a sentence a person
can check, with a weight. Weights combine like independent clues,
``score = 1 - prod(1 - weight)``, so no single weak clue (a common name, an equal handle
that anyone could have registered) reaches :data:`AUTO_ACCEPT`, while a proof controlled by
the X account's owner (its bio naming the Bluesky handle, its website's domain as the
Bluesky handle) does. Contradicting evidence (the Bluesky bio names *another* X account)
caps the score below review level.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from urllib.parse import urlsplit

__all__ = [
    "AUTO_ACCEPT",
    "REVIEW_FLOOR",
    "BskySide",
    "Evidence",
    "Match",
    "XSide",
    "bsky_handles_named_in",
    "handle_variants",
    "score",
    "site_domain",
    "site_identity",
]

#: At or above this score a candidate is followed without a person accepting it.
AUTO_ACCEPT = 0.9
#: Under this score a candidate is not even shown for review.
REVIEW_FLOOR = 0.3

#: Handles of hosting providers: only the first label is the user's chosen name. ``.test``
#: is a reserved top-level domain (never a real organisation's), used by local networks.
PROVIDER_SUFFIXES = (".bsky.social", ".test")

W_X_BIO_NAMES_HANDLE = 0.95
W_DOMAIN_HANDLE_IS_WEBSITE = 0.95
W_BIO_LINKS_X_PROFILE = 0.75
W_BIO_AT_X_HANDLE = 0.5
W_HANDLE_EQUAL = 0.5
W_HANDLE_DOMAIN_VARIANT = 0.3
W_SAME_WEBSITE = 0.6
W_NAME_SAME = 0.3
W_NAME_CLOSE = 0.15
CONTRADICTION_CAP = 0.2

_X_LINK = re.compile(
    r"(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/@?([A-Za-z0-9_]{1,15})\b", re.I
)
_AT_NAME = re.compile(r"(?<![\w.@])@([A-Za-z0-9_]{1,15})(?![\w.@-])")
_URL = re.compile(r"(?:https?://)?(?:[a-z0-9-]+\.)+[a-z]{2,}(?:/[^\s]*)?", re.I)
_X_SITES = ("x.com", "twitter.com", "bsky.app", "bsky.social", "t.co")
#: Link-in-bio pages and platforms many people share a domain of: there the first part of
#: the path names the person (``linktr.ee/oxfam``), so only an equal path is the same site.
SHARED_HOSTS = frozenset(
    {
        "linktr.ee",
        "linkin.bio",
        "beacons.ai",
        "bio.link",
        "lnk.bio",
        "campsite.bio",
        "taplink.cc",
        "about.me",
        "linkedin.com",
        "facebook.com",
        "instagram.com",
        "youtube.com",
        "tiktok.com",
        "github.com",
        "medium.com",
        "t.me",
        "threads.net",
        "mastodon.social",
    }
)
_BSKY_HANDLE_IN_TEXT = re.compile(
    r"(?:bsky\.app/profile/|(?<![\w.])@)((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*)",
    re.I,
)


@dataclass(frozen=True)
class XSide:
    """What is known of an X account (only ``handle`` is usually known; the rest if supplied)."""

    x_id: int
    handle: str = ""
    name: str = ""
    website: str = ""
    bio: str = ""


@dataclass(frozen=True)
class BskySide:
    """A Bluesky profile as ``getProfiles`` returns it."""

    did: str
    handle: str
    display_name: str = ""
    description: str = ""


@dataclass(frozen=True)
class Evidence:
    """One clue, as a sentence a person can check, with its weight (negative: against)."""

    text: str
    weight: float


@dataclass(frozen=True)
class Match:
    """The score of one (X account, Bluesky profile) pair and its evidence."""

    score: float
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)

    def explain(self) -> str:
        """The evidence as one line per clue."""
        return "\n".join(e.text for e in self.evidence)


def fold(text: str) -> str:
    """Lower case without accents, for comparisons."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def handle_variants(x_handle: str) -> set[str]:
    """The Bluesky names an X handle may have become: ``Oxfam_BE`` → oxfam_be, oxfam-be, oxfambe.

    Bluesky handles allow no underscore, so ``_`` becomes ``-`` or disappears.
    """
    base = x_handle.strip().removeprefix("@").lower()
    if not base:
        return set()
    return {base, base.replace("_", "-"), base.replace("_", ""), base.strip("_").replace("_", "-")}


def site_domain(url: str) -> str:
    """``https://www.Oxfam.org/en/`` → ``oxfam.org``; empty when it is no web address."""
    text = url.strip().lower()
    if not text:
        return ""
    if "://" not in text:
        text = "http://" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:
        return ""
    host = host.removeprefix("www.").rstrip(".")
    return host if "." in host else ""


def site_identity(url: str) -> str:
    """What names a website: its domain, or ``host/first-path-part`` on a shared host.

    ``https://www.Oxfam.org/en/`` → ``oxfam.org``; ``linktr.ee/Oxfam?x=1`` → ``linktr.ee/oxfam``;
    empty when it is no web address or a shared host without a path.
    """
    domain = site_domain(url)
    if domain not in SHARED_HOSTS:
        return domain
    text = url.strip().lower()
    if "://" not in text:
        text = "http://" + text
    try:
        path = urlsplit(text).path
    except ValueError:
        return ""
    first = path.strip("/").split("/")[0].removeprefix("@")
    return f"{domain}/{first}" if first else ""


def _local_name(bsky_handle: str) -> str | None:
    """The chosen name of a provider handle (``oxfam-be.bsky.social`` → ``oxfam-be``)."""
    handle = bsky_handle.lower()
    for suffix in PROVIDER_SUFFIXES:
        if handle.endswith(suffix):
            name = handle.removesuffix(suffix)
            return name if name and "." not in name else None
    return None


def _bio_domains(text: str) -> set[str]:
    """The sites a bio links (:func:`site_identity` of each), X and Bluesky left out."""
    domains = set()
    for found in _URL.findall(text):
        domain = site_identity(found)
        if domain and not any(domain == s or domain.endswith("." + s) for s in _X_SITES):
            domains.add(domain)
    return domains


def _same_site(a: str, b: str) -> bool:
    """Same site, or one a subdomain of the other (``be.oxfam.org`` and ``oxfam.org``).

    On a shared host (``linktr.ee/a``) only the very same page counts.
    """
    if "/" in a or "/" in b:
        return a == b
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _x_handles_named_in(bio: str) -> tuple[set[str], set[str]]:
    """X handles a Bluesky bio names: (by x.com/twitter.com link, by ``@name``)."""
    linked = {m.lower() for m in _X_LINK.findall(bio)}
    linked -= {"intent", "home", "i", "search", "share"}
    mentioned = {m.lower() for m in _AT_NAME.findall(bio)}
    return linked, mentioned


def bsky_handles_named_in(x_bio: str) -> set[str]:
    """Bluesky handles an X bio names (``@name.bsky.social``, ``bsky.app/profile/...``)."""
    return {m.lower().rstrip(".") for m in _BSKY_HANDLE_IN_TEXT.findall(x_bio)}


def name_similarity(a: str, b: str) -> float:
    """0..1: how alike two display names are (accents, case, emoji and spacing ignored)."""
    fa = " ".join("".join(c if c.isalnum() else " " for c in fold(a)).split())
    fb = " ".join("".join(c if c.isalnum() else " " for c in fold(b)).split())
    if not fa or not fb:
        return 0.0
    return SequenceMatcher(None, fa, fb).ratio()


def _handle_evidence(x: XSide, bsky: BskySide) -> Iterable[Evidence]:
    variants = handle_variants(x.handle)
    if not variants:
        return
    local = _local_name(bsky.handle)
    shown = f"@{x.handle.removeprefix('@')}"
    if local is not None and local in variants:
        yield Evidence(f"same handle: {shown} on X, @{bsky.handle} on Bluesky", W_HANDLE_EQUAL)
        return
    if local is None:
        labels = bsky.handle.lower().split(".")
        joined = "".join(labels)
        dotted = {v.replace("_", ".") for v in variants}
        if labels[0] in variants or joined in variants or bsky.handle.lower() in dotted:
            yield Evidence(
                f"domain handle @{bsky.handle} resembles {shown} on X", W_HANDLE_DOMAIN_VARIANT
            )


def _website_evidence(x: XSide, bsky: BskySide) -> Iterable[Evidence]:
    site = site_identity(x.website)
    if not site:
        return
    handle = bsky.handle.lower()
    if "/" not in site and _local_name(handle) is None and _same_site(handle, site):
        yield Evidence(
            f"Bluesky handle @{bsky.handle} is the domain of the X account's website {site}",
            W_DOMAIN_HANDLE_IS_WEBSITE,
        )
        return
    for domain in sorted(_bio_domains(bsky.description)):
        if _same_site(domain, site):
            yield Evidence(
                f"Bluesky bio links {domain}, the X account's website is {site}", W_SAME_WEBSITE
            )
            return


def _bio_evidence(x: XSide, bsky: BskySide) -> Iterable[Evidence]:
    handle = x.handle.strip().removeprefix("@").lower()
    if not handle:
        return
    linked, mentioned = _x_handles_named_in(bsky.description)
    if handle in linked:
        yield Evidence(f"Bluesky bio links the X profile x.com/{handle}", W_BIO_LINKS_X_PROFILE)
    elif handle in mentioned:
        yield Evidence(f"Bluesky bio mentions @{handle}", W_BIO_AT_X_HANDLE)
    elif linked:
        others = ", ".join(sorted(linked))
        yield Evidence(f"Bluesky bio links another X profile ({others})", -1.0)


def _x_bio_evidence(x: XSide, bsky: BskySide) -> Iterable[Evidence]:
    named = bsky_handles_named_in(x.bio)
    if bsky.handle.lower() in named:
        yield Evidence(f"the X bio names the Bluesky handle @{bsky.handle}", W_X_BIO_NAMES_HANDLE)


def _name_evidence(x: XSide, bsky: BskySide) -> Iterable[Evidence]:
    if not x.name or not bsky.display_name:
        return
    similarity = name_similarity(x.name, bsky.display_name)
    if similarity >= 0.95:
        yield Evidence(f"same name: {x.name!r} / {bsky.display_name!r}", W_NAME_SAME)
    elif similarity >= 0.8:
        yield Evidence(
            f"similar names ({similarity:.0%}): {x.name!r} / {bsky.display_name!r}", W_NAME_CLOSE
        )


def score(x: XSide, bsky: BskySide) -> Match:
    """Score how likely ``bsky`` is the same person or organisation as ``x``."""
    evidence: list[Evidence] = []
    for rule in (
        _x_bio_evidence,
        _website_evidence,
        _bio_evidence,
        _handle_evidence,
        _name_evidence,
    ):
        evidence.extend(rule(x, bsky))
    remaining = 1.0
    for clue in evidence:
        if clue.weight > 0:
            remaining *= 1.0 - clue.weight
    value = 1.0 - remaining
    # Another X profile linked from the Bluesky bio: somebody else's account, unless the X
    # side itself points at this Bluesky account.
    contradicted = any(e.weight < 0 for e in evidence)
    strong = any(e.weight >= W_X_BIO_NAMES_HANDLE for e in evidence)
    if contradicted and not strong:
        value = min(value, CONTRADICTION_CAP)
    return Match(round(value, 4), tuple(evidence))
