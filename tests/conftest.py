"""Shared test fixtures (the real-archive paths live in shared_fixtures.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["departures.sandbox.pytest_plugin"]


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty workspace directory."""
    yield tmp_path / "ws"
