"""The claims pages in-process and the ``departures coalition claims`` commands: coordinators
vouch (audited, shown) and decide disputes from their page and the shell; hostile form fields
and arguments get one clear line and change nothing; Sign in with X refuses a callback it did
not start, a replayed one and a refusal at X, and is not offered without X credentials."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from sqlalchemy import Engine

from departures.coalition.directory import Directory
from departures.coalition.errors import NotAllowed
from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.cli import run_cli
from helpers.web import InProcessBrowser, coalition_app
from helpers.x_standin import CLIENT_ID, CLIENT_SECRET

ALICE = "did:plc:" + "a" * 24
BOB = "did:plc:" + "b" * 24


class DirectorySignIn:
    """The directory's Bluesky sign-in for these in-process pages (the real one, an app
    password checked on a PDS, is tested against the sandbox in test_claims_impostor_sandbox)."""

    accounts: ClassVar[dict[str, str]] = {"alice.test": ALICE, "bob.test": BOB}

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        if handle not in self.accounts or password != "right":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return self.accounts[handle], handle


@pytest.fixture
def store(engine: Engine) -> CoalitionStore:
    return CoalitionStore(engine)


def make_app(store: CoalitionStore, **options: object) -> CoalitionApp:
    return coalition_app(
        store,
        base_url="http://testserver",
        forms_per_minute=1000,
        bluesky_sign_in=DirectorySignIn(),
        **options,
    )


@pytest.fixture
def office(store: CoalitionStore) -> Iterator[tuple[InProcessBrowser, str]]:
    """A signed-in coordinator's browser, and their token (for the CLI)."""
    _id, token = store.create_coordinator("Directory office")
    with InProcessBrowser(make_app(store)) as browser:
        assert browser.submit("/login", {"token": token}, "/login").status_code == 200
        yield browser, token


def test_the_claims_page_is_for_coordinators_only(store: CoalitionStore) -> None:
    with InProcessBrowser(make_app(store)) as visitor:
        page = visitor.get("/coordinator/claims")
        assert page.status_code == 403 and "his page is for coordinators" in page.text
        refused = visitor.post(
            "/coordinator/claims/vouch", data={"x_id": "1", "did": ALICE, "reason": "x"}
        )
        assert refused.status_code == 403


