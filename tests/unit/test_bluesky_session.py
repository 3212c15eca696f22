"""The sessions file and the media limits learnt from the server."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from departures.bluesky.limits import media_limits
from departures.bluesky.session import SessionStore, StoredSession, config_dir, open_client
from departures.errors import BlueskyError


def _session(handle: str, did: str) -> StoredSession:
    return StoredSession(
        handle=handle,
        did=did,
        pds="https://pds.example",
        service="https://bsky.social",
        access_jwt="ACCESS-SECRET",
        refresh_jwt="REFRESH-SECRET",
        logged_in_at="2026-01-01T00:00:00+00:00",
    )


def test_the_sessions_file_is_private_and_keyed_by_did(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "cfg")
    store.put(_session("ngo.example", "did:plc:one"))
    store.put(_session("other.example", "did:plc:two"), make_current=False)
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    current = store.get()
    assert current is not None and current.did == "did:plc:one"
    by_handle = store.get("@Other.Example")
    assert by_handle is not None and by_handle.did == "did:plc:two"
    assert store.get("did:plc:two") == by_handle


def test_a_handle_logged_in_again_on_a_new_account_names_the_new_one(tmp_path: Path) -> None:
    # A sandbox started afresh (or an account deleted and recreated) gives the same handle a
    # new DID; a command naming the handle must not pick up the dead account's session.
    store = SessionStore(tmp_path)
    store.put(_session("ngo.test", "did:plc:old"))
    store.put(_session("other.test", "did:plc:other"))
    store.put(_session("ngo.test", "did:plc:new"))
    found = store.get("ngo.test")
    assert found is not None and found.did == "did:plc:new"
    assert store.get("did:plc:old") is None
    assert store.get("did:plc:other") is not None


def test_tokens_never_show_in_the_repr(tmp_path: Path) -> None:
    text = repr(_session("ngo.example", "did:plc:one"))
    assert "SECRET" not in text and "ngo.example" in text


def test_logout_forgets_and_moves_current_to_another_account(tmp_path: Path) -> None:
    store = SessionStore(tmp_path)
    store.put(_session("a.example", "did:plc:a"))
    store.put(_session("b.example", "did:plc:b"))
    removed = store.remove()
    assert removed is not None and removed.did == "did:plc:b"
    now = store.get()
    assert now is not None and now.did == "did:plc:a"
    assert store.remove("nobody.example") is None


def test_config_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPARTURES_CONFIG_DIR", str(tmp_path / "x"))
    assert config_dir() == tmp_path / "x"
    monkeypatch.delenv("DEPARTURES_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config_dir() == tmp_path / "xdg" / "departures"


def test_nobody_logged_in_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BlueskyError, match="Nobody is logged in") as caught:
        open_client(store=SessionStore(tmp_path))
    assert "departures login --handle" in caught.value.one_line()


def test_a_damaged_sessions_file_says_to_log_in_again(tmp_path: Path) -> None:
    (tmp_path / "sessions.json").write_text("{not json")
    with pytest.raises(BlueskyError, match="cannot be read"):
        SessionStore(tmp_path).get()


def test_image_limit_is_2mb_only_on_a_pds_known_to_take_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEPARTURES_IMAGE_MAX_BYTES", raising=False)
    assert media_limits({"version": "0.5.35"}, None).image_max_bytes == 2_000_000
    assert media_limits({"version": "0.4.204"}, None).image_max_bytes == 1_000_000
    assert media_limits({}, None).image_max_bytes == 1_000_000
    monkeypatch.setenv("DEPARTURES_IMAGE_MAX_BYTES", "1500000")
    assert media_limits({"version": "0.4.1"}, None).image_max_bytes == 1_500_000


def test_video_limit_is_the_pds_blob_cap_and_zero_when_the_service_says_no() -> None:
    assert media_limits({"blobUploadLimit": 5_242_880}, None).video_max_bytes == 5_242_880
    assert media_limits({}, None).video_max_bytes == 50_000_000
    assert media_limits({}, {"canUpload": False}).video_max_bytes == 0
