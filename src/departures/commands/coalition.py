"""``departures coalition ...``: the coalition's web service and its administration.

Thin commands over :mod:`departures.coalition`: they parse options, call the store, the
notifier or the web app, and print. Configuration comes from options, then environment
variables (``envvar=``); secrets (the SMTP password, coordinator tokens) are read from the
environment or prompts and never printed except the one token a command creates.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from departures.coalition.db import connect, default_url, migrate
from departures.coalition.departure import DepartureDay
from departures.coalition.errors import NotAllowed
from departures.coalition.handles import DEFAULT_SERVICE, XrpcHandleResolver
from departures.coalition.listsync import CoalitionLists
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.reconnect import DEFAULT_DAILY_CAP, Reconnect
from departures.coalition.rules import CoalitionError
from departures.coalition.security import load_secret_key
from departures.coalition.store import CoalitionStore, check_timezone
from departures.coalition.vault import vault
from departures.commands.lazy import LazyCommand, LazyGroup

F = TypeVar("F", bound=Callable[..., Any])

TOKEN_ENV = "DEPARTURES_COALITION_TOKEN"
BLUESKY_SERVICE_ENV = "DEPARTURES_COALITION_BLUESKY_SERVICE"
X_SECRET_ENV = "DEPARTURES_X_CLIENT_SECRET"


def db_option(func: F) -> F:
    """``--db URL``: the coalition store (SQLite file by default, or PostgreSQL)."""
    return click.option(
        "--db",
        "db_url",
        envvar="DEPARTURES_COALITION_DB",
        default=None,
        help="Store URL: sqlite:///coalition.db (default, in the working directory) or "
        "postgresql+psycopg://user@host/db [env DEPARTURES_COALITION_DB].",
    )(func)


def base_url_option(func: F) -> F:
    """``--base-url``: the public address of the service (for links in e-mails)."""
    return click.option(
        "--base-url",
        envvar="DEPARTURES_COALITION_URL",
        default=None,
        help="Public URL of the service, used in links [env DEPARTURES_COALITION_URL; "
        "default http://HOST:PORT].",
    )(func)


def token_option(func: F) -> F:
    """``--token``: a coordinator's token."""
    return click.option(
        "--token",
        envvar=TOKEN_ENV,
        default=None,
        help=f"Coordinator token (prompted when missing) [env {TOKEN_ENV}].",
    )(func)


