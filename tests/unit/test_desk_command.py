"""``departures desk`` as a person starts it: a real process, the printed one-time URL, the
port it was asked for, 127.0.0.1 only, Ctrl-C as a quiet stop."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx

from helpers.cli import cli_argv, run_cli
from helpers.ports import free_port


def test_the_desk_serves_the_printed_url_on_the_given_port_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    port = free_port()
    desk = subprocess.Popen(
        cli_argv("desk", "--no-browser", "--port", str(port), "--workspace", str(tmp_path / "ws")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PYTHONUNBUFFERED": "1", "PATH": "/usr/bin:/bin"},
    )
    try:
        assert desk.stdout is not None
        first = desk.stdout.readline()
        assert first.startswith(f"The desk is open at http://127.0.0.1:{port}/login?token=")
        url = first.split(" at ", 1)[1].strip()
        with httpx.Client(follow_redirects=True, timeout=20) as browser:
            page = browser.get(url)
        assert page.status_code == 200 and page.url.path == "/archive"
        # Only the loopback address: no other address of this machine is served.
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        on_port = {line.split()[1] for line in listening if line.split()[3] == "0A"
                   and int(line.split()[1].split(":")[1], 16) == port}  # fmt: skip
        assert on_port == {f"0100007F:{port:04X}"}
        desk.send_signal(signal.SIGINT)
        # As every command: exit 130 and at most the one line saying what was kept.
        assert desk.wait(timeout=20) in (0, 130)
        assert desk.stderr is not None
        said = desk.stderr.read()
        assert "Traceback" not in said
        assert len(said.strip().splitlines()) <= 1, said
    finally:
        if desk.poll() is None:
            desk.kill()
            desk.wait()
        for stream in (desk.stdout, desk.stderr):
            if stream is not None:
                stream.close()


def test_a_port_in_use_is_one_error_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("desk", "--no-browser", "--port", str(port), "--workspace", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: Cannot listen on 127.0.0.1:{port} (Address already in use). "
        "Choose another --port, or leave it out to take a free one."
    )
