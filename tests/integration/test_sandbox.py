"""Against the real local network: accounts, writes on the PDS, reads through the AppView."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.waiting import poll

pytestmark = pytest.mark.sandbox

POST = "app.bsky.feed.post"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _post(text: str) -> dict[str, Any]:
    return {"$type": POST, "text": text, "createdAt": _now()}


def _call(
    url: str,
    method: str,
    account: Account | None,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An XRPC call; with ``account`` it carries the account's access token (PDS calls)."""
    headers = {"Authorization": f"Bearer {account.access_jwt}"} if account else {}
    if body is not None:
        response = httpx.post(f"{url}/xrpc/{method}", json=body, headers=headers, timeout=30)
    else:
        response = httpx.get(f"{url}/xrpc/{method}", params=params, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _poll(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """The AppView indexes asynchronously: retry until ``check`` returns something truthy."""
    return poll(check, timeout)


def test_new_accounts_get_unique_test_handles_and_dids(sandbox: TestSandbox) -> None:
    first = sandbox.new_account("org")
    second = sandbox.new_account("org")
    assert first.handle != second.handle
    assert first.handle.endswith(".test") and first.handle.startswith("org")
    assert first.did.startswith("did:plc:") and first.did != second.did
    assert first.app_password and first.app_password != first.password
    assert first.app_password not in repr(first)


def test_the_app_password_opens_a_session(sandbox: TestSandbox) -> None:
    account = sandbox.new_account("apppw")
    response = httpx.post(
        f"{sandbox.pds_url}/xrpc/com.atproto.server.createSession",
        json={"identifier": account.handle, "password": account.app_password},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["did"] == account.did


def test_posts_written_to_the_pds_are_read_back_through_the_appview(sandbox: TestSandbox) -> None:
    author = sandbox.new_account("author")
    created = _call(
        sandbox.pds_url,
        "com.atproto.repo.createRecord",
        author,
        {"repo": author.did, "collection": POST, "record": _post("one by createRecord")},
    )
    assert created["uri"].startswith(f"at://{author.did}/{POST}/")
    writes = [
        {
            "$type": "com.atproto.repo.applyWrites#create",
            "collection": POST,
            "value": _post(f"batch post {i}"),
        }
        for i in range(3)
    ]
    _call(
        sandbox.pds_url,
        "com.atproto.repo.applyWrites",
        author,
        {"repo": author.did, "writes": writes},
    )
    listed = _call(
        sandbox.pds_url,
        "com.atproto.repo.listRecords",
        author,
        params={"repo": author.did, "collection": POST},
    )
    assert len(listed["records"]) == 4

    def feed_texts() -> set[str]:
        response = httpx.get(
            f"{sandbox.appview_url}/xrpc/app.bsky.feed.getAuthorFeed",
            params={"actor": author.did},
            timeout=30,
        )
        if response.status_code == 400 and "Profile not found" in response.text:
            return set()  # the AppView has not indexed the new account yet
        assert response.status_code == 200, response.text
        texts = {item["post"]["record"]["text"] for item in response.json()["feed"]}
        return texts if len(texts) == 4 else set()

    assert _poll(feed_texts) == {
        "one by createRecord",
        "batch post 0",
        "batch post 1",
        "batch post 2",
    }
    profile = _call(
        sandbox.appview_url, "app.bsky.actor.getProfile", None, params={"actor": author.handle}
    )
    assert profile["did"] == author.did
    assert profile["handle"] == author.handle
    assert profile["postsCount"] == 4


def test_the_rate_limited_network_answers_429_with_the_real_headers(
    sandbox_rate_limited: TestSandbox,
) -> None:
    account = sandbox_rate_limited.new_account("limited")
    url = f"{sandbox_rate_limited.pds_url}/xrpc/com.atproto.server.createSession"
    body = {"identifier": account.handle, "password": account.app_password}
    statuses = []
    # createSession allows 30 per 5 minutes per account: the 31st is refused.
    with httpx.Client(timeout=30) as client:
        for _ in range(31):
            response = client.post(url, json=body)
            statuses.append(response.status_code)
            if response.status_code == 429:
                break
    assert statuses[-1] == 429, statuses
    assert response.json()["error"] == "RateLimitExceeded"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert "RateLimit-Reset" in response.headers
