"""Secrets of the coalition service: tokens, their hashes, and the server's secret key.

Coordinator tokens, member keys, invite tokens and session ids are 256-bit random strings; the
store keeps only their SHA-256 (a slow hash like scrypt protects low-entropy passwords, which
these are not). The server's secret key (``DEPARTURES_COALITION_SECRET`` or the
``coalition.secret`` file) encrypts the Bluesky sessions kept in the store; it must be strong
(:func:`check_secret`), and it can be rotated: the previous keys listed in
``DEPARTURES_COALITION_SECRET_FALLBACKS`` (comma-separated) still decrypt what they encrypted.
:func:`sign`/:func:`unsign` remain for signed values that need no server state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from departures.errors import DeparturesError

__all__ = [
    "FALLBACKS_ENV",
    "MIN_SECRET_LENGTH",
    "SECRET_ENV",
    "RateLimiter",
    "WeakSecret",
    "check_secret",
    "fallback_keys",
    "hash_token",
    "load_secret_key",
    "new_token",
    "sign",
    "unsign",
]

SECRET_ENV = "DEPARTURES_COALITION_SECRET"
FALLBACKS_ENV = "DEPARTURES_COALITION_SECRET_FALLBACKS"
SECRET_FILE = "coalition.secret"
MIN_SECRET_LENGTH = 32
_MIN_DISTINCT = 8


class WeakSecret(DeparturesError):
    """The configured secret key is too short or too regular to protect anything."""


def check_secret(secret: str, where: str = SECRET_ENV) -> bytes:
    """``secret`` as bytes once it is strong enough; :class:`WeakSecret` otherwise.

    At least :data:`MIN_SECRET_LENGTH` characters and at least 8 different ones: a length
    check alone would take ``"a" * 32``. (A generated key — ``python -c "import secrets;
    print(secrets.token_urlsafe(32))"`` — passes with room to spare.)
    """
    text = secret.strip()
    if len(text) < MIN_SECRET_LENGTH or len(set(text)) < _MIN_DISTINCT:
        raise WeakSecret(
            f"{where} is too weak: it needs at least {MIN_SECRET_LENGTH} characters, "
            f"{_MIN_DISTINCT} of them different (it has {len(text)})",
            'Generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))"',
        )
    return text.encode()


def fallback_keys() -> list[bytes]:
    """The previous secret keys of ``DEPARTURES_COALITION_SECRET_FALLBACKS`` (rotation)."""
    raw = os.environ.get(FALLBACKS_ENV, "")
    return [check_secret(part, FALLBACKS_ENV) for part in raw.split(",") if part.strip()]


def new_token() -> str:
    """A fresh URL-safe random token (256 bits)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def load_secret_key(directory: Path | None = None) -> bytes:
    """The server's secret key, checked for strength (:class:`WeakSecret` at start).

    From ``DEPARTURES_COALITION_SECRET`` when set (several servers behind one PostgreSQL must
    share it); otherwise from ``coalition.secret`` next to the store, created once with mode
    0600. The fallback keys are checked here too, so that a weak one fails at start.
    """
    fallback_keys()
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return check_secret(from_env)
    path = (directory or Path.cwd()) / SECRET_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_token())
    return check_secret(path.read_text(), str(path))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, data: dict[str, Any], now: float | None = None) -> str:
    """``data`` as a tamper-proof string (JSON + issue time + HMAC)."""
    payload = _b64(json.dumps({"d": data, "t": int(now or time.time())}).encode())
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def unsign(key: bytes, value: str, max_age: float, now: float | None = None) -> dict[str, Any]:
    """The data in a string made by :func:`sign`; ``{}`` when forged, garbled or too old."""
    try:
        payload, mac = value.split(".", 1)
        expected = hmac.new(key, payload.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            return {}
        decoded = json.loads(_unb64(payload))
        if (now or time.time()) - float(decoded["t"]) > max_age:
            return {}
        data = decoded["d"]
    except (ValueError, KeyError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (a sliding window, in memory).

    Per process: behind several servers each enforces its own share, which is enough to
    stop one address from hammering the forms (guessing keys, flooding pledges). At most
    ``max_keys`` keys are tracked; past that the least recently seen is forgotten, so a flood
    of fresh addresses cannot wipe the counts of the ones being limited.
    """

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        # A dict keeps insertion order: re-inserting a key on use makes it an LRU.
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _touch(self, key: str, moment: float) -> deque[float]:
        """The key's events within the window, the key moved to the most recent end."""
        events = self._events.pop(key, None)
        if events is None:
            events = deque()
            while len(self._events) >= self.max_keys:
                del self._events[next(iter(self._events))]
        self._events[key] = events
        while events and events[0] <= moment - self.window:
            events.popleft()
        return events

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record an event for ``key``; False when it is over the limit."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            events = self._touch(key, moment)
            if len(events) >= self.limit:
                return False
            events.append(moment)
            return True

    def over(self, key: str, now: float | None = None) -> bool:
        """Whether ``key`` is at its limit now, without recording an event."""
        moment = time.monotonic() if now is None else now
        with self._lock:
            if key not in self._events:
                return False
            return len(self._touch(key, moment)) >= self.limit

    def __len__(self) -> int:
        return len(self._events)
