"""``departures login / logout / whoami``: the Bluesky session, kept in the user's config."""

from __future__ import annotations

import click

from departures.bluesky.identity import DEFAULT_SERVICE, SERVICE_ENV
from departures.bluesky.session import PASSWORD_ENV, SessionStore, revoke
from departures.bluesky.session import login as login_account
from departures.commands.options import server_url


@click.command()
@click.option("--handle", required=True, help="Your Bluesky handle, e.g. ngo.bsky.social.")
@click.option(
    "--service",
    envvar=SERVICE_ENV,
    default=DEFAULT_SERVICE,
    show_default=True,
    callback=server_url,
    help="The Bluesky server your account is on (https:// may be left out; the sandbox's "
    f"for a rehearsal) [env {SERVICE_ENV}].",
)
@click.option(
    "--app-password",
    "password",
    envvar=PASSWORD_ENV,
    default=None,
    help=f"An app password (never your main password) [env {PASSWORD_ENV}]; "
    "asked for with a hidden prompt when not given.",
)
def login(handle: str, service: str, password: str | None) -> None:
    """Log in to Bluesky with an app password and keep the session for later commands.

    The app password is not stored: the session's tokens are, in a file only you can read.

    Example: departures login --handle ngo.bsky.social
    """
    from departures.bluesky.identity import resolve
    from departures.commands.options import next_step

    # Before the password is asked for: a typo in --service or the handle is told at once.
    resolve(handle, service)
    if not password:
        password = click.prompt("App password", hide_input=True)
    session = login_account(handle, password, service)
    click.echo(f"Logged in as {session.handle} ({session.did}) on {session.pds}.")
    next_step("departures migrate plan, then departures migrate run")


@click.command()
@click.option("--handle", default=None, help="The account to log out (default: the current one).")
def logout(handle: str | None) -> None:
    """Forget the stored session of an account.

    Example: departures logout
    """
    removed = SessionStore().remove(handle)
    if removed is None:
        click.echo("Nobody was logged in." if handle is None else f"{handle} was not logged in.")
        return
    # A session the desk connected through OAuth is also revoked at its server.
    revoke(removed)
    click.echo(f"Logged out {removed.handle}.")


@click.command()
def whoami() -> None:
    """Show the account later commands act as.

    Example: departures whoami
    """
    session = SessionStore().get()
    if session is None:
        click.echo("Nobody is logged in. Run 'departures login --handle HANDLE'.")
        return
    click.echo(f"{session.handle} ({session.did}) on {session.pds}")
