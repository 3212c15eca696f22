"""``departures sandbox ...``: a real Bluesky network on this machine."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from departures.sandbox import DEFAULT_BASE_PORT, Sandbox
from departures.sandbox.install import ProgressCallback, installed_runtime
from departures.sandbox.network import known_networks

F = TypeVar("F", bound=Callable[..., Any])


def ports_option(func: F) -> F:
    """``--ports BASE``: the sandbox's base port (shared by every sandbox command)."""
    return click.option(
        "--ports",
        "base_port",
        type=click.IntRange(1024, 65530),
        default=DEFAULT_BASE_PORT,
        show_default=True,
        envvar="DEPARTURES_SANDBOX_PORTS",
        help="Base port: PLC on BASE, PDS BASE+1, AppView BASE+2, ozone BASE+3, "
        "PostgreSQL BASE+4 [env DEPARTURES_SANDBOX_PORTS].",
    )(func)


@click.group()
def sandbox() -> None:
    """Run a private Bluesky network on this machine for rehearsals and tests.

    Example: departures sandbox up && departures sandbox account ngo-demo
    """


@contextmanager
def install_progress() -> Iterator[ProgressCallback | None]:
    """A rich progress display for the first install (nothing when already installed)."""
    if installed_runtime() is not None:
        yield None
        return
    console = Console(stderr=True)
    console.print(
        "First use: installing Node 22 and the Bluesky reference servers into the "
        "cache (a few minutes, once)."
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update


@sandbox.command()
@ports_option
@click.option(
    "--appview/--no-appview",
    default=True,
    show_default=True,
    help="Also run the AppView, the service that shows posts and finds accounts "
    "(needs PostgreSQL).",
)
@click.option(
    "--rate-limits",
    is_flag=True,
    help="Enforce the write limits of a real Bluesky server (about 1,600 posts an hour).",
)
def up(base_port: int, appview: bool, rate_limits: bool) -> None:
    """Start the sandbox network in the background and print its URLs.

    Example: departures sandbox up --ports 3580 --no-appview
    """
    box = Sandbox(base_port)
    with install_progress() as progress:
        started = box.up(appview=appview, rate_limits=rate_limits, progress=progress)
    state = box.state
    if started:
        click.echo(f"Sandbox up in {state.start_seconds:.1f} s (pid {state.pid}).")
    else:
        click.echo(f"Sandbox already up on ports {base_port}+ (pid {state.pid}); reusing it.")
    _print_urls(box)
    suffix = "" if base_port == DEFAULT_BASE_PORT else f" --ports {base_port}"
    click.echo(
        f"Next: departures sandbox account HANDLE{suffix}   (stop: departures sandbox down{suffix})"
    )


def _print_urls(box: Sandbox) -> None:
    state = box.state
    click.echo(f"PDS:     {state.pds_url}")
    click.echo(f"AppView: {state.appview_url or '(not started; use --appview)'}")
    click.echo(f"PLC:     {state.plc_url}")
    if state.rate_limits:
        click.echo("Rate limits: on")


@sandbox.command()
@ports_option
def down(base_port: int) -> None:
    """Stop the sandbox network and its PostgreSQL, and delete their data.

    Example: departures sandbox down
    """
    what = Sandbox(base_port).down()
    click.echo(f"Sandbox on ports {base_port}+: {what}.")


@sandbox.command()
@click.option(
    "--ports",
    "base_port",
    type=click.IntRange(1024, 65530),
    default=None,
    help="Only the sandbox on this base port (default: every known sandbox).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(base_port: int | None, as_json: bool) -> None:
    """Say which sandbox networks run, where, and how much memory they use.

    Example: departures sandbox status --json
    """
    boxes = (
        [Sandbox(base_port)]
        if base_port is not None
        else [Sandbox(net.base_port) for net in known_networks()]
    )
    reports = [box.status() for box in boxes]
    if as_json:
        click.echo(json.dumps([report.to_json() for report in reports], indent=2))
        return
    shown = [r for r in reports if r.running or r.stale]
    if not shown:
        click.echo("No sandbox runs. Start one with: departures sandbox up")
        return
    for report in shown:
        state = report.state
        assert state is not None
        if report.stale:
            click.echo(
                f"Ports {report.base_port}+: stopped unexpectedly (pid {state.pid} is "
                "gone); `departures sandbox down` cleans up."
            )
            continue
        health = ", ".join(
            f"{k} {'ok' if v else 'NOT answering'}" for k, v in report.healthy.items()
        )
        click.echo(
            f"Ports {report.base_port}+: up (pid {state.pid}; {health}; "
            f"{report.memory_bytes / 2**20:.0f} MiB)"
        )
        click.echo(f"  PDS:     {state.pds_url}")
        click.echo(f"  AppView: {state.appview_url or '(none)'}")
        click.echo(f"  PLC:     {state.plc_url}")
        if state.postgres_port:
            click.echo(f"  PostgreSQL: 127.0.0.1:{state.postgres_port}")


@sandbox.command()
@ports_option
@click.argument("handle")
def account(base_port: int, handle: str) -> None:
    """Create the account HANDLE.test on the sandbox and print its app password.

    Example: departures sandbox account ngo-demo
    """
    box = Sandbox(base_port)
    created = box.create_account(handle)
    click.echo(f"Handle:       {created.handle}")
    click.echo(f"DID:          {created.did}")
    # The sandbox's own throwaway account: printing its app password is the point.
    click.echo(f"App password: {created.app_password}")
    click.echo(f"Service:      {created.service}")
    click.echo(
        "Point other commands at the sandbox as at bsky.social: service "
        f"{created.service} (DEPARTURES_SERVICE), this handle and the app password."
    )
