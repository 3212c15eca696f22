"""The one error hierarchy of departures.

Every error a user can act on is a :class:`DeparturesError` (or a subclass): it carries a
message in the user's words and a hint saying what to do next. The CLI prints it as one line
and exits non-zero; the web app renders it as a page or JSON. Anything else is a bug and
shows a traceback only when ``DEPARTURES_DEBUG=1``.

    DeparturesError
    ├── ArchiveError          the X archive cannot be read (corrupt zip, bad JSON, ...)
    ├── WorkspaceError        the local workspace is missing, locked, or from another account
    ├── SandboxError          the local Bluesky network cannot be installed, started or reached
    ├── BlueskyError          a Bluesky server refused or failed a request
    └── Interrupted           the user pressed Ctrl-C; says what was kept (exit code 130)
"""

from __future__ import annotations

import os


class DeparturesError(Exception):
    """An error the user can act on: ``message`` says what went wrong, ``hint`` what to do."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        kind: str | None = None,
        values: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # For pages: which known error this is (``departures.page_errors`` has its words for
        # a page, in the reader's language) and the values those words name. The CLI ignores
        # them: its English one line is ``message`` and ``hint``.
        self.kind = kind
        self.values = dict(values or {})

    def one_line(self) -> str:
        """The message and hint joined as the single line the CLI prints."""
        text = self.message.rstrip(".")
        if self.hint:
            return f"{text}. {self.hint.rstrip('.')}."
        return f"{text}."


class ArchiveError(DeparturesError):
    """The X archive (or one of its files) cannot be read."""


class WorkspaceError(DeparturesError):
    """The workspace cannot be opened or would be damaged by the requested change."""


class SandboxError(DeparturesError):
    """The local Bluesky network cannot be installed, started, stopped or reached."""


class BlueskyError(DeparturesError):
    """A Bluesky server refused or failed a request."""


class Interrupted(DeparturesError):
    """The user stopped a command (Ctrl-C): the message says what was kept, the hint how to
    go on. Exits 130, as a shell does for an interrupted program."""

    exit_code = 130


def debugging() -> bool:
    """Whether ``DEPARTURES_DEBUG`` asks for a programmer's details (tracebacks, class names)."""
    return os.environ.get("DEPARTURES_DEBUG", "") not in ("", "0", "false", "no")


def debug_detail(exc: BaseException) -> str:
    """`` (ExceptionName)`` under ``DEPARTURES_DEBUG``, else nothing: the name of a network
    library's exception means something to a programmer only."""
    return f" ({type(exc).__name__})" if debugging() else ""
