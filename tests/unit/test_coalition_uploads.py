"""Uploads to the coalition's multipart forms, driven as raw ASGI calls whose body arrives in
chunks the test counts: per-endpoint limits refuse a body while it streams (or from its
Content-Length before a byte is read), a visitor without a session is refused before the body
is read, malformed bodies are 400 pages, and a valid upload is read from its spooled file in a
worker thread."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from departures.coalition.db import connect, migrate
from departures.coalition.errors import NotAllowed
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp, read_upload
from departures.coalition.web import directory as directory_views
from departures.coalition.web.directory import FOLLOW_ALL_FORM, REGISTER_UPLOAD

ALICE_DID = "did:plc:" + "a" * 24
BOUNDARY = "testboundary7MA4YWxkTrZu0gW"
CHUNK = 64 * 1024


class FakeSignIn:
    """Accepts alice.test with the password "right"."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        if (handle, password) != ("alice.test", "right"):
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return ALICE_DID, handle


@pytest.fixture
def app(tmp_path: Path) -> Iterator[CoalitionApp]:
    engine = connect(f"sqlite:///{tmp_path / 'coalition.db'}")
    migrate(engine)
    yield CoalitionApp(
        CoalitionStore(engine),
        secret_key=b"test-key",
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        base_url="http://testserver",
        bluesky_sign_in=FakeSignIn(),
        forms_per_minute=1000,
    )
    engine.dispose()


@dataclass
class Visitor:
    """A browser's session cookie and the CSRF token of its pages."""

    cookie: str
    csrf: str


def _visit(app: CoalitionApp, sign_in: bool) -> Visitor:
    async def run() -> Visitor:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = await client.get("/directory")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            token = csrf.group(1)
            if sign_in:
                data = {"csrf": token, "handle": "alice.test", "password": "right"}
                await client.post("/directory/sign-in", data=data, follow_redirects=True)
                page = await client.get("/directory")
                found = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert found and ALICE_DID in page.text
                token = found.group(1)
            cookie = client.cookies.get("departures_session")
            assert cookie
            return Visitor(f"departures_session={cookie}", token)

    return asyncio.run(run())


@pytest.fixture
def alice(app: CoalitionApp) -> Visitor:
    return _visit(app, sign_in=True)


@pytest.fixture
def stranger(app: CoalitionApp) -> Visitor:
    """Has visited the page (a session with a CSRF token) but is not signed in."""
    return _visit(app, sign_in=False)


