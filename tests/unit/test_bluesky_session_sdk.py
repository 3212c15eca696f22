"""Sessions through the SDK's public API only: what lets ``atproto`` be a version range."""

from __future__ import annotations

import ast
from pathlib import Path

from atproto import Session

from departures.bluesky import session as session_module
from departures.bluesky.session import StoredSession, session_string

STORED = StoredSession(
    handle="ngo.example",
    did="did:plc:one",
    pds="https://pds.example",
    service="https://bsky.social",
    access_jwt="ACCESS",
    refresh_jwt="REFRESH",
    logged_in_at="2026-01-01T00:00:00+00:00",
)

#: Where session.py may take SDK names from: the package's top level, its exceptions, and
#: the request class (to set a timeout).
PUBLIC_SDK_MODULES = {"atproto", "atproto_client.exceptions", "atproto_client.request"}


def test_a_stored_session_becomes_the_session_string_the_sdk_imports() -> None:
    imported = Session.decode(session_string(STORED))
    assert (imported.handle, imported.did) == (STORED.handle, STORED.did)
    assert (imported.access_jwt, imported.refresh_jwt) == ("ACCESS", "REFRESH")
    assert imported.pds_endpoint == STORED.pds


def test_the_session_module_uses_no_private_part_of_the_sdk() -> None:
    tree = ast.parse(Path(session_module.__file__).read_text(encoding="utf-8"))
    modules = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and "atproto" in node.module
    }
    assert modules <= PUBLIC_SDK_MODULES, modules - PUBLIC_SDK_MODULES
    # The module's own private helpers (``self._load``) are fine; anybody else's are not.
    private = sorted(
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id == "self")
    )
    assert private == [], private