def notify_options(func: F) -> F:
    """SMTP, webhook and handle-service options shared by ``serve`` and ``tick``."""
    options = [
        click.option(
            "--smtp-host",
            envvar="DEPARTURES_SMTP_HOST",
            default=None,
            help="SMTP server for notifications; none = e-mails wait in the outbox "
            "[env DEPARTURES_SMTP_HOST].",
        ),
        click.option(
            "--smtp-port",
            envvar="DEPARTURES_SMTP_PORT",
            type=int,
            default=25,
            show_default=True,
            help="[env DEPARTURES_SMTP_PORT]",
        ),
        click.option(
            "--smtp-from",
            envvar="DEPARTURES_SMTP_FROM",
            default="departures@localhost",
            show_default=True,
            help="Sender address [env DEPARTURES_SMTP_FROM].",
        ),
        click.option(
            "--smtp-starttls/--no-smtp-starttls",
            envvar="DEPARTURES_SMTP_STARTTLS",
            default=False,
            help="Use STARTTLS [env DEPARTURES_SMTP_STARTTLS].",
        ),
        click.option(
            "--smtp-user",
            envvar="DEPARTURES_SMTP_USER",
            default=None,
            help="SMTP login; the password comes from env DEPARTURES_SMTP_PASSWORD.",
        ),
        click.option(
            "--smtp-bounce-address",
            envvar="DEPARTURES_SMTP_BOUNCE_ADDRESS",
            default=None,
            help="Send each e-mail from BOUNCE+ID@DOMAIN for this address, so that the "
            "reports of later bounces, piped into `departures coalition bounce`, name it "
            "[env DEPARTURES_SMTP_BOUNCE_ADDRESS].",
        ),
        click.option(
            "--webhook",
            "webhook_url",
            envvar="DEPARTURES_COALITION_WEBHOOK",
            default=None,
            help="Also POST each announcement as JSON to this URL "
            "[env DEPARTURES_COALITION_WEBHOOK].",
        ),
        click.option(
            "--handle-service",
            envvar="DEPARTURES_HANDLE_SERVICE",
            default=DEFAULT_SERVICE,
            show_default=True,
            help="The Bluesky server that looks up handles and checks who landed "
            "[env DEPARTURES_HANDLE_SERVICE].",
        ),
        click.option(
            "--bluesky-service",
            envvar=BLUESKY_SERVICE_ENV,
            default=None,
            help="Enable the coalition's Bluesky writes (members' welcome posts, the "
            "coordinator's list and starter pack) through this service; none = no writes "
            f"[env {BLUESKY_SERVICE_ENV}].",
        ),
        click.option(
            "--reconnect-daily-cap",
            envvar="DEPARTURES_RECONNECT_DAILY_CAP",
            type=click.IntRange(0, 1000),
            default=DEFAULT_DAILY_CAP,
            show_default=True,
            help="At most this many follows a day for each member that asked the coalition "
            "to follow the people it followed on X (needs --bluesky-service) "
            "[env DEPARTURES_RECONNECT_DAILY_CAP].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _store(db_url: str | None) -> CoalitionStore:
    engine = connect(db_url or default_url())
    # The command's connections are closed when it ends (a PostgreSQL server otherwise keeps
    # them until the process exits, and in-process callers such as tests leak them).
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(engine.dispose)
    migrate(engine)
    return CoalitionStore(engine)


def _smtp(options: dict[str, Any]) -> SMTPSettings | None:
    import os

    if not options["smtp_host"]:
        return None
    return SMTPSettings(
        host=options["smtp_host"],
        port=options["smtp_port"],
        sender=options["smtp_from"],
        starttls=options["smtp_starttls"],
        username=options["smtp_user"],
        password=os.environ.get("DEPARTURES_SMTP_PASSWORD"),
        bounce_address=options.get("smtp_bounce_address"),
    )


def _bluesky_hooks(
    store: CoalitionStore, db_url: str | None, options: dict[str, Any]
) -> tuple[DepartureDay | None, CoalitionLists | None]:
    """The departure-day and list hooks when ``--bluesky-service`` is given, else none."""
    service = options.get("bluesky_service")
    if not service:
        return None, None
    secrets = vault(_db_dir(db_url))
    return DepartureDay(store, secrets, service), CoalitionLists(store, secrets, service)


def _notifier(
    store: CoalitionStore, base_url: str, options: dict[str, Any], db_url: str | None = None
) -> Notifier:
    departure, lists = _bluesky_hooks(store, db_url, options)
    reconnect = Reconnect(
        store,
        # Following for members needs their sessions, hence the Bluesky writes enabled.
        secrets=departure.secrets if departure is not None else None,
        daily_cap=options["reconnect_daily_cap"],
        guard=departure.guard if departure is not None else None,
    )
    from departures.coalition.triage import Triage

    return Notifier(
        store,
        base_url=base_url,
        smtp=_smtp(options),
        webhook_url=options["webhook_url"],
        landing=XrpcHandleResolver(options["handle_service"]),
        departure_hook=departure,
        list_sync=lists,
        reconnect=reconnect,
        secret_key=load_secret_key(_db_dir(db_url)),
        # The triage pass reads with members' sessions: only with Bluesky configured.
        triage=Triage.from_departure(departure) if departure is not None else None,
    )


def _coordinator(store: CoalitionStore, token: str | None) -> int:
    token = token or click.prompt("Coordinator token", hide_input=True)
    coordinator_id = store.coordinator_by_token(token)
    if coordinator_id is None:
        raise NotAllowed(
            "this coordinator token is not valid",
            f"Use the token printed by `departures coalition campaign create`, or set {TOKEN_ENV}",
        )
    return coordinator_id


def _moment(value: str, zone: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date and time (e.g. 2025-01-20T12:00)", param_hint=what
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone))


@click.group()
def coalition() -> None:
    """Run a coalition campaign: pledges, notifications and the public departures board.

    Example: departures coalition campaign create --title "Leave X" --threshold 10 ...
    """


@coalition.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@base_url_option
@notify_options
@click.option(
    "--tick-seconds",
    default=60.0,
    show_default=True,
    type=float,
    help="How often the scheduler announces, reminds and sends (0 = never).",
)
@click.option(
    "--language",
    envvar="DEPARTURES_COALITION_LANGUAGE",
    default="en",
    show_default=True,
    type=click.Choice(["en", "nl", "fr"]),
    help="Language of the pages for browsers that ask for none of en, nl, fr (each reader "
    "can switch) [env DEPARTURES_COALITION_LANGUAGE].",
)
@click.option(
    "--directory-lookups-per-minute",
    envvar="DEPARTURES_DIRECTORY_LOOKUPS_PER_MINUTE",
    default=60,
    show_default=True,
    type=click.IntRange(1),
    help="GET /directory/lookup calls one client address may make a minute (a burst of as "
    "many, then evenly) [env DEPARTURES_DIRECTORY_LOOKUPS_PER_MINUTE].",
)
@click.option(
    "--directory-exports-per-hour",
    envvar="DEPARTURES_DIRECTORY_EXPORTS_PER_HOUR",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="GET /directory/export.json calls one client address may make an hour "
    "[env DEPARTURES_DIRECTORY_EXPORTS_PER_HOUR].",
)
@click.option(
    "--forwarded-allow-ips",
    envvar="DEPARTURES_FORWARDED_ALLOW_IPS",
    default="",
    help="Comma-separated addresses or networks of your reverse proxy, whose "
    "X-Forwarded-For/-Proto are believed; none by default, so a forged header changes "
    "nothing [env DEPARTURES_FORWARDED_ALLOW_IPS].",
)
@click.option(
    "--allowed-hosts",
    envvar="DEPARTURES_ALLOWED_HOSTS",
    default="",
    help="Comma-separated host names answered besides the base URL's own "
    "[env DEPARTURES_ALLOWED_HOSTS].",
)
@click.option(
    "--max-unverified-claims",
    envvar="DEPARTURES_DIRECTORY_MAX_UNVERIFIED_CLAIMS",
    default=3,
    show_default=True,
    type=click.IntRange(0),
    help="X accounts one Bluesky account may claim in the directory without proof "
    "[env DEPARTURES_DIRECTORY_MAX_UNVERIFIED_CLAIMS].",
)
@click.option(
    "--x-client-id",
    envvar="DEPARTURES_X_CLIENT_ID",
    default="",
    help="Client id of the coalition's X API app: turns Sign in with X on (with the secret "
    "in DEPARTURES_X_CLIENT_SECRET) [env DEPARTURES_X_CLIENT_ID].",
)
def serve(
    db_url: str | None,
    host: str,
    port: int,
    base_url: str | None,
    tick_seconds: float,
    language: str,
    **options: Any,
) -> None:
    """Serve the coalition's web pages (migrating the store first).

    Behind a reverse proxy, give its public address and the proxy's own address:

    Example: departures coalition serve --port 8000 --smtp-host localhost

    Example: departures coalition serve --base-url https://leave.example.org
    --forwarded-allow-ips 127.0.0.1
    """
    import uvicorn

    from departures.coalition.directory import ApiLimits
    from departures.coalition.web import CoalitionApp, PdsSignIn
    from departures.coalition.web.settings import Deployment

    deployment = Deployment(
        forwarded_allow_ips=options["forwarded_allow_ips"],
        allowed_hosts=tuple(h.strip() for h in options["allowed_hosts"].split(",") if h.strip()),
    )
    store = _store(db_url)
    url = base_url or f"http://{host}:{port}"
    secret_key = load_secret_key(_db_dir(db_url))
    oauth = None
    if url.startswith("https://"):
        # Sign in with Bluesky through OAuth needs the public https address (the client_id
        # servers fetch); over plain http only the app-password sign-in is offered.
        from departures.coalition.oauth import OAuthService
        from departures.coalition.vault import Vault

        oauth = OAuthService(
            store.engine, Vault(secret_key), url, service=options["handle_service"]
        )
    app = CoalitionApp(
        store,
        secret_key=secret_key,
        resolver=XrpcHandleResolver(options["handle_service"]),
        base_url=url,
        notifier=_notifier(store, url, options, db_url),
        departure=_bluesky_hooks(store, db_url, options)[0],
        tick_seconds=tick_seconds or None,
        language=language,
        bluesky_sign_in=PdsSignIn(options["handle_service"]),
        directory_limits=ApiLimits(
            options["directory_lookups_per_minute"], options["directory_exports_per_hour"]
        ),
        deployment=deployment,
        max_unverified_claims=options["max_unverified_claims"],
        x_client_id=options["x_client_id"],
        # The secret only from the environment: a command line shows in the process list.
        x_client_secret=os.environ.get(X_SECRET_ENV, "") if options["x_client_id"] else "",
        oauth=oauth,
    )
    if options["x_client_id"] and not os.environ.get(X_SECRET_ENV):
        click.echo(f"Sign in with X is off: set {X_SECRET_ENV} beside --x-client-id", err=True)
    click.echo(f"Serving the coalition at {url}/ (Ctrl-C to stop)")
    if oauth is not None:
        click.echo(f"Sign in with Bluesky (OAuth): client {oauth.config().client_id}")
    else:
        click.echo("Sign in with Bluesky: app passwords (OAuth needs an https:// --base-url)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # No access log: invitation links carry their token in the path. Proxy headers are the
    # app's business (its perimeter believes them only from --forwarded-allow-ips): uvicorn's
    # own default would believe any X-Forwarded-For sent from 127.0.0.1.
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
    )


def _db_dir(db_url: str | None) -> Path:
    if db_url and db_url.startswith("sqlite:///"):
        path = Path(db_url.removeprefix("sqlite:///"))
        if str(path) not in ("", ":memory:"):
            return path.resolve().parent
    return Path.cwd()


@coalition.command(name="migrate")
@db_option
def migrate_command(db_url: str | None) -> None:
    """Create or upgrade the coalition store's schema.

    Example: departures coalition migrate --db postgresql+psycopg://coalition@db/coalition
    """
    engine = connect(db_url or default_url())
    click.echo(f"The coalition store is at revision {migrate(engine)}.")


@coalition.command()
@db_option
@base_url_option
@notify_options
def tick(db_url: str | None, base_url: str | None, **options: Any) -> None:
    """Run one scheduler pass: announce state changes, remind, follow up, send.

    Safe to run any time and from cron: nobody is notified twice.
    Example: departures coalition tick --smtp-host localhost
    """
    store = _store(db_url)
    report = _notifier(store, base_url or "http://127.0.0.1:8000", options, db_url).tick()
    if report.skipped:
        # Not an error: cron and a running server may overlap; the other pass does the work.
        click.echo("Another process is running the scheduler pass right now; nothing done.")
        return
    click.echo(
        f"{report.campaigns} campaigns checked: {report.queued} messages queued, "
        f"{report.sent} sent, {report.failed} failed, {report.landed} newly landed; "
        f"reconnect: {report.proposed} accounts proposed, {report.followed} followed; "
        f"triage: {report.triaged} replies scored."
    )
    for error in report.errors:
        click.echo(f"Warning: {error}", err=True)


@coalition.group()
def coordinator() -> None:
    """Coordinator accounts."""


@coordinator.command(name="create")
@db_option
@click.argument("name")
def coordinator_create(db_url: str | None, name: str) -> None:
    """Create a coordinator account and print its sign-in token (shown once).

    Example: departures coalition coordinator create "Coalition office"
    """
    _, token = _store(db_url).create_coordinator(name)
    click.echo(f"Coordinator {name!r} created. Sign-in token (shown once, keep it safe):")
    click.echo(token)


@coordinator.command(name="list")
@db_option
def coordinator_list(db_url: str | None) -> None:
    """List the coordinator accounts: id and name (never their tokens).

    Example: departures coalition coordinator list
    """
    from departures.coalition.store import access

    for coordinator_id, name in access.coordinators_list(_store(db_url).engine):
        click.echo(f"{coordinator_id}\t{name}")


@coordinator.command(name="revoke")
@db_option
@click.argument("coordinator_id", type=int)
@click.option(
    "--new-token",
    is_flag=True,
    help="Print a new sign-in token (shown once) instead of leaving the account locked.",
)
def coordinator_revoke(db_url: str | None, coordinator_id: int, new_token: bool) -> None:
    """Revoke a coordinator's token: it and every session it opened stop working at once.

    The id is the one `departures coalition coordinator list` shows.
    Example: departures coalition coordinator revoke 3 --new-token
    """
    from departures.coalition.store import access

    token = access.replace_coordinator_token(_store(db_url).engine, coordinator_id)
    if token is None:
        raise click.ClickException(
            f"there is no coordinator {coordinator_id}; see: departures coalition coordinator list"
        )
    click.echo(f"The token of coordinator {coordinator_id} is revoked; its sessions are ended.")
    if new_token:
        click.echo("New sign-in token (shown once, keep it safe):")
        click.echo(token)


@coalition.command(name="triage")
@db_option
@token_option
@click.option(
    "--bluesky-service",
    envvar="DEPARTURES_BLUESKY_SERVICE",
    required=True,
    help="The Bluesky service members' accounts were connected through "
    "[env DEPARTURES_BLUESKY_SERVICE].",
)
@click.argument("slug")
@click.argument("organisation_id", type=int)
def triage_command(
    db_url: str | None, token: str | None, bluesky_service: str, slug: str, organisation_id: int
) -> None:
    """Read, score and queue the replies to one member organisation's recent posts.

    The same pass the scheduler runs for every member who turned triage on; scores are
    computed here, offline. Safe to run again (and after a kill): a reply is scored once.
    Example: departures coalition triage leave-x-together 12 --bluesky-service https://bsky.social
    """
    from departures.coalition.departure import DepartureDay
    from departures.coalition.triage import Triage, TriageReport

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    organisation = store.organisation(organisation_id)
    if organisation.campaign_id != found.id:
        raise NotAllowed(f"organisation {organisation_id} is not a member of {slug}")
    triage = Triage.from_departure(DepartureDay(store, vault(_db_dir(db_url)), bluesky_service))
    report = triage.run_member(organisation)
    pending = TriageReport()
    triage.write_pending_hides(pending, organisation.id)
    click.echo(
        f"{organisation.name}: {report.read} replies, quotes and mentions read, "
        f"{report.scored} newly scored, {report.queued} queued for a person, "
        f"{report.skipped} posts skipped (see the notes on the member's triage page); "
        f"{pending.written} gate records written."
    )
    for error in [*report.errors, *pending.errors]:
        click.echo(f"Warning: {error}", err=True)


@coalition.group()
def member() -> None:
    """Member organisations of a campaign."""


@member.command(name="reset-key")
@db_option
@token_option
@click.argument("slug")
@click.argument("organisation_id", type=int)
def member_reset_key(
    db_url: str | None, token: str | None, slug: str, organisation_id: int
) -> None:
    """Give a member organisation a new key (shown once); the old key and its sessions end.

    The organisation's number is in its row on the campaign's coordinator page.
    Example: departures coalition member reset-key leave-x-together 12
    """
    from departures.coalition.store import access

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    organisation = store.organisation(organisation_id)
    if organisation.campaign_id != found.id:
        raise NotAllowed(f"organisation {organisation_id} is not a member of {slug}")
    key = access.reset_member_key(store.engine, organisation_id)
    click.echo(f"New member key of {organisation.name!r} (shown once; the old one is revoked):")
    click.echo(key)


@coalition.group()
def campaign() -> None:
    """Campaigns: create, open."""


@campaign.command(name="create")
@db_option
@click.option("--title", required=True)
@click.option("--description", default="")
@click.option(
    "--threshold",
    required=True,
    type=click.IntRange(1, 100_000),
    help="Minimum number of organisations.",
)
@click.option("--deadline", required=True, help="Pledge deadline, e.g. 2025-01-13T12:00.")
@click.option("--departure", required=True, help="Departure time, e.g. 2025-01-20T12:00.")
@click.option("--timezone", "zone", default="Europe/Brussels", show_default=True)
@click.option("--coordinator-handle", default="", help="The coordinator's Bluesky handle.")
@click.option(
    "--coordinator-name",
    default="coordinator",
    show_default=True,
    help="Name of the coordinator account created when no --token is given.",
)
@click.option(
    "--token",
    envvar=TOKEN_ENV,
    default=None,
    help=f"An existing coordinator's token [env {TOKEN_ENV}]; without it a new "
    "coordinator account is created and its token printed.",
)
def campaign_create(
    db_url: str | None,
    title: str,
    description: str,
    threshold: int,
    deadline: str,
    departure: str,
    zone: str,
    coordinator_handle: str,
    coordinator_name: str,
    token: str | None,
) -> None:
    """Create a draft campaign (and a coordinator account, unless --token is given).

    Example: departures coalition campaign create --title "Leave X together" --threshold 10
    --deadline 2025-01-13T12:00 --departure 2025-01-20T12:00
    """
    store = _store(db_url)
    check_timezone(zone)
    new_token = None
    if token:
        coordinator_id = _coordinator(store, token)
    else:
        coordinator_id, new_token = store.create_coordinator(coordinator_name)
    created = store.create_campaign(
        coordinator_id,
        title=title,
        description=description,
        threshold=threshold,
        deadline=_moment(deadline, zone, "--deadline"),
        departure_at=_moment(departure, zone, "--departure"),
        timezone=zone,
        coordinator_handle=coordinator_handle,
    )
    click.echo(f"Campaign {created.slug!r} created as a draft.")
    if new_token:
        click.echo("Coordinator sign-in token (shown once, keep it safe):")
        click.echo(new_token)


@campaign.command(name="open")
@db_option
@token_option
@click.argument("slug")
def campaign_open(db_url: str | None, token: str | None, slug: str) -> None:
    """Open a draft campaign for pledges; its terms lock.

    Example: departures coalition campaign open leave-x-together
    """
    store = _store(db_url)
    opened = store.open_campaign(slug, _coordinator(store, token))
    click.echo(f"Campaign {opened.slug!r} is open for pledges.")


@campaign.command(name="connect-bluesky")
@db_option
@token_option
@click.argument("slug")
@click.option("--handle", required=True, help="The coordinator's Bluesky handle.")
@click.option(
    "--bluesky-service",
    envvar=BLUESKY_SERVICE_ENV,
    default="https://bsky.social",
    show_default=True,
    help=f"Where the handle is resolved [env {BLUESKY_SERVICE_ENV}].",
)
def campaign_connect_bluesky(
    db_url: str | None, token: str | None, slug: str, handle: str, bluesky_service: str
) -> None:
    """Connect the coordinator's Bluesky account that keeps the campaign's list and pack.

    The app password (env DEPARTURES_APP_PASSWORD, else prompted) logs in once and is not
    stored; the session is, encrypted. Example:
    departures coalition campaign connect-bluesky leave-x-together --handle office.bsky.social
    """
    import os

    from departures.bluesky.session import PASSWORD_ENV

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    password = os.environ.get(PASSWORD_ENV) or click.prompt("App password", hide_input=True)
    lists = CoalitionLists(store, vault(_db_dir(db_url)), bluesky_service)
    connected = lists.connect(found, handle, password)
    click.echo(
        f"Connected {connected}: 'coalition tick' or 'serve' with --bluesky-service keeps the "
        "campaign's list and starter pack in sync."
    )


@campaign.command(name="moderate")
@db_option
@token_option
@click.argument("slug")
@click.option(
    "--block",
    "to_block",
    multiple=True,
    help="Refused: accounts go on the list through 'departures coalition modlist propose'.",
)
@click.option(
    "--unblock",
    "to_unblock",
    multiple=True,
    help="Take off an account that an earlier version of --block put on the list directly.",
)
@click.option(
    "--bluesky-service",
    envvar=BLUESKY_SERVICE_ENV,
    default="https://bsky.social",
    show_default=True,
    help=f"Where handles are resolved [env {BLUESKY_SERVICE_ENV}].",
)
def campaign_moderate(
    db_url: str | None,
    token: str | None,
    slug: str,
    to_block: tuple[str, ...],
    to_unblock: tuple[str, ...],
    bluesky_service: str,
) -> None:
    """Take accounts off the campaign's moderation list that were put there directly.

    Accounts go on the list only through due process: 'departures coalition modlist
    propose' (with reasons and evidence), then a member's approval; --block is refused.
    --unblock removes an item an earlier --block wrote; an entry decided through due
    process leaves the list only when its appeal is upheld. Example:
    departures coalition campaign moderate leave-x-together --unblock troll.bsky.social
    """
    from departures.bluesky.identity import resolve
    from departures.coalition.store import moderation as moderation_rows

    if to_block:
        # A proposal needs reasons and evidence that --block never asked for; turning it
        # into one silently would put an account "in review" without them.
        raise CoalitionError(
            "--block writes no list entries any more: propose the account with "
            f"'departures coalition modlist propose {slug} {to_block[0]} --reason … "
            "--evidence <link>'; a member then approves it"
        )
    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    lists = CoalitionLists(store, vault(_db_dir(db_url)), bluesky_service)
    for handle in to_unblock:
        identity = resolve(handle, bluesky_service)
        if moderation_rows.listed_for(store.engine, found.id, identity.did) is not None:
            raise CoalitionError(
                f"{identity.handle} is on the list by a decision; it leaves only when its "
                "appeal is upheld ('departures coalition modlist decide-appeal')"
            )
        changed = lists.moderate(found, identity.did, block=False)
        click.echo(f"{identity.handle}: unblocked" + ("" if changed else " already"))


@coalition.command()
@db_option
@token_option
@base_url_option
@click.argument("slug")
@click.option("--note", default="", help="Who the link is for (only the coordinator sees it).")
@click.option(
    "--days",
    default=14,
    show_default=True,
    type=click.IntRange(1, 90),
    help="How long the link stays valid.",
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="E-mail an invitation to every organisation of this CSV file (name, e-mail, "
    "website; UTF-8, commas or semicolons): all rows or none.",
)
@click.option("--email", default=None, help="E-mail the invitation to this address.")
@click.option("--name", default=None, help="The organisation's name (with --email).")
@click.option("--website", default="", help="The organisation's website (with --email).")
@click.option(
    "--language",
    type=click.Choice(["en", "nl", "fr"]),
    default="en",
    show_default=True,
    help="The e-mail's language (with --email), or that of the CSV's rows without a "
    "language column.",
)
def invite(
    db_url: str | None,
    token: str | None,
    base_url: str | None,
    slug: str,
    note: str,
    days: int,
    csv_file: Path | None,
    email: str | None,
    name: str | None,
    website: str,
    language: str,
) -> None:
    """Print a single-use invitation link for one organisation, or e-mail invitations.

    The e-mails wait in the outbox until the next scheduler pass (`coalition tick` or a
    running `coalition serve`) sends them.

    Example: departures coalition invite leave-x-together --note "Oxfam Belgium"

    Example: departures coalition invite leave-x-together --csv members.csv

    Example: departures coalition invite leave-x-together --email info@oxfam.be --name Oxfam
    """
    from departures.coalition.invitations import Invitations, check_invitee

    store = _store(db_url)
    coordinator_id = _coordinator(store, token)
    url = (base_url or "http://127.0.0.1:8000").rstrip("/")
    if csv_file is None and email is None:
        secret = store.create_invite(slug, coordinator_id, note, timedelta(days=days))
        click.echo(f"{url}/invite/{secret}")
        return
    if csv_file is not None and email is not None:
        raise click.UsageError("give either --csv or --email, not both")
    invitations = Invitations(store, load_secret_key(_db_dir(db_url)), url)
    if csv_file is not None:
        ids = invitations.invite_csv(
            slug, coordinator_id, csv_file.read_bytes(), timedelta(days=days), language
        )
    else:
        invitee = check_invitee(name or "", email or "", website)
        ids = invitations.invite(slug, coordinator_id, [invitee], timedelta(days=days), language)
    click.echo(
        f"{len(ids)} invitation(s) queued (ids {', '.join(map(str, ids))}); the next "
        "scheduler pass sends them. See them with `departures coalition invitations "
        f"{slug}`."
    )


@coalition.command(name="invitations")
@db_option
@token_option
@click.argument("slug")
def invitations_command(db_url: str | None, token: str | None, slug: str) -> None:
    """List the campaign's e-mailed invitations and what became of each (tab-separated:
    id, state, e-mail, name, last delivery error).

    Example: departures coalition invitations leave-x-together
    """
    from departures.coalition.invitations import Invitations

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    now = store.clock()
    for item in Invitations(store, b"", "").of_campaign(found):
        click.echo(f"{item.id}\t{item.state(now)}\t{item.email}\t{item.name}\t{item.last_error}")


@coalition.command(name="pledges")
@db_option
@token_option
@click.argument("slug")
def pledges_command(db_url: str | None, token: str | None, slug: str) -> None:
    """Who goes and why, as the resolver decides now (tab-separated, one organisation a line):
    unconditional NAME; conditional NAME NEEDS OTHERS [held-up]; waiting NAME NEEDS SHORT_BY;
    no-pledge NAME.

    Example: departures coalition pledges leave-x-together
    """
    from departures.coalition import rules

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    status = store.status(found)
    names = {org.key: org.name for org in store.organisations(found.id)}
    explanation = rules.explain(status.resolution)
    for key in explanation.unconditional:
        click.echo(f"unconditional\t{names[key]}")
    for reason in explanation.conditional:
        held = "\theld-up" if reason.needs_conditional else ""
        click.echo(
            f"conditional\t{names[reason.organisation]}\t{reason.needs}\t{reason.others}{held}"
        )
    for waiting in explanation.excluded:
        click.echo(f"waiting\t{names[waiting.organisation]}\t{waiting.needs}\t{waiting.short_by}")
    pledged = {pledge.organisation for pledge in status.resolution.pledges}
    for key, name in names.items():
        if key not in pledged:
            click.echo(f"no-pledge\t{name}")
    click.echo(
        f"{explanation.going} go ({status.state}); the campaign needs {found.threshold}.", err=True
    )


@coalition.command(name="bounce")
@db_option
@click.option(
    "--recipient",
    envvar="ORIGINAL_RECIPIENT",
    default="",
    help="The address the report was sent to (BOUNCE+ID@DOMAIN); read from the report "
    "otherwise [env ORIGINAL_RECIPIENT, as Postfix sets it for a pipe].",
)
def bounce_command(db_url: str | None, recipient: str) -> None:
    """Record a delivery report (a bounce) read from standard input.

    For the mail server's alias of --smtp-bounce-address, e.g. in Postfix's aliases:
    bounces: "|departures coalition bounce --db postgresql+psycopg://…"
    A report that is not a failure of one of the coalition's messages is ignored (exit 0, so
    the mail server does not bounce the bounce).
    """
    import sys

    from departures.coalition.bounces import read_bounce
    from departures.coalition.store import invitations as invitation_rows

    found = read_bounce(sys.stdin.buffer.read(1024 * 1024), recipient)
    if found is None:
        click.echo("Not a failure report of a coalition message; nothing recorded.")
        return
    store = _store(db_url)
    if invitation_rows.mark_bounced(store.engine, found.message_id, found.reason, store.clock()):
        click.echo(f"Message {found.message_id} bounced: {found.reason}")
    else:
        click.echo(f"No message {found.message_id} in this store; nothing recorded.")


@coalition.command(name="resend-invite")
@db_option
@token_option
@click.argument("slug")
@click.argument("invitation_id", type=int)
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 90))
def resend_invite(
    db_url: str | None, token: str | None, slug: str, invitation_id: int, days: int
) -> None:
    """E-mail an invitation again (same link, valid DAYS from now).

    Example: departures coalition resend-invite leave-x-together 12
    """
    from departures.coalition.invitations import Invitations

    store = _store(db_url)
    Invitations(store, load_secret_key(_db_dir(db_url)), "").resend(
        slug, _coordinator(store, token), invitation_id, timedelta(days=days)
    )
    click.echo("The invitation is queued again; the next scheduler pass sends it.")


