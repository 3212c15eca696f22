"""The coalition's OAuth state in the store (SQLite and PostgreSQL): the client key kept
encrypted and rotatable, pending sign-ins taken once, connections recorded and erased,
the client documents served, and app passwords only as the explicit fallback."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from departures.bluesky.oauth import ALL_SCOPES, OAuthError, PendingAuth, dpop_proof
from departures.coalition.oauth import APP_PASSWORDS_ENV, OAuthService, app_passwords_allowed
from departures.coalition.store import CoalitionStore, access
from departures.coalition.store import oauth as rows
from departures.coalition.store.campaigns import utc_now
from departures.coalition.store.schema import oauth_client_keys, oauth_pending
from departures.coalition.vault import Vault
from helpers import web
from helpers.cli import run_cli
from helpers.stores import ON_BOTH_STORES

BASE = "https://coalition.example.org"
DID = "did:plc:" + "o" * 24


class _PasswordSignIn:
    """The app-password sign-in (never reached here while OAuth is on without fallback)."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        return DID, handle


def _service(engine: Engine) -> OAuthService:
    return OAuthService(
        engine, Vault(b"test-key"), BASE, service="https://bsky.example", plc="https://plc"
    )


@ON_BOTH_STORES
def test_the_client_key_is_made_once_kept_encrypted_and_rotates(engine: Engine) -> None:
    service = _service(engine)
    first = service.config()
    again = _service(engine).config()
    assert first.keys[0].kid == again.keys[0].kid  # made once, then read back
    with engine.connect() as conn:
        stored = conn.execute(select(oauth_client_keys.c.secret)).scalars().all()
    assert len(stored) == 1 and '"d"' not in stored[0] and "P-256" not in stored[0]

    new_kid = service.rotate_key()
    rotated = service.config()
    assert rotated.keys[0].kid == new_kid  # the new key signs
    published = [key["kid"] for key in rotated.jwks()["keys"]]
    assert published == [new_kid, first.keys[0].kid]  # the old one stays published
    assert all("d" not in key for key in rotated.jwks()["keys"])  # public parts only
    header = rotated.assertion("https://as").split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"] == new_kid


def test_the_client_metadata_names_the_narrow_scopes(engine: Engine) -> None:
    metadata = _service(engine).config().metadata()
    assert metadata["client_id"] == f"{BASE}/oauth/client-metadata.json"
    assert metadata["redirect_uris"] == [f"{BASE}/oauth/callback"]
    assert metadata["scope"] == ALL_SCOPES
    scopes = metadata["scope"].split()
    assert "atproto" in scopes and len(scopes) == len(set(scopes))
    assert "transition:generic" not in scopes  # no blanket access to the account


@ON_BOTH_STORES
def test_a_pending_sign_in_is_taken_once(engine: Engine) -> None:
    now = utc_now()
    rows.keep_pending(engine, "a" * 64, "ciphertext", now)
    assert rows.take_pending(engine, "a" * 64, now) == "ciphertext"
    assert rows.take_pending(engine, "a" * 64, now) == ""  # replayed
    rows.keep_pending(engine, "b" * 64, "old", now - rows.PENDING_LIFETIME - timedelta(1))
    assert rows.take_pending(engine, "b" * 64, now) == ""  # stale
    with engine.connect() as conn:
        assert conn.execute(select(oauth_pending)).all() == []


def test_an_unknown_state_is_refused_with_one_line(engine: Engine) -> None:
    service = _service(engine)
    with pytest.raises(OAuthError) as refused:
        service.finish({"state": "made-up", "code": "x", "iss": "https://as"})
    assert refused.value.reason == "state"
    assert refused.value.message == "This sign-in link was already used or has expired"


@ON_BOTH_STORES
def test_pending_sign_ins_are_stored_encrypted(engine: Engine) -> None:
    from joserfc.jwk import ECKey

    pending = PendingAuth(
        state="s",
        issuer="https://as",
        pds="https://pds",
        did=DID,
        handle="a.example",
        code_verifier="verifier-secret",
        dpop_key=ECKey.generate_key("P-256", private=True).as_dict(private=True),
        dpop_nonce=None,
        scope="atproto",
        server={},
    )
    vault = Vault(b"test-key")
    rows.keep_pending(engine, "c" * 64, vault.encrypt(pending.to_json()), utc_now())
    with engine.connect() as conn:
        secret = conn.execute(select(oauth_pending.c.secret)).scalar_one()
    assert "verifier-secret" not in secret
    assert PendingAuth.from_json(vault.decrypt(secret)).code_verifier == "verifier-secret"
    assert "verifier-secret" not in repr(pending)