@dataclass
class Answer:
    status: int
    body: str
    read: int  # body bytes the app pulled from the client
    seconds: float


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def multipart(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def _zeros(size: int) -> Iterator[bytes]:
    """``size`` bytes of one file part, made as they are sent (the test holds none of it)."""
    yield _part("csrf", b"x")
    yield _part("archive", b"", "big.zip")[:-2]  # its data follows; no closing boundary
    zero = bytes(CHUNK)
    for _ in range(size // CHUNK):
        yield zero


def post(
    app: CoalitionApp,
    path: str,
    body: Iterator[bytes],
    *,
    visitor: Visitor | None = None,
    content_length: int | None = None,
    content_type: str = f"multipart/form-data; boundary={BOUNDARY}",
    headers: dict[str, str] | None = None,
) -> Answer:
    """POST ``body`` (pulled chunk by chunk, counted) to ``path`` as a raw ASGI request."""
    raw = [(b"content-type", content_type.encode()), (b"host", b"testserver")]
    if content_length is not None:
        raw.append((b"content-length", str(content_length).encode()))
    if visitor is not None:
        raw.append((b"cookie", visitor.cookie.encode()))
    for name, value in (headers or {}).items():
        raw.append((name.lower().encode(), value.encode()))
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw,
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        chunk = next(body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.perf_counter()
    asyncio.run(app(scope, receive, send))
    seconds = time.perf_counter() - started
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    text = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(status, text.decode(), read, seconds)


def account_js(x_id: str = "12345", username: str = "alice_x") -> bytes:
    item = [{"account": {"accountId": x_id, "username": username}}]
    return b"window.YTD.account.part0 = " + json.dumps(item).encode()


# --- limits -----------------------------------------------------------------------------------


def test_a_body_over_the_endpoints_limit_is_refused_while_it_streams(
    app: CoalitionApp, alice: Visitor
) -> None:
    # No Content-Length (a chunked upload): the bound is counted as the body arrives.
    size = 8 * 1024 * 1024
    answer = post(app, "/directory/follow-all", _zeros(size), visitor=alice)
    assert answer.status == 413
    assert "This upload is larger than" in answer.body  # what went wrong, then what to do:
    assert "Register again with your following.js" in answer.body
    assert answer.read <= FOLLOW_ALL_FORM.max_body + CHUNK
    assert answer.read < size // 4


def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
    app: CoalitionApp, alice: Visitor
) -> None:
    size = REGISTER_UPLOAD.max_body + 1
    answer = post(app, "/directory/register", _zeros(size), visitor=alice, content_length=size)
    assert answer.status == 413
    assert "Upload data/account.js and data/following.js on their own" in answer.body
    assert answer.read == 0


def test_a_text_field_over_its_limit_is_a_413(app: CoalitionApp, alice: Visitor) -> None:
    body = multipart(_part("csrf", alice.csrf.encode()), _part("x_id", b"1" * 5000))
    answer = post(app, "/directory/register", _chunks(body), visitor=alice)
    assert answer.status == 413
    assert "field of this form is too long" in answer.body


def test_more_files_than_the_form_has_is_a_400(app: CoalitionApp, alice: Visitor) -> None:
    files = [_part(f"f{n}", b"data", f"f{n}.js") for n in range(3)]
    body = multipart(_part("csrf", alice.csrf.encode()), *files)
    answer = post(app, "/directory/register", _chunks(body), visitor=alice)
    assert answer.status == 400
    assert "more parts than this form sends" in answer.body
    assert "Use the form on the page" in answer.body


# --- refused before the body ------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/directory/register", "/directory/follow-all", "/member/reconnect"]
)
def test_an_upload_without_a_sign_in_is_a_quick_403_that_reads_nothing(
    app: CoalitionApp, stranger: Visitor, path: str
) -> None:
    size = 20 * 1024 * 1024
    tracemalloc.start()
    try:
        answer = post(app, path, _zeros(size), visitor=stranger, content_length=size + 200)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status == 403
    assert "sign in" in answer.body.lower() or "Sign in" in answer.body
    assert answer.read == 0
    assert answer.seconds < 1.0
    assert peak < 4 * 1024 * 1024


def test_a_20_mb_upload_without_any_session_is_refused_at_once(app: CoalitionApp) -> None:
    # Through httpx as a client would send it, no cookie at all.
    body = multipart(_part("archive", bytes(20 * 1024 * 1024), "twitter.zip"))

    async def run() -> tuple[httpx.Response, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            started = time.perf_counter()
            response = await client.post(
                "/directory/register",
                content=body,
                headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
            )
            return response, time.perf_counter() - started

    response, seconds = asyncio.run(run())
    assert response.status_code == 403
    assert seconds < 1.0


@pytest.mark.parametrize(
    "path", ["/member/pledge", "/coordinator/campaigns", "/directory/withdraw"]
)
def test_an_ordinary_form_past_sign_in_is_refused_before_its_body(
    app: CoalitionApp, stranger: Visitor, path: str
) -> None:
    body = f"csrf={stranger.csrf}&kind=unconditional&pad={'x' * 20_000}".encode()
    answer = post(
        app,
        path,
        _chunks(body),
        visitor=stranger,
        content_length=len(body),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status == 403
    assert answer.read == 0


def test_a_wrong_csrf_header_is_refused_before_the_body(app: CoalitionApp, alice: Visitor) -> None:
    body = multipart(_part("consent", b"yes"), _part("archive", account_js(), "account.js"))
    answer = post(
        app, "/directory/register", _chunks(body), visitor=alice, headers={"X-CSRF-Token": "no"}
    )
    assert answer.status == 403
    assert "did not come from this site" in answer.body
    assert answer.read == 0


def test_the_right_csrf_header_stands_for_the_field(app: CoalitionApp, alice: Visitor) -> None:
    body = multipart(_part("consent", b"yes"), _part("archive", account_js(), "account.js"))
    answer = post(
        app,
        "/directory/register",
        _chunks(body),
        visitor=alice,
        headers={"X-CSRF-Token": alice.csrf},
    )
    assert answer.status == 200, answer.body
    assert "@alice_x" in answer.body


# --- malformed bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (f"multipart/form-data; boundary={BOUNDARY}", b"this is not multipart at all"),
        (f"multipart/form-data; boundary={BOUNDARY}", b"--" + BOUNDARY.encode() + b"\r\nno header"),
        ("multipart/form-data", multipart(_part("csrf", b"x"))),  # no boundary
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
            f"--{BOUNDARY}--\r\n".encode(),
        ),  # a part without a name
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            multipart(_part("csrf", b"a"), _part("csrf", b"b")),
        ),  # a field twice
        ("application/json", b'{"csrf": "x"}'),
    ],
    ids=["garbage", "truncated", "no-boundary", "no-name", "twice", "json"],
)
def test_a_malformed_upload_is_a_400_page_not_a_500(
    app: CoalitionApp, alice: Visitor, content_type: str, body: bytes
) -> None:
    answer = post(
        app, "/directory/register", _chunks(body), visitor=alice, content_type=content_type
    )
    assert answer.status == 400, answer.body
    assert "Server error" not in answer.body
    hint = re.search(r"<p>([^<]+)</p><p><a href=\"/\">", answer.body)
    assert hint and hint.group(1).strip()  # one line that says what to do


# --- a valid upload ---------------------------------------------------------------------------


def test_a_zip_larger_than_the_spool_is_read_from_disk_in_a_worker_thread(
    app: CoalitionApp, alice: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("data/account.js", account_js())
        archive.writestr("data/tweets-media/noise.bin", os.urandom(3 * 1024 * 1024))
    threads: list[bool] = []

    def watched(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return read_upload(*args, **kwargs)

    monkeypatch.setattr(directory_views, "read_upload", watched)
    body = multipart(
        _part("csrf", alice.csrf.encode()),
        _part("consent", b"yes"),
        _part("archive", buffer.getvalue(), "twitter.zip"),
    )
    answer = post(app, "/directory/register", _chunks(body), visitor=alice)
    assert answer.status == 200, answer.body
    assert "@alice_x" in answer.body and "from your archive" in answer.body
    assert threads == [False]  # read off the event loop's thread