@coalition.command(name="revoke-invite")
@db_option
@token_option
@click.argument("slug")
@click.argument("invitation")
def revoke_invite(db_url: str | None, token: str | None, slug: str, invitation: str) -> None:
    """Revoke an unused invitation: its link stops working.

    INVITATION is the link (or its last part) that `departures coalition invite` printed, or
    the id of an e-mailed invitation (`departures coalition invitations`).
    Example: departures coalition revoke-invite leave-x-together https://…/invite/Xq3…
    """
    from departures.coalition.store import access

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    if invitation.isdigit():
        # The id of an e-mailed invitation (`departures coalition invitations` lists them).
        from departures.coalition.invitations import Invitations

        Invitations(store, b"", "").revoke(slug, found.coordinator_id, int(invitation))
        click.echo("The invitation is revoked: its link no longer works.")
        return
    invite_id = access.invite_of_token(store.engine, invitation.rstrip("/").rsplit("/", 1)[-1])
    if invite_id is None or not access.revoke_invite(store.engine, found.id, invite_id):
        raise click.ClickException(
            f"no unused invitation of {slug} has this link (a used one cannot be revoked)"
        )
    click.echo("The invitation is revoked: its link no longer works.")


@coalition.group()
def directory() -> None:
    """The directory of X account → Bluesky account pairs (people register at /directory)."""


