"""Paths to the real archives in ../shared/fixtures, for tests that read them.

A module of its own (not conftest.py): pytest imports every conftest.py under the same module
name, so ``from conftest import ...`` picks whichever conftest was loaded last.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
