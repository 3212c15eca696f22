"""``departures desk``: the whole journey in the browser, on this computer."""

from __future__ import annotations

import socket
import threading
import webbrowser

import click

from departures.commands.context import AppContext, pass_app


def _listen(port: int) -> socket.socket:
    """A socket listening on 127.0.0.1 only (``port`` 0: a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise click.UsageError(
            f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}). "
            "Choose another --port, or leave it out to take a free one."
        ) from None
    sock.listen(64)
    return sock


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default="a free port",
    help="Port on 127.0.0.1 to serve the desk on.",
)
@click.option(
    "--no-browser",
    is_flag=True,
    help="Print the one-time address instead of opening the browser (servers, tests).",
)
@pass_app
def desk(app: AppContext, port: int, no_browser: bool) -> None:
    """Open the desk: the whole journey in your browser, on this computer only.

    The desk listens on 127.0.0.1 and opens your browser on a one-time address; the
    archive, the plan and your sessions never leave this computer. The CLI keeps working
    on the same workspace meanwhile. Stop the desk with Ctrl-C.

    Example: departures desk --workspace ngo-workspace
    """
    import uvicorn

    from departures.desk.app import Desk, create_app

    sock = _listen(port)
    the_desk = Desk(app.workspace_option, sock.getsockname()[1])
    url = the_desk.login_url
    click.echo(f"The desk is open at {url}")
    click.echo("This address works once, in one browser. Stop the desk with Ctrl-C.")
    if not no_browser:
        # After the server has started, so the browser never sees "connection refused".
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(
        create_app(the_desk),
        log_level="warning",
        access_log=False,
        lifespan="off",
        # A browser keeps its connection for a minute or more; uvicorn's default 5 s, with a
        # long job holding the interpreter, closes a connection just as a request arrives.
        timeout_keep_alive=75,
    )
    uvicorn.Server(config).run(sockets=[sock])
