"""``make demo``: the whole system, end to end, on this machine, with one command.

It brings up the sandbox (a real local Bluesky network), creates the Bluesky account of a
fictional organisation, generates that organisation's X archive with the project's own
generator, and runs the same ``departures`` commands a communications officer would, printing
each command before its output so the transcript doubles as a tutorial: import, login, migrate
(plan, preview, run, verify), then the audience (partners it followed on X found again on
Bluesky with evidence, reviewed, followed), then a coalition campaign of three organisations
that tips and departs together (:mod:`departures.demo_coalition`). It ends by serving the
campaign's public board until Ctrl-C (``--no-serve`` skips that). Everything it writes lives
in ``./departures-demo`` (override with ``--dir``); the sandbox keeps running afterwards so
the result can be looked at, until ``departures sandbox down``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
from rich.console import Console

from departures.audience import store as audience_store
from departures.bluesky.identity import PLC_ENV
from departures.bluesky.pds import Pds
from departures.bluesky.records import PROFILE
from departures.bluesky.session import SessionStore, login, open_client
from departures.bluesky.writer import MemoryJournal, Write, open_writer
from departures.cli import main as cli_main
from departures.demo_coalition import fresh_account, run_coalition
from departures.errors import DeparturesError, SandboxError
from departures.samples.x_archive import generate
from departures.sandbox import DEFAULT_BASE_PORT, Account, Sandbox
from departures.workspace.db import Workspace

console = Console(highlight=False, soft_wrap=True)
DEMO_HANDLE = "fair-harvest"
DEMO_TWEETS = 400
DEFAULT_BOARD_PORT = 8765


def _step(title: str) -> None:
    console.print()
    console.rule(f"[bold]{title}")


def _run(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> str:
    """Run one ``departures`` command in-process, as the user would type it.

    ``env`` is set for this command only (shown with its values elided: they are secrets);
    ``capture`` returns the command's output (printed too) for the demo to read.
    """
    shown = "".join(f"{name}=… " for name in env or {})
    console.print(f"[bold cyan]$ {shown}departures {shlex.join(args)}")
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output) if capture else contextlib.nullcontext():
            cli_main(list(args))
    except SystemExit as exc:
        if exc.code not in (0, None):
            console.print(output.getvalue(), markup=False, end="")
            raise click.ClickException(f"'departures {shlex.join(args)}' failed") from exc
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    console.print(output.getvalue(), markup=False, end="")
    return output.getvalue()


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
@click.option(
    "--board-port",
    type=int,
    default=DEFAULT_BOARD_PORT,
    show_default=True,
    help="Port of the coalition board served at the end (another free one if taken).",
)
@click.option(
    "--no-serve",
    is_flag=True,
    envvar="DEPARTURES_DEMO_NO_SERVE",
    help="Do not keep serving the coalition board at the end (for tests and CI).",
)
def demo(demo_dir: Path, base_port: int, board_port: int, no_serve: bool) -> None:
    """Run the departures demo end to end in the local sandbox."""
    started = time.monotonic()
    demo_dir = demo_dir.resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
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

    # The sandbox's DIDs resolve through its own PLC directory (audience, coalition).
    os.environ[PLC_ENV] = box.plc_url
    follows_url = _audience_step(box, account, demo_dir, ws)
    coalition = run_coalition(box, demo_dir, _run, _step, console, board_port)

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
    if follows_url:
        console.print(f"  The partners the organisation follows again: {follows_url}")
    console.print("  The members' welcome posts on the sandbox AppView:")
    for url in coalition.welcome_urls:
        console.print(f"    {url}")
    console.print(f"  The coalition's list: {coalition.list_url}")
    console.print(f"  Its starter pack: {coalition.pack_url}")
    console.print(f"  The coalition's store: {coalition.db_url}")
    console.print(f"  Stop the sandbox when done: departures sandbox down{_suffix(ports)}")
    console.print(f"\n[dim](the demo took {time.monotonic() - started:.0f} s)")
    console.print(f"\n[bold]The departures board: {coalition.board_url}")
    if no_serve:
        console.print(
            f"  (not served: --no-serve) Serve it with: departures coalition serve "
            f"--db {coalition.db_url} --port {coalition.port}"
        )
        return
    _step("The board, served until Ctrl-C")
    # The server logs at INFO; a line per request of its Bluesky client would drown the rest.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    _run(
        "coalition", "serve", "--db", coalition.db_url, "--port", str(coalition.port),
        "--handle-service", box.pds_url, "--bluesky-service", box.pds_url,
    )  # fmt: skip


@dataclass(frozen=True)
class Partner:
    """A partner the demo organisation follows on X, as it shows up on Bluesky."""

    x_id: str
    x_handle: str
    name: str
    website: str
    display_name: str
    bio: str

    @property
    def genuine(self) -> bool:
        """Whether this Bluesky account really is the partner (what a reviewer decides)."""
        return self.display_name == self.name


# Three accounts the generated archive follows (its partners), made on the sandbox: one that
# proves who it is (its bio links its X profile and website), one with only the same handle and
# name (to review), and a stranger who took a partner's handle (to reject).
PARTNERS = (
    Partner(
        "1310000000000000001", "SeedCommonsNet", "Seed Commons Network",
        "https://seedcommons.example.org", "Seed Commons Network",
        "Seed banks are commons. Formerly x.com/SeedCommonsNet · seedcommons.example.org",
    ),
    Partner(
        "1310000000000000002", "RiverDeltaCoop", "River Delta Cooperative",
        "", "River Delta Cooperative", "",
    ),
    Partner(
        "1310000000000000003", "GreenLedgerNGO", "Green Ledger",
        "https://greenledger.example.org", "Greg Ledger", "Bookkeeper. Not an NGO, sorry!",
    ),
)  # fmt: skip


def _put_profile(account: Account, partner: Partner, sessions: SessionStore) -> None:
    """Give a partner's fresh account its profile, through the one write path."""
    stored = login(account.handle, account.app_password, account.service, store=sessions)
    pds = Pds(open_client(stored.did, store=sessions), stored.did, stored.handle)
    try:
        # A fresh account has no profile yet, and its key is always "self": a create.
        record = {
            "$type": PROFILE,
            "displayName": partner.display_name,
            "description": partner.bio,
        }
        writer = open_writer(pds, MemoryJournal())
        writer.send([Write.create(f"profile:{stored.did}", PROFILE, "self", record)])
    finally:
        pds.close()


