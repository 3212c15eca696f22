"""The test tree itself: pytest imports test files by basename (no packages), so two files
with one name in different folders break collection of the whole suite."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from helpers.markers import SERVER_MARKERS, markers_for

TESTS = Path(__file__).resolve().parent.parent


def test_every_test_file_has_a_unique_basename() -> None:
    names = Counter(path.name for path in TESTS.rglob("*.py") if "__pycache__" not in path.parts)
    assert [name for name, count in names.items() if count > 1] in ([], ["conftest.py"])


def test_every_selected_test_that_uses_a_server_carries_its_marker(
    request: pytest.FixtureRequest,
) -> None:
    """The markers tests/conftest.py adds by fixture use are there before ``-m`` selects: in
    this very session (``make test-fast`` included) no test that starts a server is unmarked."""
    unmarked = {
        item.nodeid: sorted(missing)
        for item in request.session.items
        if (
            missing := markers_for(getattr(item, "fixturenames", ()))
            - {mark.name for mark in item.iter_markers()}
        )
    }
    assert unmarked == {}


def test_server_fixtures_map_to_registered_markers(pytestconfig: pytest.Config) -> None:
    registered = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert registered >= SERVER_MARKERS
    assert markers_for(["tmp_path", "sandbox_rate_limited", "chromium"]) == {"sandbox", "browser"}
    assert markers_for(["postgres_engine"]) == {"postgres"}
