"""A member's reply and quote controls for its welcome post, as writes beside the post.

The departure day (:mod:`.departure`) sends these in the same batch as the welcome post, so
the post is never public without the controls its member chose; the member page and the
triage queue change them later (:mod:`.triage`). The records and the rule for writing only
what differs are :mod:`departures.migrate.gates`'s.
"""

from __future__ import annotations

from sqlalchemy import Engine

from departures.bluesky.writer import Write
from departures.coalition.store import triage as triage_rows
from departures.migrate.gates import GateChoice, GatedPost, gate_writes

__all__ = ["member_choice", "new_post_gate_writes"]


def member_choice(engine: Engine, organisation_id: int) -> GateChoice:
    """The member's stored choice (everybody may reply and quote when it never chose)."""
    return GateChoice.from_json(triage_rows.member(engine, organisation_id).gate_choice)


def new_post_gate_writes(
    engine: Engine, organisation_id: int, post_uri: str, created_at: str
) -> list[Write]:
    """The gate creates for a post about to be published (none for the default choice)."""
    post = GatedPost(post_uri, created_at, is_root=True)
    return gate_writes([post], member_choice(engine, organisation_id), {})
