"""Which marker a test needs, read from the fixtures it uses.

``tests/conftest.py`` applies these markers at collection, before ``-m`` selects, so a new
test that asks for a server fixture is deselected by ``make test-fast`` without anyone
remembering to mark it.
"""

from __future__ import annotations

from collections.abc import Iterable

# Fixture name -> the marker of the server it starts (the plugin's and conftests' fixtures).
# Names no test module reuses for a fixture of its own: tests/e2e's ``browser`` is found
# through the ``chromium`` it needs, since in-process "browsers" of unit tests share its name.
SERVER_FIXTURES: dict[str, str] = {
    "sandbox": "sandbox",
    "sandbox_rate_limited": "sandbox",
    "postgres_cluster": "postgres",
    "postgres_engine": "postgres",
    "chromium": "browser",
}

SERVER_MARKERS = frozenset(SERVER_FIXTURES.values())


def markers_for(fixturenames: Iterable[str]) -> set[str]:
    """The server markers a test using ``fixturenames`` (its whole closure) must carry."""
    return {SERVER_FIXTURES[name] for name in fixturenames if name in SERVER_FIXTURES}
