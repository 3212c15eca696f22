"""``departures coalition modlist ...``: the coordinator's side of the moderation list.

The coordinator sees the proposals and appeals, approves or rejects, decides appeals it took
no part in, and writes the list on Bluesky now (the scheduler pass does it too). The rules are
the store's: the coordinator cannot approve its own proposal, nor decide an appeal of a
listing it proposed or approved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from departures.coalition import moderation
from departures.coalition.errors import NotAllowed
from departures.coalition.handles import DEFAULT_SERVICE, XrpcHandleResolver
from departures.coalition.listsync import CoalitionLists
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from departures.coalition.vault import vault
from departures.commands.coalition import (
    BLUESKY_SERVICE_ENV,
    _coordinator,
    _db_dir,
    _store,
    db_option,
    token_option,
)

F = TypeVar("F", bound=Callable[..., Any])


def bluesky_option(func: F) -> F:
    """``--bluesky-service``: write the list on Bluesky now (else the next pass does)."""
    return click.option(
        "--bluesky-service",
        envvar=BLUESKY_SERVICE_ENV,
        default=None,
        help="Write the list on Bluesky at once through this service (else the next "
        f"'coalition tick' does) [env {BLUESKY_SERVICE_ENV}].",
    )(func)


def _campaign(
    db_url: str | None, token: str | None, slug: str
) -> tuple[CoalitionStore, Campaign, Actor]:
    store = _store(db_url)
    found = store.campaign(slug)
    coordinator_id = _coordinator(store, token)
    if found.coordinator_id != coordinator_id:
        raise NotAllowed("this campaign belongs to another coordinator")
    return store, found, Actor.coordinator(coordinator_id)


def _lists(store: CoalitionStore, db_url: str | None, service: str | None) -> CoalitionLists | None:
    if not service:
        return None
    return CoalitionLists(store, vault(_db_dir(db_url)), service)


def _who(store: CoalitionStore, actor: Actor | None) -> str:
    if actor is None:
        return "a former member"
    if actor.kind == "member" and actor.id is not None:
        return store.organisation(actor.id).name
    return actor.kind


def _account(entry: rows.Proposal) -> str:
    return (
        f"@{entry.subject_handle} ({entry.subject_did})"
        if entry.subject_handle
        else entry.subject_did
    )


@click.command(name="list")
@db_option
@token_option
@click.argument("slug")
@click.option("--all", "everything", is_flag=True, help="Also decided and removed entries.")
def modlist_list(db_url: str | None, token: str | None, slug: str, everything: bool) -> None:
    """Show the proposals waiting for a decision, the open appeals and the listed accounts.

    Example: departures coalition modlist list leave-x-together
    """
    store, campaign, _me = _campaign(db_url, token, slug)
    states = () if everything else ("proposed", "listed")
    entries = rows.proposals(store.engine, campaign.id, *states)
    if not entries:
        click.echo("No proposals.")
    for entry in entries:
        written = " (on Bluesky)" if entry.listed_uri and entry.state == "listed" else ""
        click.echo(f"#{entry.id} {entry.state}{written}: {_account(entry)}")
        click.echo(f"    proposed by {_who(store, entry.proposer)}: {entry.reasons}")
        for link in entry.evidence:
            click.echo(f"    evidence: {link}")
        if entry.decider is not None or entry.decided_at is not None:
            click.echo(f"    decided by {_who(store, entry.decider)}: {entry.decision_reason}")
    by_id = {entry.id: entry for entry in rows.proposals(store.engine, campaign.id)}
    for appeal in rows.appeals(store.engine, campaign.id, "open"):
        entry = by_id[appeal.proposal_id]
        click.echo(f"appeal {appeal.id} of #{entry.id} {_account(entry)}: {appeal.statement}")


@click.command(name="propose")
@db_option
@token_option
@click.argument("slug")
@click.argument("account")
@click.option("--reason", required=True, help="Why the account should be listed.")
@click.option("--evidence", multiple=True, required=True, help="A link to a post (repeatable).")
@click.option(
    "--handle-service",
    default=DEFAULT_SERVICE,
    show_default=True,
    help="Where handles are resolved.",
)
def modlist_propose(
    db_url: str | None,
    token: str | None,
    slug: str,
    account: str,
    reason: str,
    evidence: tuple[str, ...],
    handle_service: str,
) -> None:
    """Propose an account (handle or DID) for the list, with a reason and links to posts.

    A member decides on it from its page (the coordinator cannot approve its own proposal).
    Example: departures coalition modlist propose leave-x-together troll.bsky.social
    --reason "Threats" --evidence https://bsky.app/profile/troll.bsky.social/post/3k...
    """
    store, campaign, me = _campaign(db_url, token, slug)
    made = moderation.propose(
        store, XrpcHandleResolver(handle_service), campaign, me, account, reason, evidence
    )
    click.echo(f"Proposed #{made.id}: {_account(made)}; a member decides on it.")


def _decide(
    approve: bool, db_url: str | None, token: str | None, slug: str, proposal: int, reason: str,
    service: str | None,
) -> None:  # fmt: skip
    store, campaign, me = _campaign(db_url, token, slug)
    lists = _lists(store, db_url, service)
    decided = moderation.decide(
        store, lists, campaign, proposal, me, approve=approve, reason=reason
    )
    if not approve:
        click.echo(f"#{decided.id} rejected.")
    elif decided.listed_uri:
        click.echo(f"#{decided.id} approved and on the list: {decided.listed_uri}")
    else:
        click.echo(f"#{decided.id} approved; the next 'coalition tick' writes it to the list.")


@click.command(name="approve")
@db_option
@token_option
@click.argument("slug")
@click.argument("proposal", type=int)
@click.option("--reason", default="", help="Why (shown in the audit log).")
@bluesky_option
def modlist_approve(
    db_url: str | None,
    token: str | None,
    slug: str,
    proposal: int,
    reason: str,
    bluesky_service: str | None,
) -> None:
    """Approve a member's proposal: the account goes on the list.

    Example: departures coalition modlist approve leave-x-together 12 --reason "Seen"
    """
    _decide(True, db_url, token, slug, proposal, reason, bluesky_service)


@click.command(name="reject")
@db_option
@token_option
@click.argument("slug")
@click.argument("proposal", type=int)
@click.option("--reason", required=True, help="Why (shown in the audit log).")
def modlist_reject(
    db_url: str | None, token: str | None, slug: str, proposal: int, reason: str
) -> None:
    """Reject a member's proposal, with the reason.

    Example: departures coalition modlist reject leave-x-together 12 --reason "Not abuse"
    """
    _decide(False, db_url, token, slug, proposal, reason, None)


@click.command(name="decide-appeal")
@db_option
@token_option
@click.argument("slug")
@click.argument("appeal", type=int)
@click.option("--uphold/--dismiss", required=True, help="Remove the entry, or keep it.")
@click.option("--reason", required=True, help="Why (shown in the audit log).")
@bluesky_option
def modlist_decide_appeal(
    db_url: str | None,
    token: str | None,
    slug: str,
    appeal: int,
    uphold: bool,
    reason: str,
    bluesky_service: str | None,
) -> None:
    """Uphold or dismiss a listed account's appeal (of a listing you took no part in).

    Example: departures coalition modlist decide-appeal leave-x-together 3 --uphold
    --reason "Satire"
    """
    store, campaign, me = _campaign(db_url, token, slug)
    lists = _lists(store, db_url, bluesky_service)
    decided = moderation.decide_appeal(
        store, lists, campaign, appeal, me, uphold=uphold, reason=reason
    )
    if not uphold:
        click.echo(f"Appeal {decided.id} dismissed: the entry stays on the list.")
        return
    entry = rows.proposal(store.engine, decided.proposal_id)
    gone = "removed from the list" if entry.unlisted_at else "to be removed by the next tick"
    click.echo(f"Appeal {decided.id} upheld: {_account(entry)} {gone}.")


@click.command(name="sync")
@db_option
@token_option
@click.argument("slug")
@click.option(
    "--bluesky-service",
    envvar=BLUESKY_SERVICE_ENV,
    required=True,
    help=f"The Bluesky service of the coordinator's account [env {BLUESKY_SERVICE_ENV}].",
)
def modlist_sync(db_url: str | None, token: str | None, slug: str, bluesky_service: str) -> None:
    """Write the approved entries to the list on Bluesky and delete the removed ones, now.

    Safe to repeat or to run after a crash: nothing is written twice. Example:
    departures coalition modlist sync leave-x-together --bluesky-service https://bsky.social
    """
    store, campaign, _me = _campaign(db_url, token, slug)
    lists = CoalitionLists(store, vault(_db_dir(db_url)), bluesky_service)
    if not lists.modlist_uri(campaign):
        raise CoalitionError(
            "the campaign's moderation list does not exist yet",
            "Connect the coordinator's account and run 'departures coalition tick' first",
        )
    sent = lists.write_entries(campaign)
    listed = len([e for e in rows.to_list(store.engine, campaign.id) if e.listed_uri])
    click.echo(f"{sent} writes sent; {listed} accounts on the list.")