def _wait_indexed(box: Sandbox, accounts: list[Account], seconds: float = 45.0) -> None:
    """Wait until the AppView shows the new profiles (it indexes them a moment later)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{box.appview_url}/xrpc/app.bsky.actor.getProfiles",
            params={"actors": [a.did for a in accounts]},
            timeout=30,
        )
        if response.status_code == 200:
            named = [p for p in response.json().get("profiles", []) if p.get("displayName")]
            if len(named) == len(accounts):
                return
        time.sleep(0.5)


def _audience_step(box: Sandbox, account: Account, demo_dir: Path, ws: list[str]) -> str:
    """Find partners the organisation followed on X again on Bluesky; "" when skipped."""
    _step("8. Find the accounts the organisation followed on X, and follow them again")
    try:
        return _audience(box, account, demo_dir, ws)
    except (DeparturesError, click.ClickException, httpx.HTTPError) as exc:
        said = exc.one_line() if isinstance(exc, DeparturesError) else str(exc)
        console.print(f"[yellow]The audience step did not complete ({said}); skipping it.")
        return ""


def _audience(box: Sandbox, account: Account, demo_dir: Path, ws: list[str]) -> str:
    made = []
    sessions = SessionStore(demo_dir / "partner-sessions")
    for partner in PARTNERS:
        partner_account = fresh_account(box, partner.x_handle.lower())
        _put_profile(partner_account, partner, sessions)
        made.append(partner_account)
    console.print(
        "Three partners of the organisation on the sandbox: "
        + ", ".join(
            f"[bold]@{a.handle}[/] ({p.display_name!r})"
            for a, p in zip(made, PARTNERS, strict=True)
        )
        + "."
    )
    _wait_indexed(box, made)
    names = demo_dir / "partners.csv"
    with names.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "handle", "name", "website"])
        for partner in PARTNERS:
            writer.writerow([partner.x_id, partner.x_handle, partner.name, partner.website])
    console.print(f"What the team knows of its partners (names, websites): {names}")
    _run(*ws, "audience", "import-names", str(names))
    _run(*ws, "audience", "match", "--appview", box.appview_url)
    _run(*ws, "audience", "review")
    workspace = Workspace.open(Path(ws[1]))
    try:
        proposed = audience_store.candidates(workspace, status="proposed")
    finally:
        workspace.close()
    genuine = {p.x_handle.lower(): p for p in PARTNERS if p.genuine}
    accept = [c.id for c in proposed if c.x_handle.lower() in genuine and c.display_name
              == genuine[c.x_handle.lower()].display_name]  # fmt: skip
    reject = [c.id for c in proposed if c.id not in accept]
    console.print(
        "(the team reads the evidence: it accepts the real partners and rejects the stranger)"
    )
    if accept:
        _run(*ws, "audience", "accept", *map(str, accept))
    if reject:
        _run(*ws, "audience", "reject", *map(str, reject))
    _run(*ws, "audience", "follow", "--handle", account.handle, "--per-hour", "0", "--no-budget")
    return f"{box.appview_url}/xrpc/app.bsky.graph.getFollows?actor={account.handle}"


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
