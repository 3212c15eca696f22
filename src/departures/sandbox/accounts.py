"""Accounts on the sandbox's PDS: created with a password and an app password.

The sandbox's PDS needs no invite code and no e-mail verification; handles end in ``.test``.
This is the only place the sandbox talks XRPC: all other Bluesky traffic goes through
:mod:`departures.bluesky`, pointed at the sandbox's URL like at any other server.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from departures.errors import SandboxError

HANDLE_DOMAIN = ".test"
# The PDS allows 3 to 18 characters before its service domain.
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,16}[a-z0-9]$")


@dataclass(frozen=True)
class Account:
    """A sandbox account; ``app_password`` is what other commands should log in with."""

    handle: str
    did: str
    password: str
    app_password: str
    access_jwt: str
    refresh_jwt: str
    service: str

    def __repr__(self) -> str:  # secrets stay out of logs and test reports
        return f"Account(handle={self.handle!r}, did={self.did!r}, service={self.service!r})"


def full_handle(handle: str) -> str:
    """``name`` or ``name.test`` → ``name.test``; a clear error for a handle the PDS refuses."""
    name = handle.strip().lower().removeprefix("@")
    name = name.removesuffix(HANDLE_DOMAIN)
    if not _NAME.match(name):
        raise SandboxError(
            f"'{handle}' is not a valid sandbox handle",
            "Use 3 to 18 letters, digits or hyphens (not at either end), e.g. "
            "`departures sandbox account ngo-demo` for ngo-demo.test",
        )
    return name + HANDLE_DOMAIN


def create_account(
    pds_url: str, handle: str, *, password: str | None = None, app_password_name: str = "departures"
) -> Account:
    """Create ``handle`` (``.test``) on the sandbox PDS and an app password for it."""
    full = full_handle(handle)
    password = password or secrets.token_urlsafe(18)
    with httpx.Client(base_url=pds_url, timeout=30.0) as client:
        session = _xrpc(
            client,
            "com.atproto.server.createAccount",
            {
                "handle": full,
                "email": f"{full.removesuffix(HANDLE_DOMAIN)}@departures.invalid",
                "password": password,
            },
            what=f"create the account {full}",
        )
        app = _xrpc(
            client,
            "com.atproto.server.createAppPassword",
            {"name": app_password_name},
            what=f"create an app password for {full}",
            token=session["accessJwt"],
        )
    return Account(
        handle=session["handle"],
        did=session["did"],
        password=password,
        app_password=app["password"],
        access_jwt=session["accessJwt"],
        refresh_jwt=session["refreshJwt"],
        service=pds_url,
    )


def _xrpc(
    client: httpx.Client, method: str, body: dict[str, Any], *, what: str, token: str | None = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = client.post(f"/xrpc/{method}", json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise SandboxError(
            f"cannot reach the sandbox PDS at {client.base_url} to {what}: {exc}",
            "Start it with: departures sandbox up",
        ) from exc
    if response.status_code != 200:
        try:
            error = response.json()
            detail = f"{error.get('error')}: {error.get('message')}"
        except ValueError:
            detail = response.text[:200]
        hint = (
            "Choose another handle"
            if "Handle" in detail
            else "Check the sandbox with: departures sandbox status"
        )
        raise SandboxError(f"the sandbox PDS refused to {what} ({detail})", hint)
    result: dict[str, Any] = response.json()
    return result
