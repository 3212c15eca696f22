"""Faults of the first install and of PostgreSQL, against the real npm and PostgreSQL."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from departures.errors import SandboxError
from departures.sandbox.install import cache_root, ensure_runtime, installed_runtime
from departures.sandbox.postgres import Cluster, cluster_dir
from departures.sandbox.pytest_plugin import free_base_port

pytestmark = pytest.mark.sandbox


def test_an_unreachable_registry_is_a_clear_error_and_leaves_no_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEPARTURES_CACHE", str(tmp_path / "cache"))
    # Nothing listens on port 9; an empty npm cache so that nothing is served from it.
    monkeypatch.setenv("npm_config_registry", "http://127.0.0.1:9/")
    monkeypatch.setenv("npm_config_cache", str(tmp_path / "npm-cache"))
    monkeypatch.setenv("npm_config_fetch_retries", "0")
    with pytest.raises(SandboxError) as info:
        ensure_runtime()
    assert info.value.message.startswith("cannot reach the npm registry (http://127.0.0.1:9/)")
    assert installed_runtime() is None
    assert not list(cache_root().glob("*runtime-*"))


def test_postgres_that_cannot_start_says_why_and_leaves_nothing(tmp_path: Path) -> None:
    port = free_base_port()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        cluster = Cluster(cluster_dir(tmp_path, port), port)
        try:
            with pytest.raises(SandboxError) as info:
                cluster.start()
        finally:
            cluster.remove()
    assert info.value.message.startswith(f"PostgreSQL did not start on port {port}")
    assert "Address already in use" in info.value.message
    assert not cluster.is_running()
    assert not cluster.data_dir.exists()
