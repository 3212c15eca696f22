"""Split a post that is over Bluesky's limits into a self-thread.

A Bluesky post holds at most 300 graphemes and 3,000 UTF-8 bytes. X long posts (note
tweets, up to 25,000 characters) and footers push many migrated posts over that. The
splitter cuts at the best boundary that fits: a paragraph or line break, else the end of
a sentence, else a space, else (for one unbreakable run such as a long CJK sentence) any
grapheme boundary. It never cuts inside a grapheme cluster or inside a facet, and it moves
every facet to its part's byte offsets. Whitespace at a cut is dropped.

Pure functions, no I/O.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import regex  # type: ignore[import-untyped]

from departures.migrate.richtext import Facet, RichText, grapheme_count

__all__ = ["MAX_BYTES", "MAX_GRAPHEMES", "split_post"]

MAX_GRAPHEMES = 300
MAX_BYTES = 3000

_GRAPHEME = regex.compile(r"\X")
# The end of a sentence: terminal punctuation, optionally closed by quotes or brackets.
_SENTENCE_END = regex.compile(r"[.!?…。！？‼⁉][\"'”’»)\]]*$")
_CJK_SENTENCE_END = ("。", "！", "？")

# How good a cut is; a better cut is taken if it leaves a part at least this full.
_PARAGRAPH, _SENTENCE, _WORD, _ANY = 3, 2, 1, 0
_MIN_FILL = {_PARAGRAPH: 0.4, _SENTENCE: 0.4, _WORD: 0.0, _ANY: 0.0}


@dataclass(frozen=True)
class _Layout:
    """The text as grapheme clusters with their byte offsets."""

    clusters: list[str]
    offsets: list[int]  # byte offset of each cluster, plus the total length at the end
    blank: list[bool]  # cluster is whitespace
    blocked: list[bool]  # a cut before this cluster would fall inside a facet


def split_post(
    rich: RichText,
    *,
    max_graphemes: int = MAX_GRAPHEMES,
    max_bytes: int = MAX_BYTES,
    numbering: bool = True,
) -> list[RichText]:
    """Split ``rich`` into parts that each fit the limits; a post that fits is returned alone.

    With ``numbering`` each part of a split post ends in `` (i/n)``, counted inside the
    limits. A facet too long for any part is handled rather than refused: a link's shown
    text is shortened (its target stays whole), any other facet is dropped and its text
    split like plain text.
    """
    if max_graphemes < 1 or max_bytes < 4:
        raise ValueError("limits too small to hold any text")
    if rich.grapheme_length <= max_graphemes and rich.byte_length <= max_bytes:
        return [rich]
    digits = 1
    while True:
        reserve = len(f" ({'9' * digits}/{'9' * digits})") if numbering else 0
        if max_graphemes - reserve < 1 or max_bytes - reserve < 4:
            reserve = 0  # limits too small for numbering: go without it
        budget_g, budget_b = max_graphemes - reserve, max_bytes - reserve
        fitted = _fit_facets(rich, budget_g, budget_b)
        parts = _greedy(fitted, budget_g, budget_b)
        if not numbering or reserve == 0 or len(parts) < 10**digits or len(parts) == 1:
            break
        digits += 1
    if numbering and reserve and len(parts) > 1:
        total = len(parts)
        parts = [
            RichText(f"{part.text} ({i}/{total})", part.facets) for i, part in enumerate(parts, 1)
        ]
    return parts


def _fit_facets(rich: RichText, budget_g: int, budget_b: int) -> RichText:
    """Make every facet fit one part: shorten a huge link's label, drop other huge facets."""
    if all(
        f.byte_end - f.byte_start <= budget_b and grapheme_count(rich.facet_text(f)) <= budget_g
        for f in rich.facets
    ):
        return rich
    data = rich.text.encode("utf-8")
    out: list[bytes] = []
    facets: list[Facet] = []
    cursor = 0
    size = 0
    for facet in rich.facets:
        out.append(data[cursor : facet.byte_start])
        size += facet.byte_start - cursor
        label = rich.facet_text(facet)
        too_big = facet.byte_end - facet.byte_start > budget_b or grapheme_count(label) > budget_g
        if too_big and facet.kind == "link":
            label = _shorten_label(label, budget_g, budget_b)
        encoded = label.encode("utf-8")
        out.append(encoded)
        if not too_big or facet.kind == "link":
            facets.append(Facet(size, size + len(encoded), facet.kind, facet.value))
        size += len(encoded)
        cursor = facet.byte_end
    out.append(data[cursor:])
    return RichText(b"".join(out).decode("utf-8"), tuple(facets))