@ON_BOTH_STORES
def test_connections_are_recorded_and_erased_with_the_did(engine: Engine) -> None:
    rows.record_connection(engine, "organisation:7", DID, utc_now())
    assert rows.connected_through_oauth(engine, "organisation:7") == DID
    assert rows.owners_of(engine, DID) == ["organisation:7"]
    access.erase_did(engine, DID)
    assert rows.connected_through_oauth(engine, "organisation:7") is None


def test_dpop_proofs_bind_method_url_nonce_and_token() -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    proof = dpop_proof(
        key, "post", "https://pds.example/xrpc/x?y=1#z", nonce="n1", access_token="t"
    )
    token = jwt.decode(proof, ECKey.import_key(key.as_dict(private=False)))
    assert token.header["typ"] == "dpop+jwt" and "d" not in token.header["jwk"]
    assert token.claims["htm"] == "POST"
    assert token.claims["htu"] == "https://pds.example/xrpc/x"
    assert token.claims["nonce"] == "n1"
    assert (
        token.claims["ath"] == "47mKTaMaEn1L3m5DAz9muidMqw636xxw7EFAK_YnPdg"
    )  # base64url(SHA-256("t"))


def test_app_passwords_are_a_fallback_the_operator_turns_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(APP_PASSWORDS_ENV, raising=False)
    assert not app_passwords_allowed()
    app = web.coalition_app(
        CoalitionStore(engine), oauth=_service(engine), bluesky_sign_in=_PasswordSignIn()
    )
    with web.InProcessBrowser(app) as visitor:
        page = visitor.get("/directory").text
        assert 'action="/oauth/start"' in page and 'name="password"' not in page
        refused = visitor.sign_in_to_directory("a.example", "app-pass")
        assert refused.status_code == 400
        assert "/oauth/client-metadata.json" in visitor.get("/oauth/client-metadata.json").text
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")
    assert app_passwords_allowed()
    with web.InProcessBrowser(app) as visitor:
        assert 'name="password"' in visitor.get("/directory").text


def test_the_rotate_command_makes_a_new_signing_key(tmp_path: Path) -> None:
    from departures.coalition.db import connect

    url = f"sqlite:///{tmp_path / 'coalition.db'}"
    env = {"DEPARTURES_COALITION_SECRET": "a-long-and-varied-secret-for-this-test-0123456789"}
    first = run_cli("coalition", "oauth-rotate-key", "--db", url, env=env)
    second = run_cli("coalition", "oauth-rotate-key", "--db", url, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "signs from now on" in second.stdout
    engine = connect(url)
    try:
        keys = rows.client_keys(engine)
    finally:
        engine.dispose()
    assert len(keys) == 2 and [retired for _kid, _secret, retired in keys] == [False, True]


def _pending(state: str, issuer: str) -> str:
    from joserfc.jwk import ECKey

    pending = PendingAuth(
        state=state,
        issuer=issuer,
        pds="https://pds.example",
        did=DID,
        handle="a.example",
        code_verifier="v",
        dpop_key=ECKey.generate_key("P-256", private=True).as_dict(private=True),
        dpop_nonce=None,
        scope="atproto",
        server={
            "issuer": issuer,
            "par_endpoint": f"{issuer}/oauth/par",
            "authorization_endpoint": f"{issuer}/oauth/authorize",
            "token_endpoint": f"{issuer}/oauth/token",
            "revocation_endpoint": f"{issuer}/oauth/revoke",
        },
    )
    plain = {"pending": json.loads(pending.to_json()), "purpose": "directory", "binding": "b"}
    return Vault(b"test-key").encrypt(json.dumps(plain))


@pytest.mark.parametrize(
    ("query", "status", "line"),
    [
        ("state=never-made&code=c&iss=https://as.example", 400, "already used or has expired"),
        ("state=s1&code=c&iss=https://evil.example", 403, "did not come from your account"),
        ("state=s1&error=access_denied&iss=https://as.example", 403, "was cancelled at"),
    ],
)
def test_a_bad_callback_gets_one_line_and_signs_nobody_in(
    engine: Engine, query: str, status: int, line: str
) -> None:
    import hashlib

    rows.keep_pending(
        engine,
        hashlib.sha256(b"s1").hexdigest(),
        _pending("s1", "https://as.example"),
        utc_now(),
    )
    app = web.coalition_app(CoalitionStore(engine), oauth=_service(engine))
    with web.InProcessBrowser(app) as visitor:
        answer = visitor.get(f"/oauth/callback?{query}")
        assert answer.status_code == status
        assert line in answer.text and "Traceback" not in answer.text
        assert 'id="signed-in-handle"' not in visitor.get("/directory").text
    # Whatever the answer, the state is spent: the genuine answer cannot come after it.
    if "s1" in query:
        assert rows.take_pending(engine, hashlib.sha256(b"s1").hexdigest(), utc_now()) == ""
