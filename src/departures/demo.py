"""``make demo``: the whole system, end to end, on this machine, with one command.

It brings up the sandbox (a real local Bluesky network), creates the Bluesky account of a
fictional organisation, generates that organisation's X archive with the project's own
generator, and runs the same ``departures`` commands a communications officer would, printing
each command before its output so the transcript doubles as a tutorial. Everything it writes
lives in ``./departures-demo`` (override with ``--dir``); the sandbox keeps running afterwards
so the result can be looked at, until ``departures sandbox down``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

import click
from rich.console import Console

from departures.archive.synthetic import generate
from departures.cli import main as cli_main
from departures.errors import DeparturesError, SandboxError
from departures.sandbox import DEFAULT_BASE_PORT, Account, Sandbox

console = Console(highlight=False)
DEMO_HANDLE = "fair-harvest"
DEMO_TWEETS = 400


def _step(title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")


def _run(*args: str) -> None:
    """Run one ``departures`` command in-process, as the user would type it."""
    console.print(f"[bold cyan]$ departures {shlex.join(args)}")
    try:
        cli_main(list(args))
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise click.ClickException(f"'departures {shlex.join(args)}' failed") from exc


def _demo_account(box: Sandbox) -> Account:
    """The organisation's sandbox account; a new numbered handle if an earlier demo took it."""
    for attempt in range(1, 50):
        handle = DEMO_HANDLE if attempt == 1 else f"{DEMO_HANDLE}-{attempt}"
        try:
            return box.create_account(handle)
        except SandboxError as exc:
            if "Handle" not in exc.message and "handle" not in exc.message:
                raise
    raise SandboxError("could not find a free demo handle", "Run: departures sandbox down")


@click.command()
@click.option(
    "--dir",
    "demo_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("departures-demo"),
    show_default=True,
    help="Where the demo writes its archive and workspace.",
)
@click.option(
    "--ports",
    "base_port",
    type=int,
    default=DEFAULT_BASE_PORT,
    show_default=True,
    help="Base port of the sandbox network.",
)
def demo(demo_dir: Path, base_port: int) -> None:
    """Run the departures demo end to end in the local sandbox."""
    demo_dir = demo_dir.resolve()
    workspace = demo_dir / "workspace"
    archive = demo_dir / "fair-harvest-x-archive.zip"
    ports = [] if base_port == DEFAULT_BASE_PORT else ["--ports", str(base_port)]

    _step("1. A private Bluesky network on this machine (the sandbox)")
    _run("sandbox", "up", *ports)
    box = Sandbox(base_port)

    _step("2. The organisation's Bluesky account (in the sandbox)")
    account = _demo_account(box)
    console.print(f"Created [bold]{account.handle}[/] ({account.did}) with an app password.")

    _step("3. The organisation's X archive (generated: a fictional NGO, no real data)")
    shutil.rmtree(workspace, ignore_errors=True)
    made = generate(archive, tweets=DEMO_TWEETS, seed=2025, profile="demo", as_zip=True)
    console.print(
        f"Wrote {made.path} ({made.path.stat().st_size / 1e6:.1f} MB): {made.tweet_entries} "
        f"tweets, {made.long_posts} long posts, {made.media_files_written} media files."
    )

    _step("4. Read the archive into the local workspace")
    ws = ["--workspace", str(workspace)]
    _run(*ws, "archive", "import", str(archive))

    _step("5. Log in to the sandbox account with its app password")
    os.environ["DEPARTURES_APP_PASSWORD"] = account.app_password
    try:
        _run("login", "--handle", account.handle, "--service", box.pds_url)
    finally:
        # The app password is only needed for this one login; the session is kept instead.
        del os.environ["DEPARTURES_APP_PASSWORD"]

    _step("6. Choose the tweets to migrate, and preview them")
    preview = demo_dir / "preview.html"
    _run(*ws, "migrate", "plan")
    _run(*ws, "migrate", "preview", "--out", str(preview))

    _step("7. Publish exactly once (the sandbox has no rate limits: --no-budget)")
    _run(*ws, "migrate", "run", "--handle", account.handle, "--no-budget")
    _run(*ws, "migrate", "verify", "--wait", "90")
    _run(*ws, "migrate", "status")

    _step("What to look at now")
    console.print(f"  The preview a communications team reviews: [bold]file://{preview}[/]")
    console.print(
        "  The organisation's posts as the sandbox AppView serves them:\n"
        f"  {box.appview_url}/xrpc/app.bsky.feed.getAuthorFeed?actor={account.handle}&limit=5"
    )
    console.print(
        f"  Its profile: {box.appview_url}/xrpc/app.bsky.actor.getProfile?actor={account.handle}"
    )
    console.print(f"  Numbers: departures --workspace {workspace} archive stats --json")
    console.print(f"  Undo the migration: departures --workspace {workspace} migrate undo")
    console.print(f"  Stop the sandbox when done: departures sandbox down{_suffix(ports)}")


def _suffix(ports: list[str]) -> str:
    return " " + " ".join(ports) if ports else ""


def main() -> None:
    """Entry point of ``python -m departures.demo``."""
    try:
        demo.main(standalone_mode=False)
    except DeparturesError as exc:
        console.print(f"[red]Error: {exc.one_line()}")
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(1)


if __name__ == "__main__":
    main()