def test_a_coordinator_vouches_from_the_page_and_the_audit_shows_who_and_why(
    store: CoalitionStore, office: tuple[InProcessBrowser, str]
) -> None:
    browser, _token = office
    Directory(store.engine).register("12", "oxfam_be", ALICE, "oxfam.test", source="declared")
    page = browser.get("/coordinator/claims?x_id=12")
    assert page.status_code == 200 and "level-declared" in page.text
    done = browser.submit(
        "/coordinator/claims/vouch",
        {"x_id": "12", "did": ALICE, "reason": "member since 2019"},
        "/coordinator/claims?x_id=12",
    )
    assert done.status_code == 200
    assert "level-vouched" in done.text
    audit = done.text[done.text.index('id="audit-lines"') :]
    assert "Directory office" in audit and "member since 2019" in audit and ALICE in audit
    assert Directory(store.engine).lookup(["12"])[0]["level"] == "vouched"


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"x_id": "12 OR 1=1", "did": ALICE, "reason": "r"}, 400, "is not a number"),
        ({"x_id": "12", "did": "<script>alert(1)</script>", "reason": "r"}, 400, "not a Bluesky"),
        ({"x_id": "12", "did": ALICE, "reason": "ok\x00"}, 400, "control character"),
        ({"x_id": "12", "did": ALICE, "reason": "r" * 501}, 400, "too long"),
        ({"x_id": "12", "did": ALICE}, 400, "Why"),
        ({"x_id": "12", "did": BOB, "reason": "r"}, 404, "has no claim on the X id 12"),
    ],
)
def test_hostile_vouch_fields_get_one_clear_line_and_change_nothing(
    store: CoalitionStore,
    office: tuple[InProcessBrowser, str],
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    browser, _token = office
    Directory(store.engine).register("12", "oxfam_be", ALICE, "oxfam.test", source="declared")
    answer = browser.submit("/coordinator/claims/vouch", fields, "/coordinator/claims")
    assert answer.status_code == status, answer.text
    assert message in answer.text
    assert "<script>alert" not in answer.text and "Traceback" not in answer.text
    assert Directory(store.engine).lookup(["12"])[0]["level"] == "declared"
    assert Directory(store.engine).audit() == []


def test_a_dispute_is_decided_from_the_queue_page(
    store: CoalitionStore, office: tuple[InProcessBrowser, str]
) -> None:
    browser, _token = office
    directory = Directory(store.engine)
    directory.register("55501", "bob_x", ALICE, "alice.test", source="self")
    directory.register("55501", "bob_x", BOB, "bob.test", source="self")
    queue = browser.get("/coordinator/claims")
    assert 'id="dispute-55501"' in queue.text
    decided = browser.submit(
        "/coordinator/claims/decide",
        {"x_id": "55501", "did": BOB, "reason": "Bob showed his X settings"},
        "/coordinator/claims",
    )
    assert decided.status_code == 200 and 'id="no-disputes"' in decided.text
    assert "Bob showed his X settings" in decided.text
    assert directory.lookup(["55501"])[0]["did"] == BOB
    again = browser.submit(
        "/coordinator/claims/decide",
        {"x_id": "55501", "did": BOB, "reason": "twice"},
        "/coordinator/claims",
    )
    assert again.status_code == 400 and "not disputed" in again.text


def test_the_cli_shows_vouches_lists_and_decides(store: CoalitionStore) -> None:
    _id, token = store.create_coordinator("Office")
    db = store.engine.url.render_as_string(hide_password=False)
    env = {"DEPARTURES_COALITION_TOKEN": token}
    directory = Directory(store.engine)
    directory.register("7", "seven", ALICE, "alice.test", source="declared")
    directory.register("7", "seven", BOB, "bob.test", source="declared")

    listed = run_cli("coalition", "claims", "disputes", "--db", db)
    assert listed.returncode == 0 and "X id 7: 2 claims at declared" in listed.stdout
    vouched = run_cli(
        "coalition", "claims", "vouch", "--db", db, "7", BOB, "--reason", "our member", env=env
    )
    assert vouched.returncode == 0, vouched.stderr
    assert f"The claim of {BOB} on X id 7 is now vouched (vouched by Office)." in vouched.stdout
    shown = run_cli("coalition", "claims", "show", "--db", db, "7")
    assert shown.returncode == 0
    assert f"vouched   stands    @seven -> @bob.test {BOB}" in shown.stdout
    assert "by Office: our member" in shown.stdout
    empty = run_cli("coalition", "claims", "disputes", "--db", db)
    assert "No disputes" in empty.stdout

    unknown = run_cli(
        "coalition", "claims", "vouch", "--db", db, "8", BOB, "--reason", "r", env=env
    )
    assert unknown.returncode == 1
    assert unknown.stderr.strip().splitlines() == [
        f"Error: {BOB} has no claim on the X id 8. "
        "See the claims with: departures coalition claims show X_ID."
    ]
    wrong = run_cli("coalition", "claims", "vouch", "--db", db, "8x", BOB, "--reason", "r", env=env)
    assert wrong.returncode == 1 and "is not a number" in wrong.stderr
    forged = run_cli(
        "coalition", "claims", "decide", "--db", db, "7", ALICE, "--reason", "r",
        env={"DEPARTURES_COALITION_TOKEN": "not-a-token"},
    )  # fmt: skip
    assert forged.returncode != 0 and "token is not valid" in forged.stderr
    assert "Traceback" not in unknown.stderr + wrong.stderr + forged.stderr


def test_claims_help_is_the_first_sentence_of_each_docstring() -> None:
    shown = run_cli("coalition", "claims", "--help")
    assert shown.returncode == 0
    assert "vouch" in shown.stdout and "Vouch, as a coordinator, for one Bluesky" in shown.stdout
    assert "decide" in shown.stdout and "disputes" in shown.stdout


def signed_in_visitor(app: CoalitionApp) -> InProcessBrowser:
    browser = InProcessBrowser(app)
    assert browser.sign_in_to_directory("alice.test", "right").status_code == 200
    return browser


def test_sign_in_with_x_is_not_offered_without_credentials(store: CoalitionStore) -> None:
    with signed_in_visitor(make_app(store)) as visitor:
        Directory(store.engine).register("1", "one", ALICE, "alice.test", source="declared")
        assert 'id="sign-in-with-x"' not in visitor.get("/directory").text
        refused = visitor.get("/directory/x/start", follow_redirects=False)
        assert refused.status_code == 400
        assert "does not offer Sign in with X" in refused.text


def test_a_callback_not_started_here_a_replay_and_a_refusal_at_x_prove_nothing(
    store: CoalitionStore,
) -> None:
    app = make_app(
        store,
        x_client_id=CLIENT_ID,
        x_client_secret=CLIENT_SECRET,
        # Nothing is asked of X here: every refusal happens before the token request.
        x_authorize_url="https://x.example/i/oauth2/authorize",
        x_api_url="https://api.x.example",
    )
    with signed_in_visitor(app) as visitor:
        Directory(store.engine).register("1", "one", ALICE, "alice.test", source="declared")
        assert 'id="sign-in-with-x"' in visitor.get("/directory").text
        forged = visitor.get("/directory/x/callback?code=abc&state=guessed")
        assert forged.status_code == 403 and "does not belong to the sign-in" in forged.text

        start = visitor.get("/directory/x/start", follow_redirects=False)
        assert start.status_code == 303
        location = start.headers["location"]
        assert location.startswith("https://x.example/i/oauth2/authorize?")
        assert CLIENT_SECRET not in location
        state = location.split("state=", 1)[1].split("&", 1)[0]
        cancelled = visitor.get(f"/directory/x/callback?error=access_denied&state={state}")
        assert cancelled.status_code == 400 and "was cancelled" in cancelled.text
        # The state was used by that answer: the same callback again is refused.
        replayed = visitor.get(f"/directory/x/callback?code=abc&state={state}")
        assert replayed.status_code == 403
        assert Directory(store.engine).lookup(["1"])[0]["level"] == "declared"

    with InProcessBrowser(app) as stranger:  # not signed in to the directory
        assert stranger.get("/directory/x/start").status_code == 403