@directory.command(name="bulk-add")
@db_option
@token_option
@click.argument("slug")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--handle-service",
    envvar="DEPARTURES_HANDLE_SERVICE",
    default=DEFAULT_SERVICE,
    show_default=True,
    help="Where the Bluesky handles are resolved to DIDs [env DEPARTURES_HANDLE_SERVICE].",
)
def directory_bulk_add(
    db_url: str | None, token: str | None, slug: str, csv_file: Path, handle_service: str
) -> None:
    """Add the campaign's member organisations to the directory from a CSV file.

    Columns: x_id,x_handle,bluesky_handle (one organisation a line). Every handle is
    resolved before anything is written, so a bad line adds nothing. Example:
    departures coalition directory bulk-add leave-x-together members.csv
    """
    from departures.coalition.directory import Directory, read_bulk_csv

    store = _store(db_url)
    found = store.campaign(slug)
    if found.coordinator_id != _coordinator(store, token):
        raise NotAllowed("this campaign belongs to another coordinator")
    rows = read_bulk_csv(csv_file.read_bytes())
    resolver = XrpcHandleResolver(handle_service)
    resolved = []
    for number, (x_id, x_handle, handle) in enumerate(rows, start=1):
        resolved.append((x_id, x_handle, resolver.resolve(handle), handle))
        click.echo(f"[{number}/{len(rows)}] @{x_handle} -> {handle}", err=True)
    # The coordinator vouches for their members: the audit names them.
    added = Directory(store.engine).bulk_add(
        resolved, actor=store.coordinator_name(found.coordinator_id)
    )
    click.echo(f"Added {added} organisations to the directory (by the coordinator of {slug}).")


