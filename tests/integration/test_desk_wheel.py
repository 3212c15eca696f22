"""The built wheel is enough to run the desk: no repository, a fresh virtual environment.

Builds the wheel (``pip wheel``, as CI does), checks it holds the desk's templates and
static files, the gettext catalogues and the sandbox's lock file, installs it into a new
virtual environment (its dependencies from the configured index), starts
``departures desk --no-browser`` from there in an empty folder, opens the printed one-time
URL and gets the first page and the stylesheet. About a minute and a half: marked ``wheel``
(left out of ``make test-fast``, run by ``make test``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "departures"

pytestmark = [pytest.mark.wheel, pytest.mark.timeout(900)]


def _run(*args: str, cwd: Path) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_the_wheel_installs_and_serves_the_desk(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT),
         cwd=tmp_path)  # fmt: skip
    (wheel,) = dist.glob("departures-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = [
        path.relative_to(SOURCE.parent).as_posix()
        for pattern in ("desk/templates/**/*.html", "desk/static/*", "**/*.mo",
                        "sandbox/node/package-lock.json", "coalition/templates/*.html")
        for path in SOURCE.glob(pattern)
    ]  # fmt: skip
    assert "departures/sandbox/node/package-lock.json" in wanted
    assert "departures/desk/static/desk.css" in wanted
    assert sorted(set(wanted) - names) == []

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    _run(str(python), "-m", "pip", "install", "-q", str(wheel), cwd=tmp_path)

    # From an empty folder, so nothing of the repository can be imported by accident.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DEPARTURES_WORKSPACE")}
    env["PYTHONUNBUFFERED"] = "1"
    desk = subprocess.Popen(
        [str(environment / "bin" / "departures"), "desk", "--no-browser", "--workspace", "ws"],
        cwd=outside,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert desk.stdout is not None
        first = desk.stdout.readline()
        assert first.startswith("The desk is open at http://127.0.0.1:"), first
        url = first.split(" at ", 1)[1].strip()
        with httpx.Client(follow_redirects=True, timeout=20) as browser:
            page = browser.get(url)
            assert page.status_code == 200
            assert page.url.path == "/archive"
            assert "Bring the archive" in page.text
            assert browser.get(url.split("/login")[0] + "/static/desk.css").status_code == 200
            assert browser.get(url).status_code == 403  # the token was spent
        where = subprocess.run(
            [str(python), "-c", "import departures, sys; print(departures.__file__)"],
            cwd=outside, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert str(environment) in where.stdout and str(ROOT) not in where.stdout
    finally:
        desk.terminate()
        desk.wait(timeout=20)
        for stream in (desk.stdout, desk.stderr):
            if stream is not None:
                stream.close()
