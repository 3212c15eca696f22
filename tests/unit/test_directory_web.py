"""The directory's pages, in-process: Bluesky sign-in (through a fake checker), registering
from account.js, from a zip and as stated, withdrawal, the reconnect list, hostile uploads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import Engine

from departures.coalition.directory import Directory, DirectoryError, read_bulk_csv
from departures.coalition.errors import BadInput, NotAllowed, TooLarge
from departures.coalition.store import CoalitionStore
from departures.coalition.web import MAX_UPLOAD, CoalitionApp, read_upload
from helpers import uploads
from helpers.uploads import archive_zip
from helpers.web import InProcessBrowser, coalition_app

ALICE_DID = "did:plc:" + "a" * 24
BOB_DID = "did:plc:" + "b" * 24
ORG_DID = "did:plc:" + "c" * 24


class FakeSignIn:
    """Accepts the password "right" for the accounts it knows."""

    accounts: ClassVar[dict[str, str]] = {"alice.test": ALICE_DID, "bob.test": BOB_DID}

    def __init__(self) -> None:
        self.passwords_seen: list[str] = []

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        self.passwords_seen.append(password)
        if handle not in self.accounts or password != "right":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return self.accounts[handle], handle


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    """The store on the real clock (these tests move no time)."""
    return CoalitionStore(engine)


@pytest.fixture
def sign_in() -> FakeSignIn:
    return FakeSignIn()


@pytest.fixture
def app(store: CoalitionStore, sign_in: FakeSignIn) -> CoalitionApp:
    return coalition_app(
        store,
        base_url="http://testserver",
        bluesky_sign_in=sign_in,
        forms_per_minute=1000,
    )


@pytest.fixture
def client(app: CoalitionApp) -> Iterator[InProcessBrowser]:
    client = InProcessBrowser(app)
    yield client
    client.close()


def token(client: InProcessBrowser) -> str:
    return client.csrf("/directory")


def signed_in(client: InProcessBrowser, handle: str = "alice.test") -> InProcessBrowser:
    response = client.sign_in_to_directory(handle, "right")
    assert response.status_code == 200, response.text
    assert f"@{handle}" in response.text
    return client


def account_js(x_id: str = "12345", username: str = "alice_x") -> bytes:
    return uploads.account_js(x_id, username, email="secret@x")


def following_js(*ids: str) -> bytes:
    return uploads.following_js(*ids, links=True)


def register(
    client: InProcessBrowser,
    files: dict[str, tuple[str, bytes]] | None = None,
    consent: bool = True,
    **fields: str,
) -> httpx.Response:
    data: dict[str, Any] = {"csrf": token(client), **fields}
    if consent:
        data["consent"] = "yes"
    # httpx sends multipart only with files; an empty file part stands for "none chosen".
    return client.post("/directory/register", data=data, files=files or {"archive": ("", b"")})


def test_sign_in_keeps_the_did_and_not_the_password(
    client: InProcessBrowser, sign_in: FakeSignIn
) -> None:
    signed_in(client)
    assert sign_in.passwords_seen == ["right"]
    cookie = client.client.cookies.get("departures_session") or ""
    assert "right" not in cookie
    page = client.get("/directory")
    assert ALICE_DID in page.text and "You are not in the directory" in page.text


def test_a_wrong_app_password_is_a_403_page(client: InProcessBrowser) -> None:
    response = client.post(
        "/directory/sign-in",
        data={"csrf": token(client), "handle": "alice.test", "password": "wrong"},
    )
    assert response.status_code == 403
    assert "refused" in response.text
    assert "Signed in as" not in client.get("/directory").text


def test_register_from_account_js_then_lookup_then_withdraw(
    client: InProcessBrowser, store: CoalitionStore
) -> None:
    signed_in(client)
    response = register(client, {"archive": ("account.js", account_js())})
    assert response.status_code == 200, response.text
    assert "@alice_x" in response.text and "from your archive" in response.text
    lookup = client.get("/directory/lookup?x_ids=12345").json()
    assert lookup == {
        "entries": [
            {
                "x_id": "12345",
                "did": ALICE_DID,
                "handle": "alice.test",
                "level": "archive",
                "disputed": False,
            }
        ]
    }
    assert "secret@x" not in json.dumps(Directory(store.engine).export())

    withdrawn = client.post("/directory/withdraw", data={"csrf": token(client)})
    assert withdrawn.status_code == 200
    assert "1 entry was deleted" in withdrawn.text
    assert client.get("/directory/lookup?x_ids=12345").json() == {"entries": []}
    assert client.get("/directory/export.json").json() == {"entries": []}


def test_a_stated_handle_and_id_is_marked_self_declared(client: InProcessBrowser) -> None:
    signed_in(client)
    response = register(client, x_handle="@alice_x", x_id="777")
    assert response.status_code == 200, response.text
    assert "self-declared" in response.text
    assert client.get("/directory/lookup?x_ids=777").json()["entries"][0]["did"] == ALICE_DID


def test_a_zip_gives_the_account_and_the_reconnect_list(
    client: InProcessBrowser, app: CoalitionApp, store: CoalitionStore
) -> None:
    Directory(store.engine).register("500", "org_x", ORG_DID, "org.test", source="coordinator")
    Directory(store.engine).register("600", "bob_x", BOB_DID, "bob.test")
    signed_in(client)
    upload = archive_zip(
        {
            "data/account.js": account_js(),
            "data/following.js": following_js("500", "600", "999"),
            "data/tweets.js": b"never read",
        }
    )
    response = register(client, {"archive": ("twitter.zip", upload)})
    assert response.status_code == 200, response.text
    assert "Of the 3 accounts you followed on X, 2 are in the directory" in response.text
    assert f"https://bsky.app/profile/{ORG_DID}" in response.text
    assert f"https://bsky.app/profile/{BOB_DID}" in response.text

    # A withdrawn account no longer shows up for the followers either.
    bob = InProcessBrowser(app)
    try:
        signed_in(bob, "bob.test")
        bob.post("/directory/withdraw", data={"csrf": token(bob)})
    finally:
        bob.close()
    again = register(
        client,
        {"following": ("following.js", following_js("500", "600"))},
        x_handle="alice_x",
        x_id="12345",
    )
    assert f"https://bsky.app/profile/{BOB_DID}" not in again.text
    assert f"https://bsky.app/profile/{ORG_DID}" in again.text


def test_without_consent_nothing_is_stored(client: InProcessBrowser) -> None:
    signed_in(client)
    response = register(client, {"archive": ("account.js", account_js())}, consent=False)
    assert response.status_code == 400
    assert "he consent box is not ticked" in response.text
    assert client.get("/directory/lookup?x_ids=12345").json() == {"entries": []}


def test_registering_needs_a_signed_in_bluesky_account(client: InProcessBrowser) -> None:
    response = register(client, {"archive": ("account.js", account_js())})
    assert response.status_code == 403
    assert "ign in with your Bluesky account first" in response.text


def test_someone_elses_x_account_cannot_be_taken_over(
    client: InProcessBrowser, store: CoalitionStore
) -> None:
    # A second claim at the same level neither locks its maker out nor takes the account
    # over: both are kept, and the lookup answers them as disputed until a coordinator decides.
    Directory(store.engine).register("12345", "alice_x", BOB_DID, "bob.test")
    signed_in(client)
    response = register(client, {"archive": ("account.js", account_js())})
    assert response.status_code == 200
    entries = client.get("/directory/lookup?x_ids=12345").json()["entries"]
    assert {(e["did"], e["level"], e["disputed"]) for e in entries} == {
        (BOB_DID, "archive", True),
        (ALICE_DID, "archive", True),
    }


def test_a_script_as_username_is_refused_and_shown_as_text(client: InProcessBrowser) -> None:
    signed_in(client)
    hostile = account_js(username="<script>alert(1)</script>")
    response = register(client, {"archive": ("account.js", hostile)})
    assert response.status_code == 400
    assert "<script>" not in response.text and "&lt;script&gt;" in response.text


def test_a_non_numeric_x_id_is_a_400(client: InProcessBrowser) -> None:
    signed_in(client)
    response = register(client, {"archive": ("account.js", account_js(x_id="12a45"))})
    assert response.status_code == 400 and "is not a number" in response.text
    stated = register(client, x_handle="alice_x", x_id="1e9")
    assert stated.status_code == 400 and "is not a number" in stated.text


def test_an_oversized_upload_is_a_413_page(client: InProcessBrowser) -> None:
    signed_in(client)
    response = register(client, {"archive": ("big.zip", b"PK" + b"\0" * (MAX_UPLOAD + 10))})
    assert response.status_code == 413
    assert "larger than" in response.text


def test_a_zip_bomb_is_refused_without_unpacking_it() -> None:
    bomb = archive_zip({"data/account.js": b" " * (200 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    with pytest.raises(TooLarge):
        read_upload(bomb, None)


def test_a_zip_bomb_that_lies_about_its_size_is_refused() -> None:
    bomb = bytearray(archive_zip({"data/account.js": b" " * (8 * 1024 * 1024)}))
    # Patch the central directory's uncompressed size down to 100 bytes.
    central = bomb.rfind(b"PK\x01\x02")
    bomb[central + 24 : central + 28] = (100).to_bytes(4, "little")
    with pytest.raises((TooLarge, BadInput)):
        read_upload(bytes(bomb), None)


def test_zip_slip_names_are_not_read() -> None:
    upload = archive_zip({"../../data/account.js": account_js(), "x/../data/account.js": b""})
    with pytest.raises(BadInput, match=r"no data/account\.js"):
        read_upload(upload, None)


def test_a_zip_in_a_subfolder_is_read() -> None:
    upload = archive_zip({"twitter-2024/data/account.js": account_js()})
    assert read_upload(upload, None).account == ("12345", "alice_x")


def test_garbage_uploads_are_clear_400_pages(client: InProcessBrowser) -> None:
    signed_in(client)
    for name, data in [("account.js", b"\xff\xfe not js"), ("a.zip", b"PK\x03\x04broken")]:
        response = register(client, {"archive": (name, data)})
        assert response.status_code == 400, response.text
    following = register(
        client, {"following": ("following.js", b"[{]")}, x_handle="alice_x", x_id="1"
    )
    assert following.status_code == 400 and "following.js" in following.text


def test_an_upload_without_the_sessions_csrf_token_is_refused(client: InProcessBrowser) -> None:
    signed_in(client)
    response = client.post(
        "/directory/register",
        data={"csrf": "forged", "consent": "yes"},
        files={"archive": ("account.js", account_js())},
    )
    assert response.status_code == 403
    assert client.get("/directory/lookup?x_ids=12345").json() == {"entries": []}


def test_an_url_encoded_post_to_the_upload_is_a_400(client: InProcessBrowser) -> None:
    signed_in(client)
    response = client.post("/directory/register", data={"csrf": token(client)})
    assert response.status_code == 400


def test_the_coordinators_csv_is_read_and_checked_line_by_line() -> None:
    rows = read_bulk_csv(
        "\ufeffbluesky_handle,x_id,x_handle,note\n@Org.BSKY.social,42,@org_x,ignored\n".encode()
    )
    assert rows == [("42", "org_x", "org.bsky.social")]
    with pytest.raises(DirectoryError, match="no column x_id"):
        read_bulk_csv(b"id,x_handle,bluesky_handle\n1,a,b.test\n")
    with pytest.raises(DirectoryError, match="line 3: the X id 'abc' is not a number"):
        read_bulk_csv(b"x_id,x_handle,bluesky_handle\n1,a,a.test\nabc,b,b.test\n")
    with pytest.raises(DirectoryError, match="not UTF-8"):
        read_bulk_csv(b"x_id,x_handle,bluesky_handle\n1,\xe9,a.test\n")
    with pytest.raises(DirectoryError, match="not a Bluesky handle"):
        read_bulk_csv(b"x_id,x_handle,bluesky_handle\n1,a,nodot\n")
