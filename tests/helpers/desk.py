"""The desk in tests: a desk on a fixed port and an in-process browser signed in to it."""

from __future__ import annotations

from pathlib import Path

from departures.desk.app import Desk, create_app
from helpers.web import InProcessBrowser

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def browser(desk: Desk, base: str = BASE) -> InProcessBrowser:
    """A browser on ``desk`` (not signed in; redirects are followed unless a request says
    ``follow_redirects=False``)."""
    return InProcessBrowser(create_app(desk), base)


def signed_in(desk: Desk) -> InProcessBrowser:
    """A browser that has opened the desk's one-time URL (and holds its cookie)."""
    visitor = browser(desk)
    response = visitor.get(f"/login?token={desk.keys.token}", follow_redirects=False)
    assert response.status_code == 303, response.text
    return visitor


def new_desk(tmp_path: Path) -> Desk:
    """A desk on a fresh workspace under ``tmp_path``."""
    return Desk(tmp_path / "ws", PORT)
