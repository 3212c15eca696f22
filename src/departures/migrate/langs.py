"""A tweet's ``lang`` → the BCP-47 ``langs`` of a Bluesky post.

X tags tweets with ISO 639-1 codes plus pseudo-codes that are not languages: ``und``
(undetermined), ``zxx`` (no linguistic content), ``art`` (artificial), and ``q``-codes
from ISO 639's private-use range (``qme`` media only, ``qam`` mentions only, ``qst`` very
short, ``qht`` hashtags only, ``qct`` cashtags only, ...: every 3-letter ``q`` code).
Those are dropped: a wrong language hides a post from the feeds of people who read it.
X also still uses a few deprecated codes, which are mapped to their current ones.
"""

from __future__ import annotations

import re

__all__ = ["bluesky_langs"]

_NOT_A_LANGUAGE = frozenset({"und", "zxx", "art", "mul", "mis"})
# Deprecated ISO 639 codes X has been seen to use, and what BCP-47 uses now.
_RENAMED = {"in": "id", "iw": "he", "ji": "yi", "jw": "jv", "mo": "ro"}
_SHAPE = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")


def bluesky_langs(lang: str | None) -> list[str]:
    """The ``langs`` value for a post from a tweet's ``lang``: one tag, or none.

    >>> bluesky_langs("in"), bluesky_langs("qme"), bluesky_langs("zh-cn")
    (['id'], [], ['zh-CN'])
    """
    if not lang:
        return []
    tag = lang.strip().replace("_", "-").lower()
    if not _SHAPE.match(tag):
        return []
    primary, *subtags = tag.split("-")
    if primary in _NOT_A_LANGUAGE or (len(primary) == 3 and primary[0] == "q"):
        return []
    primary = _RENAMED.get(primary, primary)
    return ["-".join([primary, *(_case(sub) for sub in subtags)])]


def _case(subtag: str) -> str:
    # BCP-47 convention: regions upper case (CN, 419 stays), scripts title case (Hant).
    if len(subtag) == 2:
        return subtag.upper()
    if len(subtag) == 4 and subtag.isalpha():
        return subtag.title()
    return subtag
