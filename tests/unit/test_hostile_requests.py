"""The coalition service against the attacks of issue 11 (request-facing half), replayed so
they cannot come back: an anonymous 20 MB upload against a real uvicorn on loopback, forged
``X-Forwarded-For``, limiter floods, sign-in guessing, deeply nested JSON, zips with 150,000
entries, a hostile ``Host`` header, control characters through the CLI, and the headers every
response must carry (404, 405, ``/static``, redirects, errors)."""

from __future__ import annotations

import asyncio
import io
import re
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy import Engine

from departures.cli import cli, main
from departures.coalition.directory import ApiLimits, TokenBucket
from departures.coalition.errors import BadInput, TooMany
from departures.coalition.handles import XrpcHandleResolver
from departures.coalition.security import RateLimiter
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp, read_upload
from departures.coalition.web.middleware import public_text
from departures.coalition.web.perimeter import HSTS, client_key
from departures.coalition.web.settings import Deployment
from departures.coalition.web.throttle import SignInThrottle
from departures.errors import BlueskyError

ALICE_DID = "did:plc:" + "a" * 24
BOUNDARY = "hostileboundary"
TWENTY_MB = 20 * 1024 * 1024
HEADERS_EVERYWHERE = ("x-content-type-options", "content-security-policy", "x-frame-options")


class FakeSignIn:
    """Accepts alice.test with the password "right"; names an internal server otherwise."""

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        if (handle, password) != ("alice.test", "right"):
            raise BlueskyError(
                "Cannot reach the Bluesky server at http://10.0.0.7:2583/internal (ConnectError)",
                "Check the handle",
            )
        return ALICE_DID, handle


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The store on the real clock, in ``tmp_path/coalition.db`` (conftest's ``engine``)."""
    return CoalitionStore(engine)


def make_app(store: CoalitionStore, **options: Any) -> CoalitionApp:
    options.setdefault("base_url", "http://testserver")
    return CoalitionApp(
        store,
        secret_key=b"hostile-test-key",
        resolver=XrpcHandleResolver("http://127.0.0.1:9"),
        bluesky_sign_in=FakeSignIn(),
        **options,
    )


def call(
    app: CoalitionApp,
    method: str,
    path: str,
    *,
    client: str = "198.51.100.1",
    headers: dict[str, str] | None = None,
    base: str = "http://testserver",
    **kwargs: Any,
) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=(client, 4444))
        async with httpx.AsyncClient(transport=transport, base_url=base) as http:
            return await http.request(method, path, headers=headers, **kwargs)

    return asyncio.run(run())


# --- a real server: the anonymous 20 MB upload ------------------------------------------------


@pytest.fixture
def served(store: CoalitionStore) -> Iterator[tuple[str, int]]:
    """The app under a real uvicorn on a free loopback port, as ``coalition serve`` runs it."""
    app = make_app(store, base_url="http://127.0.0.1")
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="error",
        access_log=False,
        proxy_headers=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(10)


