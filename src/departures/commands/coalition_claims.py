"""``departures coalition claims ...``: the directory's X claims, for coordinators.

Every claim on an X id has a proof level (verified, vouched, archive, declared; see
:mod:`departures.coalition.claims`). These commands show the claims on an X id, let a
coordinator vouch for one (with a reason, written to the audit with their name and the time),
list the review queue of disputes and decide one. The same as the ``/coordinator/claims`` page.
"""

from __future__ import annotations

import click

from departures.commands.coalition import _coordinator, _store, db_option, token_option

__all__ = ["claims"]


def _reason(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--reason", required=True, help="Why (written to the audit with your name and the time)."
    )(func)


@click.group()
def claims() -> None:
    """The directory's X claims: show, vouch for, and decide disputes.

    Example: departures coalition claims show 783214
    """


@claims.command(name="show")
@db_option
@click.argument("x_id")
def claims_show(db_url: str | None, x_id: str) -> None:
    """Show every claim on one X id, its proof level, and which one stands.

    Example: departures coalition claims show 783214
    """
    from departures.coalition.directory import Directory

    store = _store(db_url)
    directory = Directory(store.engine)
    found = directory.claims_on(x_id)
    if found is None:
        click.echo(f"Nobody claims the X id {x_id}.")
        return
    for claim in found.claims:
        mark = (
            "stands"
            if found.winner == claim
            else ("disputed" if claim in found.contenders else claim.status)
        )
        click.echo(f"{claim.level:9} {mark:9} @{claim.x_username} -> @{claim.handle} {claim.did}")
    for line in directory.audit([x_id]):
        click.echo(
            f"  {line.at:%Y-%m-%d %H:%M} {line.action} {line.did} by {line.actor}: {line.reason}"
        )


@claims.command(name="vouch")
@db_option
@token_option
@click.argument("x_id")
@click.argument("did")
@_reason
def claims_vouch(db_url: str | None, token: str | None, x_id: str, did: str, reason: str) -> None:
    """Vouch, as a coordinator, for one Bluesky account's claim on an X id.

    Example: departures coalition claims vouch 783214 did:plc:abc... --reason "our member"
    """
    from departures.coalition.directory import Directory

    store = _store(db_url)
    who = store.coordinator_name(_coordinator(store, token))
    level = Directory(store.engine, clock=store.clock).vouch(x_id, did, who, reason)
    click.echo(f"The claim of {did} on X id {x_id} is now {level} (vouched by {who}).")


@claims.command(name="disputes")
@db_option
def claims_disputes(db_url: str | None) -> None:
    """List the review queue: X ids claimed at the same proof level by several accounts.

    Example: departures coalition claims disputes
    """
    from departures.coalition.directory import Directory

    queue = Directory(_store(db_url).engine).disputes()
    if not queue:
        click.echo("No disputes: every claimed X id has one claim that stands.")
        return
    for where in queue:
        click.echo(
            f"X id {where.x_id}: {len(where.contenders)} claims at {where.contenders[0].level}"
        )
        for claim in where.contenders:
            click.echo(f"  @{claim.x_username} -> @{claim.handle} {claim.did}")


@claims.command(name="decide")
@db_option
@token_option
@click.argument("x_id")
@click.argument("did")
@_reason
def claims_decide(db_url: str | None, token: str | None, x_id: str, did: str, reason: str) -> None:
    """Decide a dispute for one claim; the other claims at its level are rejected.

    Example: departures coalition claims decide 783214 did:plc:abc... --reason "called them"
    """
    from departures.coalition.directory import Directory

    store = _store(db_url)
    who = store.coordinator_name(_coordinator(store, token))
    Directory(store.engine, clock=store.clock).decide(x_id, did, who, reason)
    click.echo(f"Decided: the claim of {did} on X id {x_id} stands (by {who}).")
