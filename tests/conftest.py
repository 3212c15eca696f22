"""Shared test fixtures: paths to the real archives in ../shared and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["departures.sandbox.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = Path(os.environ.get("DEPARTURES_SHARED", REPO.parent / "shared")) / "fixtures"


def shared_archive(name: str) -> Path:
    """A real archive from ../shared/fixtures/x-archives, or skip the test with the reason."""
    path = SHARED_FIXTURES / "x-archives" / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"real fixture {path} is missing in CI")
        pytest.skip(f"real fixture {path} not present (it lives in ../shared, outside the repo)")
    return path


@pytest.fixture
def workspace_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh, empty workspace directory."""
    yield tmp_path / "ws"
