"""Matching the audience, as ``audience match`` and the desk's audience page both run it.

Two steps, so a caller can say what happens in between: :func:`prepare` asks the coalition's
directory first (its pairs are consented; those whose X side is proven — verified or vouched —
are accepted at once, the others wait for review with their proof level) and works out whom
to search for; :func:`search` then searches the AppView for each, scores what it finds and
stores the candidates (the surest accepted, the rest proposed for review).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from departures.audience import store
from departures.audience.scoring import AUTO_ACCEPT, XSide
from departures.workspace.db import Workspace


@dataclass
class MatchPlan:
    """Whom a match looks for, and what the directory already answered."""

    ids: list[int]
    directory_new: int | None  # None: no directory was asked
    directory_review: int  # the directory's pairs not proven: left for review
    in_directory: int
    todo: list[XSide]
    unknown: int  # X accounts known only by number (no @name to search for)
    left_out: int  # left out by ``limit``


@dataclass
class SearchCounts:
    """What a search found: accepted at once (``auto``) and left for review."""

    auto: int = 0
    review: int = 0
    searched: int = 0
    accounts: list[int] = field(default_factory=list)


def audience_ids(workspace: Workspace, relation: str) -> list[int]:
    """X ids of ``following``, ``followers`` or ``both``."""
    if relation == "both":
        return sorted(
            set(store.sources(workspace, "following")) | set(store.sources(workspace, "followers"))
        )
    return store.sources(workspace, relation)


def ask_directory(workspace: Workspace, directory: str, ids: list[int]) -> tuple[int, int]:
    """Look ``ids`` up in a coalition's directory and store its pairs: the proven ones
    (verified or vouched) accepted, the others for review. (new matches, pairs to review)."""
    from departures.audience import inputs

    entries = inputs.lookup(directory, ids)
    _, new = store.save_directory(workspace, entries, f"server:{directory.rstrip('/')}")
    return new, sum(1 for e in entries if not e.trusted)


def import_directory(
    workspace: Workspace, entries: Sequence[store.DirectoryEntry], source: str
) -> tuple[int, int, int]:
    """Store the pairs of a directory export that are this audience's accounts: accepted when
    their X side is proven (verified or vouched), for review otherwise.

    ``entries`` as :func:`departures.audience.inputs.read_directory_file` reads them;
    ``source`` names where they came from. (entries of this audience stored, new matches,
    proven ones). Errors: no archive imported yet.
    """
    store.require_archive(workspace)
    relevant = set(audience_ids(workspace, "both"))
    mine = [e for e in entries if e.x_id in relevant]
    stored, new = store.save_directory(workspace, mine, source)
    return stored, new, sum(1 for e in mine if e.trusted)


def prepare(
    workspace: Workspace, relation: str, directory: str | None, limit: int | None = None
) -> MatchPlan:
    """The directory's answers (when one is given), then whom to search for."""
    store.require_archive(workspace)
    ids = audience_ids(workspace, relation)
    new, review = ask_directory(workspace, directory, ids) if directory else (None, 0)
    matched = store.directory_ids(workspace)
    in_directory = len(matched & set(ids))
    known = store.x_sides(workspace, [i for i in ids if i not in matched])
    todo = [known[i] for i in sorted(known)][:limit]
    return MatchPlan(
        ids=ids,
        directory_new=new,
        directory_review=review,
        in_directory=in_directory,
        todo=todo,
        unknown=len(ids) - len(known) - in_directory,
        left_out=len(known) - len(todo),
    )


def search(
    workspace: Workspace,
    appview_url: str,
    todo: list[XSide],
    *,
    on_account: Callable[[SearchCounts], None] | None = None,
) -> SearchCounts:
    """Search the AppView for each account of ``todo`` and store the scored candidates.

    ``on_account`` is told the counts after each account (each is stored by then, so a run
    stopped at any point keeps what it found).
    """
    from departures.audience import matcher
    from departures.audience.appview import AppView

    counts = SearchCounts()

    def found(x: XSide, candidates: list[matcher.Found]) -> None:
        for f in candidates:
            store.save_match(workspace, x, f.bsky.did, f.bsky.handle, f.bsky.display_name, f.match)
            if f.match.score >= AUTO_ACCEPT:
                counts.auto += 1
            else:
                counts.review += 1
        counts.searched += 1
        counts.accounts.append(x.x_id)
        if on_account is not None:
            on_account(counts)

    with AppView(appview_url) as view:
        matcher.find(view, todo, on_account=found)
    return counts
