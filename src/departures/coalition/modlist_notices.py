"""Nobody has to watch the moderation list's pages: who may decide is told.

Every scheduler pass (:meth:`~departures.coalition.notify.Notifier.tick`) calls :func:`queue`
for each open campaign: for each proposal waiting for a decision and each open appeal, the
members who may decide it get an e-mail through the outbox, in their own language, with a
link to their member page; the coordinator is told through the service's webhook (when the
operator configured one) with a link to its page of the list, since the store keeps no
e-mail address for coordinators. The outbox key is derived from the proposal or the appeal
(``modlist-proposal#<id>``, ``modlist-appeal#<id>``): each recipient is told once, however
many passes run and whoever made the proposal (a member page, the CLI, the triage queue).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from departures.coalition.i18n import _, use_language
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor, Proposal

__all__ = ["coordinator_page", "queue"]


def coordinator_page(base_url: str, campaign: Campaign) -> str:
    """The coordinator's page of the campaign's moderation list."""
    return f"{base_url}/coordinator/campaigns/{campaign.slug}/modlist"


def _account(entry: Proposal) -> str:
    return f"@{entry.subject_handle}" if entry.subject_handle else entry.subject_did


def _entries(
    kind: str,
    campaign: Campaign,
    entry: Proposal,
    message: str,
    deciders: Sequence[Organisation],
    base_url: str,
    webhook_url: str | None,
) -> list[tuple[str, str, str, str]]:
    entries: list[tuple[str, str, str, str]] = []
    for org in deciders:
        if not org.email:
            continue
        with use_language(org.language):
            subject, body = _texts(kind, campaign, _account(entry))
        entries.append((org.email, "email", subject, f"{body}\n\n{base_url}/member#modlist\n"))
    if webhook_url:
        # The webhook's subject is for the operator's logs: in English (the source).
        with use_language("en"):
            subject, _body = _texts(kind, campaign, _account(entry))
        payload = {
            "campaign": campaign.slug,
            "event": message,
            "page": coordinator_page(base_url, campaign),
        }
        entries.append((f"webhook:{webhook_url}", "webhook", subject, json.dumps(payload)))
    return entries


def _texts(kind: str, campaign: Campaign, account: str) -> tuple[str, str]:
    facts = {"title": campaign.title, "account": account}
    if kind == "proposal":
        return (
            _("%(title)s: %(account)s is proposed for the moderation list") % facts,
            _(
                "A member proposed %(account)s for the coalition's moderation list. A second "
                "member or the coordinator approves or rejects it: read the reasons and the "
                "linked posts on your member page and decide."
            )
            % facts,
        )
    return (
        _("%(title)s: %(account)s appeals its entry on the moderation list") % facts,
        _(
            "%(account)s appeals its entry on the coalition's moderation list. It is decided "
            "by someone who took no part in the listing: read its statement on your member "
            "page and uphold or dismiss the appeal."
        )
        % facts,
    )


def queue(
    store: CoalitionStore, campaign: Campaign, base_url: str, webhook_url: str | None = None
) -> int:
    """Queue the notices of the campaign's waiting proposals and open appeals; how many are
    new (each (proposal or appeal, recipient) is queued once)."""
    engine = store.engine
    waiting = rows.proposals(engine, campaign.id, "proposed")
    appeals = rows.appeals(engine, campaign.id, "open")
    if not waiting and not appeals:
        return 0
    members = store.organisations(campaign.id)
    queued = 0
    for entry in waiting:
        deciders = [org for org in members if Actor.member(org.id) != entry.proposer]
        message = f"modlist-proposal#{entry.id}"
        queued += store.queue(
            campaign.id,
            message,
            _entries("proposal", campaign, entry, message, deciders, base_url, webhook_url),
        )
    for appeal in appeals:
        entry = rows.proposal(engine, appeal.proposal_id)
        took_part = (entry.proposer, entry.decider)
        deciders = [org for org in members if Actor.member(org.id) not in took_part]
        message = f"modlist-appeal#{appeal.id}"
        queued += store.queue(
            campaign.id,
            message,
            _entries("appeal", campaign, entry, message, deciders, base_url, webhook_url),
        )
    return queued
