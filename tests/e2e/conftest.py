"""Fixtures for the browser tests: Debian's Chromium driven by Playwright's Python package.

Never a browser that Playwright downloads (this machine reaches no such host): Debian's
``chromium``, installed by the test run itself in CI (as root) when it is missing, skipped
with the reason elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling hosts this closed network
# refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _install_chromium() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:  # a fresh machine may have no package lists yet
        subprocess.run(["apt-get", "update"], capture_output=True, timeout=600, env=env)
        result = subprocess.run(install, capture_output=True, text=True, timeout=900, env=env)
    if result.returncode != 0:
        pytest.fail(f"could not install chromium in CI: {result.stderr[-500:]}")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium; installed by the test run itself in CI (as root)."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        if os.environ.get("CI") and os.geteuid() == 0:
            _install_chromium()
        elif os.environ.get("CI"):
            pytest.fail("chromium is missing in CI and the tests do not run as root")
        else:
            pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture
def browser(chromium: str) -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``), closed after the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