def _shorten_label(label: str, budget_g: int, budget_b: int) -> str:
    clusters = _GRAPHEME.findall(label)
    keep_g = max(1, min(budget_g, 40) - 3)
    while True:
        shortened = "".join(clusters[:keep_g]).strip() + "..."
        if len(shortened.encode("utf-8")) <= budget_b or keep_g == 1:
            return shortened
        keep_g -= 1


def _layout(rich: RichText) -> _Layout:
    clusters: list[str] = _GRAPHEME.findall(rich.text)
    offsets = [0]
    for cluster in clusters:
        offsets.append(offsets[-1] + len(cluster.encode("utf-8")))
    blank = [cluster.isspace() for cluster in clusters]
    blocked = [False] * (len(clusters) + 1)
    for facet in rich.facets:
        # A facet edge inside a cluster widens the protected range to whole clusters.
        first = bisect_right(offsets, facet.byte_start) - 1
        last = bisect_right(offsets, facet.byte_end - 1) - 1
        for i in range(first + 1, last + 1):
            blocked[i] = True
        for i in range(first, last + 1):
            blank[i] = False  # never trim whitespace out of a facet
    return _Layout(clusters, offsets, blank, blocked)


def _greedy(rich: RichText, budget_g: int, budget_b: int) -> list[RichText]:
    lay = _layout(rich)
    n = len(lay.clusters)
    parts: list[RichText] = []
    start = 0
    while True:
        while start < n and lay.blank[start]:
            start += 1
        if start >= n:
            return parts
        # The furthest end such that clusters[start:end] fits both budgets.
        limit_b = lay.offsets[start] + budget_b
        far = min(start + budget_g, bisect_right(lay.offsets, limit_b) - 1, n)
        # A single cluster over the byte budget cannot be split without breaking it.
        far = max(far, start + 1)
        end = n if far >= n else _best_cut(lay, start, far)
        trimmed = end
        while trimmed > start and lay.blank[trimmed - 1]:
            trimmed -= 1
        parts.append(_slice(rich, lay, start, trimmed))
        start = end


def _best_cut(lay: _Layout, start: int, far: int) -> int:
    """The best place in (start, far] to end a part; every facet stays whole."""
    best: dict[int, int] = {}
    for cut in range(far, start, -1):
        if lay.blocked[cut]:
            continue
        rank = _rank(lay, start, cut)
        if rank not in best:
            best[rank] = cut
            if rank == _PARAGRAPH:
                break
    span = far - start
    for rank in (_PARAGRAPH, _SENTENCE, _WORD, _ANY):
        found = best.get(rank)
        if found is not None and found - start >= _MIN_FILL[rank] * span:
            return found
    # Only reached when one facet is wider than a whole part, which _fit_facets rules out
    # except for facets whose edges split grapheme clusters: cut hard, that facet is lost.
    return far


def _rank(lay: _Layout, start: int, cut: int) -> int:
    """How good a cut before cluster ``cut`` is."""
    after = lay.clusters[cut]
    if not lay.blank[cut]:
        before = lay.clusters[cut - 1]
        if before in _CJK_SENTENCE_END:
            return _SENTENCE
        return _WORD if lay.blank[cut - 1] else _ANY
    if "\n" in after or "\r" in after or "\u2029" in after:
        return _PARAGRAPH
    i = cut - 1
    while i > start and lay.blank[i]:
        i -= 1
    tail = "".join(lay.clusters[max(start, i - 3) : i + 1])
    return _SENTENCE if _SENTENCE_END.search(tail) else _WORD


def _slice(rich: RichText, lay: _Layout, first: int, end: int) -> RichText:
    lo, hi = lay.offsets[first], lay.offsets[end]
    text = "".join(lay.clusters[first:end])
    facets = tuple(f.shifted(-lo) for f in rich.facets if lo <= f.byte_start and f.byte_end <= hi)
    return RichText(text, facets)
