"""Network failures are told in plain words; the library's exception name only for debugging."""

from __future__ import annotations

import httpx
import pytest

from departures.bluesky.identity import unreachable


def test_an_unreachable_server_is_named_without_the_librarys_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEPARTURES_DEBUG", raising=False)
    error = unreachable("https://bsky.social", httpx.ConnectError("refused"))
    assert error.one_line() == (
        "Cannot reach the Bluesky server at https://bsky.social. "
        "Check the address and your connection, or pass another --service URL."
    )


def test_debugging_adds_the_exception_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_DEBUG", "1")
    error = unreachable("https://bsky.social", httpx.ConnectError("refused"))
    assert error.message == "Cannot reach the Bluesky server at https://bsky.social (ConnectError)"