# X claims: vouching, the review queue of disputes, the audit (its own module).
from departures.commands.coalition_claims import claims  # noqa: E402

coalition.add_command(claims)

__all__ = ["coalition"]


#: ``coalition modlist``: the moderation list's commands, imported only when used.
MODLIST_COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand(
        "list",
        "departures.commands.modlist:modlist_list",
        "Show the proposals waiting for a decision, the open appeals and the listed accounts.",
    ),
    LazyCommand(
        "propose",
        "departures.commands.modlist:modlist_propose",
        "Propose an account (handle or DID) for the list, with a reason and links to posts.",
    ),
    LazyCommand(
        "approve",
        "departures.commands.modlist:modlist_approve",
        "Approve a member's proposal: the account goes on the list.",
    ),
    LazyCommand(
        "reject",
        "departures.commands.modlist:modlist_reject",
        "Reject a member's proposal, with the reason.",
    ),
    LazyCommand(
        "decide-appeal",
        "departures.commands.modlist:modlist_decide_appeal",
        "Uphold or dismiss a listed account's appeal (of a listing you took no part in).",
    ),
    LazyCommand(
        "sync",
        "departures.commands.modlist:modlist_sync",
        "Write the approved entries to the list on Bluesky and delete the removed ones, now.",
    ),
)


@coalition.group(name="modlist", cls=LazyGroup, lazy=MODLIST_COMMANDS)
def modlist() -> None:
    """The shared moderation list: proposals, decisions and appeals, with an audit log."""


@coalition.command("oauth-rotate-key")
@db_option
def oauth_rotate_key(db_url: str | None) -> None:
    """Make a new OAuth client key for Sign in with Bluesky.

    The new key signs from now on; the old ones stay published in /oauth/jwks.json (servers
    cache keys for a while) but no longer sign. Keys are kept encrypted with the coalition's
    secret.

    Example: departures coalition oauth-rotate-key --db sqlite:////srv/coalition/coalition.db
    """
    from departures.coalition.oauth import OAuthService
    from departures.coalition.vault import Vault

    store = _store(db_url)
    # Rotation needs neither the public address nor a Bluesky service.
    service = OAuthService(
        store.engine,
        Vault(load_secret_key(_db_dir(db_url))),
        "https://unused.invalid",
        service="https://unused.invalid",
    )
    kid = service.rotate_key()
    click.echo(f"New OAuth client key {kid}: it signs from now on; the old ones stay published.")
