"""The review page of candidates: one self-contained HTML file, everything escaped.

Handles, names and evidence come from strangers' profiles: every one of them is escaped,
and the only links are built here (``https://bsky.app/profile/<did>``, ``https://x.com/``
with a handle checked against X's alphabet).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import quote

from departures.audience.scoring import AUTO_ACCEPT
from departures.audience.store import Candidate

_e = html.escape
_X_HANDLE = re.compile(r"^[A-Za-z0-9_]{1,15}$")

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.4rem;
vertical-align:top;text-align:left}td.score{font-variant-numeric:tabular-nums}
.accepted{background:#eefbea}.rejected{color:#888}ul{margin:0;padding-left:1rem}
"""


def _x_link(candidate: Candidate) -> str:
    if _X_HANDLE.match(candidate.x_handle):
        return (
            f'<a href="https://x.com/{candidate.x_handle}" rel="noreferrer">'
            f"@{_e(candidate.x_handle)}</a><br><small>{candidate.x_id}</small>"
        )
    return f"<small>X id {candidate.x_id}</small>"


def _bsky_link(candidate: Candidate) -> str:
    target = "https://bsky.app/profile/" + quote(candidate.did, safe=":")
    name = f"<br>{_e(candidate.display_name)}" if candidate.display_name else ""
    shown = _e(candidate.handle or candidate.did)
    return f'<a href="{_e(target)}" rel="noreferrer">@{shown}</a>{name}'


def render(candidates: Sequence[Candidate], threshold: float = AUTO_ACCEPT) -> str:
    """The whole page for ``candidates``."""
    rows = []
    for c in candidates:
        evidence = "".join(f"<li>{_e(line)}</li>" for line in c.evidence)
        decided = f" ({_e(c.decided_by)})" if c.decided_by else ""
        rows.append(
            f'<tr class="{_e(c.status)}"><td>{c.id}</td><td>{_x_link(c)}</td>'
            f"<td>{_bsky_link(c)}</td><td class=score>{c.score:.2f}</td>"
            f"<td><ul>{evidence}</ul></td><td>{_e(c.status)}{decided}</td></tr>"
        )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>departures: audience review</title>"
        f"<style>{_STYLE}</style></head><body><h1>Audience: candidates to review</h1>"
        f"<p>{len(candidates)} candidates. Matches scoring {threshold:.2f} or more, and the "
        "coalition directory's matches, are followed without review; accept others with "
        "<code>departures audience accept ID…</code>, reject with "
        "<code>departures audience reject ID…</code>.</p>"
        "<table><thead><tr><th>id</th><th>X</th><th>Bluesky</th><th>score</th>"
        "<th>evidence</th><th>decision</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></body></html>\n"
    )
