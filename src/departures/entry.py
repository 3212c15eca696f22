"""The ``departures`` console script: the CLI, with Ctrl-C during start-up as one line.

Python imports the CLI (click, rich, the command modules) before any of its own error
handling runs; Ctrl-C in that second would print a long ``KeyboardInterrupt`` traceback.
This module imports nothing but :mod:`os` and :mod:`sys` before its ``try``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

STARTUP_INTERRUPTED = "Interrupted before anything was done."


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``departures`` console script (see :func:`departures.cli.main`)."""
    try:
        from departures.cli import main as cli_main
    except KeyboardInterrupt:
        if os.environ.get("DEPARTURES_DEBUG", "") not in ("", "0", "false", "no"):
            raise
        sys.stderr.write(STARTUP_INTERRUPTED + "\n")
        raise SystemExit(130) from None
    return cli_main(argv)