def hostile_upload(host: str, port: int, size: int = TWENTY_MB) -> tuple[int, float]:
    """POST a ``size``-byte multipart body of short lines with no cookie; (status, seconds)."""
    head = (
        f"POST /directory/register HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode()
    line = b"x\r\n" * 20_000
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""

        def send_body() -> None:
            sent = 0
            try:
                while sent < size:
                    chunk = line[: size - sent]
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the server answered and closed: exactly what is wanted

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
        seconds = time.monotonic() - started
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, seconds


def test_anonymous_20mb_upload_is_answered_within_a_second_while_get_stays_fast(
    served: tuple[str, int],
) -> None:
    host, port = served
    results: list[tuple[int, float]] = []
    uploader = threading.Thread(target=lambda: results.append(hostile_upload(host, port)))
    uploader.start()
    time.sleep(0.05)
    started = time.monotonic()
    page = httpx.get(f"http://{host}:{port}/", timeout=10)
    get_seconds = time.monotonic() - started
    uploader.join(30)
    status, upload_seconds = results[0]
    assert status == 403  # no session, no CSRF token: refused before the body is read
    assert upload_seconds < 1.0
    assert page.status_code == 200
    assert get_seconds < 1.0


def test_serve_passes_proxy_settings_to_uvicorn_explicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    monkeypatch.delenv("DEPARTURES_FORWARDED_ALLOW_IPS", raising=False)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    result = CliRunner().invoke(
        cli, ["coalition", "serve", "--db", db, "--tick-seconds", "0"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    # uvicorn's own default would believe X-Forwarded-For from 127.0.0.1.
    assert seen["proxy_headers"] is False
    assert seen["app"].deployment.trusted_proxies == ()
    env = {"DEPARTURES_FORWARDED_ALLOW_IPS": "10.0.0.2, 10.1.0.0/16"}
    result = CliRunner().invoke(
        cli,
        ["coalition", "serve", "--db", db, "--tick-seconds", "0", "--allowed-hosts", "b.example"],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert seen["app"].deployment.trusted_proxies == ("10.0.0.2", "10.1.0.0/16")
    assert seen["app"].deployment.allowed_hosts == ("b.example",)


# --- forged X-Forwarded-For, limiter keys and floods --------------------------------------------


def test_forged_forwarded_for_does_not_reset_a_limit_by_default(store: CoalitionStore) -> None:
    app = make_app(store, directory_limits=ApiLimits(exports_per_hour=2))
    for _ in range(2):
        assert call(app, "GET", "/directory/export.json", client="127.0.0.1").status_code == 200
    forged = {"X-Forwarded-For": "203.0.113.7"}
    again = call(app, "GET", "/directory/export.json", client="127.0.0.1", headers=forged)
    assert again.status_code == 429


def test_forwarded_for_is_honoured_only_from_a_configured_proxy(store: CoalitionStore) -> None:
    app = make_app(
        store,
        directory_limits=ApiLimits(exports_per_hour=1),
        deployment=Deployment(forwarded_allow_ips="127.0.0.1"),
    )

    def export(client: str, forwarded: str) -> int:
        headers = {"X-Forwarded-For": forwarded}
        return call(
            app, "GET", "/directory/export.json", client=client, headers=headers
        ).status_code

    # Through the proxy, each visitor has a bucket of their own ...
    assert export("127.0.0.1", "203.0.113.7") == 200
    assert export("127.0.0.1", "203.0.113.8") == 200
    assert export("127.0.0.1", "203.0.113.7") == 429
    # ... and a left-most entry the visitor wrote changes nothing: nginx appends the real one.
    assert export("127.0.0.1", "198.51.100.99, 203.0.113.7") == 429
    # From anywhere else the header is not believed.
    assert export("192.0.2.50", "203.0.113.9") == 200
    assert export("192.0.2.50", "203.0.113.10") == 429


def test_ipv6_clients_are_limited_by_their_64() -> None:
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9")
    assert client_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key("192.0.2.1") == "192.0.2.1"
    assert client_key("unknown") == "unknown"


def test_a_flood_of_addresses_evicts_the_oldest_not_the_limited_ones() -> None:
    limiter = RateLimiter(2, 60.0, max_keys=50)
    assert limiter.allow("attacker", 0.0) and limiter.allow("attacker", 0.0)
    for n in range(1_000):
        limiter.allow(f"fresh-{n}", 1.0)
        assert not limiter.allow("attacker", 1.0)  # still limited, never wiped
    assert len(limiter) <= 50

    now = [0.0]
    bucket = TokenBucket(2, 3600.0, clock=lambda: now[0], max_keys=50)
    assert bucket.take("attacker") == 0 and bucket.take("attacker") == 0
    for n in range(1_000):
        bucket.take(f"fresh-{n}")
        assert bucket.take("attacker") > 0
    assert len(bucket._buckets) <= 50


# --- sign-in guessing ---------------------------------------------------------------------------


def csrf_session(app: CoalitionApp, client: str) -> tuple[str, str]:
    """A visitor's session cookie and the CSRF token of the directory page."""
    page = call(app, "GET", "/directory", client=client)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    return page.cookies["departures_session"], token.group(1)


def test_app_password_guesses_are_limited_per_account_across_addresses(
    store: CoalitionStore,
) -> None:
    app = make_app(store)
    statuses = []
    for n in range(12):
        client = f"203.0.113.{n + 1}"
        cookie, csrf = csrf_session(app, client)
        answer = call(
            app,
            "POST",
            "/directory/sign-in",
            client=client,
            headers={"Cookie": f"departures_session={cookie}"},
            data={"csrf": csrf, "handle": "alice.test", "password": f"guess{n}"},
        )
        statuses.append(answer.status_code)
    assert statuses[:10] == [400] * 10
    assert statuses[10:] == [429, 429]
    # Even the right password waits: the account is locked for the window, not the guesser.
    cookie, csrf = csrf_session(app, "192.0.2.200")
    right = call(
        app,
        "POST",
        "/directory/sign-in",
        client="192.0.2.200",
        headers={"Cookie": f"departures_session={cookie}"},
        data={"csrf": csrf, "handle": "alice.test", "password": "right"},
    )
    assert right.status_code == 429
    assert "oo many failed sign-ins for this account" in right.text


def test_member_key_guesses_are_limited_per_address() -> None:
    throttle = SignInThrottle(per_address=3, per_account=10, window=60.0)
    for _ in range(3):
        throttle.check("192.0.2.1", now=0.0)
        throttle.failed("192.0.2.1", now=0.0)
    with pytest.raises(TooMany, match="from your address"):
        throttle.check("192.0.2.1", now=1.0)
    throttle.check("192.0.2.2", now=1.0)  # another address is not affected
    throttle.check("192.0.2.1", now=61.0)  # and the window slides


def test_error_pages_do_not_name_the_servers_behind_the_service(store: CoalitionStore) -> None:
    app = make_app(store)
    cookie, csrf = csrf_session(app, "192.0.2.9")
    answer = call(
        app,
        "POST",
        "/directory/sign-in",
        client="192.0.2.9",
        headers={"Cookie": f"departures_session={cookie}"},
        data={"csrf": csrf, "handle": "bob.test", "password": "x"},
    )
    assert answer.status_code == 400
    assert "10.0.0.7" not in answer.text and "http://" not in answer.text.split("<body")[-1]
    assert public_text("at https://pds.internal:2583/x (E)") == "at the server (E)"


def test_the_handle_service_url_is_not_on_the_page_but_examples_are(
    store: CoalitionStore,
) -> None:
    app = make_app(store)  # its handle service, http://127.0.0.1:9, does not answer
    _slug, invite = open_campaign_with_invite(store)
    form = call(app, "GET", f"/invite/{invite}")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    cookie = {"Cookie": f"departures_session={form.cookies['departures_session']}"}
    fields = {"csrf": token.group(1), "name": "Org", "bluesky_handle": "org.example.org"}
    unresolved = call(app, "POST", f"/invite/{invite}", headers=cookie, data=fields)
    assert unresolved.status_code == 400
    assert "127.0.0.1:9" not in unresolved.text
    fields = {"csrf": token.group(1), "name": "Org", "website": "ftp://org.example"}
    bad_site = call(app, "POST", f"/invite/{invite}", headers=cookie, data=fields)
    assert bad_site.status_code == 400
    assert "https://example.org" in bad_site.text  # our own hint keeps its example


# --- deep JSON and huge zips --------------------------------------------------------------------


DEEP = b"[" * 200_000


def zipped(**members: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_deeply_nested_following_js_is_a_400_with_one_line(store: CoalitionStore) -> None:
    with pytest.raises(BadInput, match=r"not the following\.js"):
        read_upload(None, b"window.YTD.following.part0 = " + DEEP)
    with pytest.raises(BadInput, match=r"not the account\.js|cannot be read") as inside:
        read_upload(zipped(**{"data/account.js": DEEP}), None)
    assert "encrypted" not in inside.value.message
    with pytest.raises(BadInput) as following:
        account = b'window.YTD.account.part0 = [{"account": {"accountId": "1", "username": "a"}}]'
        read_upload(zipped(**{"data/account.js": account, "data/following.js": DEEP}), None)
    assert "encrypted" not in following.value.message
    assert "following.js" in following.value.message


def test_deep_json_upload_over_http_is_a_400_page(store: CoalitionStore) -> None:
    app = make_app(store)
    cookie, csrf = csrf_session(app, "192.0.2.30")
    headers = {"Cookie": f"departures_session={cookie}"}
    signed = call(
        app,
        "POST",
        "/directory/sign-in",
        client="192.0.2.30",
        headers=headers,
        data={"csrf": csrf, "handle": "alice.test", "password": "right"},
    )
    assert signed.status_code == 303
    headers = {"Cookie": f"departures_session={signed.cookies['departures_session']}"}
    page = call(app, "GET", "/directory", client="192.0.2.30", headers=headers)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = call(
        app,
        "POST",
        "/directory/register",
        client="192.0.2.30",
        headers=headers,
        data={"csrf": token.group(1), "consent": "on", "x_handle": "alice", "x_id": "12"},
        files={"following": ("following.js", DEEP, "application/javascript")},
    )
    assert answer.status_code == 400
    assert "not the following.js of an X archive" in answer.text
    assert "Traceback" not in answer.text


def many_entries_zip(count: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        info = zipfile.ZipInfo("data/x")
        for n in range(count):
            info.filename = f"{n}"
            archive.writestr(info, b"")
    return buffer.getvalue()


def test_a_zip_of_150000_entries_is_refused_before_its_directory_is_read() -> None:
    data = many_entries_zip(150_000)
    started = time.process_time()
    with pytest.raises(BadInput, match="holds more than 20000 files"):
        read_upload(data, None)
    assert time.process_time() - started < 0.2  # zipfile would spend seconds on it
    # A small zip with the same shape is read as before.
    with pytest.raises(BadInput, match=r"no data/account\.js"):
        read_upload(many_entries_zip(10), None)


def test_a_zip_with_a_lying_entry_count_is_judged_by_its_directory_size() -> None:
    data = bytearray(many_entries_zip(30_000))  # no zip64: the count fits in 16 bits
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (5).to_bytes(2, "little") * 2  # claims 5 entries
    with pytest.raises(BadInput, match="holds more than"):
        read_upload(bytes(data), None)
    with pytest.raises(BadInput, match="cannot be read"):
        read_upload(b"PK" + b"\x00" * 100, None)


# --- the Host header, redirects and the headers of every response -------------------------------


def raw_get(app: CoalitionApp, path: str) -> dict[str, Any]:
    """The response start of a GET of ``path`` exactly as written, as a raw ASGI call."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("192.0.2.1", 1),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]


def test_a_foreign_host_header_is_refused_and_never_redirected_to(store: CoalitionStore) -> None:
    app = make_app(store)
    evil = call(app, "GET", "/member/", headers={"Host": "evil.example"})
    assert evil.status_code == 400
    assert "evil.example" not in evil.headers.get("location", "")
    assert "does not answer to that host name" in evil.text
    for name in HEADERS_EVERYWHERE:
        assert name in evil.headers
    slash = call(app, "GET", "/member/?x=1")
    assert slash.status_code == 307
    assert slash.headers["location"] == "/member?x=1"  # relative: no Host in it
    sneaky = raw_get(app, "//evil.example/")  # httpx would read it as a host name
    assert sneaky["status"] == 404
    assert not any(name == b"location" for name, _value in sneaky["headers"])
    # The port is not part of the name; the allow-list can be extended.
    assert call(app, "GET", "/", headers={"Host": "testserver:8443"}).status_code == 200
    wide = make_app(store, deployment=Deployment(allowed_hosts=("coalition.example",)))
    assert call(wide, "GET", "/", headers={"Host": "coalition.example"}).status_code == 200
    assert call(wide, "GET", "/", headers={"Host": "other.example"}).status_code == 400


def test_headers_are_on_404_405_static_redirect_and_error_responses(
    store: CoalitionStore,
) -> None:
    app = make_app(store)
    answers = {
        "404": call(app, "GET", "/no/such/page"),
        "405": call(app, "DELETE", "/"),
        "static": call(app, "GET", "/static/style.css"),
        "redirect": call(app, "GET", "/directory/"),
        "403": call(app, "POST", "/directory/register"),
    }
    assert answers["404"].status_code == 404
    assert answers["405"].status_code == 405
    assert answers["static"].status_code == 200
    assert answers["redirect"].status_code == 307
    assert answers["403"].status_code == 403
    for what, answer in answers.items():
        for name in HEADERS_EVERYWHERE:
            assert name in answer.headers, (what, name)
        assert "strict-transport-security" not in answer.headers  # plain http


def test_hsts_under_https_and_behind_a_trusted_proxy_only(store: CoalitionStore) -> None:
    https = make_app(store, base_url="https://coalition.example")
    answer = call(https, "GET", "/static/style.css", base="https://coalition.example")
    assert answer.headers["strict-transport-security"] == HSTS

    proxied = make_app(
        store,
        base_url="http://coalition.example",
        deployment=Deployment(forwarded_allow_ips="127.0.0.1"),
    )
    says_https = {"X-Forwarded-Proto": "https", "Host": "coalition.example"}
    trusted = call(proxied, "GET", "/", client="127.0.0.1", headers=says_https)
    assert trusted.headers["strict-transport-security"] == HSTS
    untrusted = call(proxied, "GET", "/", client="192.0.2.1", headers=says_https)
    assert "strict-transport-security" not in untrusted.headers


def open_campaign_with_invite(store: CoalitionStore) -> tuple[str, str]:
    coordinator, _token = store.create_coordinator("Coordinator")
    soon = datetime.now(UTC) + timedelta(days=7)
    campaign = store.create_campaign(
        coordinator,
        title="Leave X",
        threshold=2,
        deadline=soon,
        departure_at=soon + timedelta(days=7),
    )
    store.open_campaign(campaign.slug, coordinator)
    return campaign.slug, store.create_invite(campaign.slug, coordinator)


def test_pages_with_secrets_are_not_stored(store: CoalitionStore) -> None:
    app = make_app(store)
    slug, invite = open_campaign_with_invite(store)
    form = call(app, "GET", f"/invite/{invite}")
    assert form.headers["cache-control"] == "no-store"
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    cookie = {"Cookie": f"departures_session={form.cookies['departures_session']}"}
    joined = call(
        app,
        "POST",
        f"/invite/{invite}",
        headers=cookie,
        data={"csrf": token.group(1), "name": "Org"},
    )
    assert joined.status_code == 200
    assert "member key" in joined.text.lower()
    assert joined.headers["cache-control"] == "no-store"
    signed_in = {"Cookie": f"departures_session={joined.cookies['departures_session']}"}
    board = call(app, "GET", f"/campaigns/{slug}", headers=signed_in)
    assert board.headers["cache-control"] == "no-store"
    anonymous = call(app, "GET", f"/campaigns/{slug}")
    assert anonymous.headers.get("cache-control") != "no-store"


# --- control characters -------------------------------------------------------------------------


def test_the_store_refuses_control_characters_and_the_feed_stays_valid_xml(
    store: CoalitionStore,
) -> None:
    coordinator, _token = store.create_coordinator("Coordinator")
    soon = datetime.now(UTC) + timedelta(days=7)
    terms = {"threshold": 2, "deadline": soon, "departure_at": soon + timedelta(days=7)}
    with pytest.raises(BadInput, match=r"the title contains a control character \(U\+0007\)"):
        store.create_campaign(coordinator, title="Leave\x07X", **terms)
    with pytest.raises(BadInput, match="longer than 200"):
        store.create_campaign(coordinator, title="L" * 201, **terms)
    campaign = store.create_campaign(
        coordinator, title="Leave X", description="line one\r\nline\ttwo", **terms
    )
    assert campaign.description == "line one\nline\ttwo"
    with pytest.raises(BadInput, match="control character"):
        store.update_campaign(campaign.slug, coordinator, description="bell\x07")
    store.open_campaign(campaign.slug, coordinator)
    invite = store.create_invite(campaign.slug, coordinator)
    with pytest.raises(BadInput, match="the name contains a control character"):
        store.accept_invite(invite, name="Org\x1b[31m")
    organisation, _key = store.accept_invite(invite, name="Org")
    with pytest.raises(BadInput, match="Bluesky handle contains"):
        store.update_organisation(organisation.id, bluesky_handle="org.example\x00")
    store.update_organisation(organisation.id, bluesky_handle="org.example")
    store.mark_landed(organisation.id, at=campaign.departure_at + timedelta(hours=1))
    feed = call(make_app(store), "GET", f"/campaigns/{campaign.slug}/feed.atom")
    assert feed.status_code == 200
    ElementTree.fromstring(feed.content)  # valid XML


def test_a_control_character_from_the_cli_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    soon = datetime.now(UTC) + timedelta(days=7)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "coalition",
                "campaign",
                "create",
                "--db",
                f"sqlite:///{tmp_path / 'c.db'}",
                "--title",
                "Leave\x1b]0;owned\x07X",
                "--threshold",
                "3",
                "--deadline",
                soon.strftime("%Y-%m-%dT%H:%M"),
                "--departure",
                (soon + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
            ]
        )
    assert exit_info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "Error: the title contains a control character (U+001B). "
        "Retype it without the invisible character that pasted text can carry."
    ]


# --- every POST: sign-in and CSRF before a byte of the body --------------------------------------


def post_routes(app: CoalitionApp) -> list[str]:
    """Every path that takes a POST, its parameters filled with harmless values."""
    paths = []
    for route in app.app.routes:
        methods = getattr(route, "methods", None) or set()
        if "POST" in methods:
            path = re.sub(r"\{[^}:]+:int\}", "1", getattr(route, "path", ""))
            paths.append(re.sub(r"\{[^}]+\}", "x", path))
    return paths


def post_counting_body(app: CoalitionApp, path: str, cookie: str = "") -> tuple[int, int]:
    """POST ``path`` declaring a 60 MB multipart body; (status, body bytes the app pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []
    headers = [
        (b"host", b"testserver"),
        (b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),
        (b"content-length", str(60 * 1024 * 1024).encode()),
    ]
    if cookie:
        headers.append((b"cookie", f"departures_session={cookie}".encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("192.0.2.77", 1),
        "server": ("testserver", 80),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 64 * 1024
        return {"type": "http.request", "body": b"x" * 64 * 1024, "more_body": True}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], pulled


def test_every_post_is_refused_before_its_body_is_read(store: CoalitionStore) -> None:
    # Two POSTs per route from one address: more than the default 60 forms a minute once
    # there are over 30 routes; the form limit is tested on its own.
    app = make_app(store, forms_per_minute=1000)
    paths = post_routes(app)
    assert {"/login", "/directory/register", "/member/reconnect"} <= set(paths)
    cookie, _csrf = csrf_session(app, "192.0.2.77")  # a session with a token, not signed in
    for path in paths:
        # No cookie: no CSRF token can match, whatever the body would say.
        assert post_counting_body(app, path) == (403, 0), path
        # A visitor's session but nobody signed in: the guard or the declared size refuses.
        status, pulled = post_counting_body(app, path, cookie)
        assert pulled == 0, path
        assert status in (403, 413), path
