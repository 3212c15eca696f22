"""Sign in with X (OAuth 2.0 with PKCE) against a local stand-in of X's endpoints: the flow
proves an account, and each way it can go wrong is refused with one clear line — a wrong
code verifier, a replayed code, a wrong client secret, a refusal at X, an address the
outgoing-request guard does not allow. The client secret never shows in logs or reprs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from departures.coalition.errors import BadInput, NotAllowed
from departures.coalition.web.settings import Settings
from departures.coalition.xsignin import XApp, XSignIn, XSignInError
from departures.netguard import ALLOW_HOSTS_ENV
from helpers.x_standin import CLIENT_ID, CLIENT_SECRET, XStandIn, x_standin

CALLBACK = "http://testserver/directory/x/callback"


@pytest.fixture
def x() -> Iterator[XStandIn]:
    with x_standin(CALLBACK) as standin:
        yield standin


@pytest.fixture
def allowed(x: XStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in's loopback address allowed, as a development host is."""
    monkeypatch.setenv(ALLOW_HOSTS_ENV, x.host)


def sign_in(x: XStandIn, secret: str = CLIENT_SECRET) -> XSignIn:
    return XSignIn(
        XApp(
            client_id=CLIENT_ID,
            client_secret=secret,
            redirect_uri=CALLBACK,
            authorize_url=x.authorize_url,
            api_url=x.api_url,
        )
    )


def authorise(url: str) -> dict[str, str]:
    """The visitor at X's authorisation page: X answers by redirecting to the callback."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_the_flow_proves_the_signed_in_x_account(x: XStandIn, allowed: None) -> None:
    flow = sign_in(x)
    started = flow.start()
    query = parse_qs(urlsplit(started.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["scope"] == ["users.read tweet.read"]  # the user's own id, nothing more
    assert started.verifier not in started.url and 43 <= len(started.verifier) <= 128
    answer = authorise(started.url)
    assert answer["state"] == started.state
    assert flow.finish(answer["code"], started.verifier) == ("783214", "XSquat")
    assert x.me_requests == 1
    # The verifier went to the token endpoint only, with the code; never a second time.
    assert [r["code_verifier"] for r in x.token_requests] == [started.verifier]


def test_a_wrong_verifier_and_a_replayed_code_are_refused(x: XStandIn, allowed: None) -> None:
    flow = sign_in(x)
    started = flow.start()
    code = authorise(started.url)["code"]
    with pytest.raises(NotAllowed, match="X did not confirm the sign-in"):
        flow.finish(code, flow.start().verifier)  # another sign-in's verifier
    with pytest.raises(NotAllowed, match="X did not confirm the sign-in"):
        flow.finish(code, started.verifier)  # the code was spent by the first try
    again = flow.start()
    good = authorise(again.url)["code"]
    assert flow.finish(good, again.verifier) == ("783214", "XSquat")
    with pytest.raises(NotAllowed):
        flow.finish(good, again.verifier)  # replayed after success
    assert x.me_requests == 1


def test_a_wrong_client_secret_proves_nothing(x: XStandIn, allowed: None) -> None:
    flow = sign_in(x, secret="not-the-secret")
    started = flow.start()
    with pytest.raises(NotAllowed, match="X did not confirm"):
        flow.finish(authorise(started.url)["code"], started.verifier)
    assert x.me_requests == 0


def test_a_refusal_at_x_comes_back_as_an_error_not_a_code(x: XStandIn, allowed: None) -> None:
    x.deny = True
    started = sign_in(x).start()
    answer = authorise(started.url)
    assert answer == {"error": "access_denied", "state": started.state}


def test_an_address_the_guard_refuses_is_reported_as_x_not_answering(
    x: XStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOW_HOSTS_ENV, raising=False)
    flow = sign_in(x)  # loopback and plain http: not allowed without the development setting
    started = flow.start()
    code = authorise(started.url)["code"]
    with pytest.raises(XSignInError, match="X does not answer just now") as raised:
        flow.finish(code, started.verifier)
    assert isinstance(raised.value, BadInput)
    assert x.token_requests == []  # nothing left the machine's guard


def test_the_client_secret_is_never_logged_nor_shown(
    x: XStandIn, allowed: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    flow = sign_in(x)
    started = flow.start()
    flow.finish(authorise(started.url)["code"], started.verifier)
    bad = sign_in(x, secret="wrong-" + CLIENT_SECRET)
    other = bad.start()
    with pytest.raises(NotAllowed):
        bad.finish(authorise(other.url)["code"], other.verifier)
    assert CLIENT_SECRET not in caplog.text
    assert CLIENT_SECRET not in repr(flow.app)
    assert CLIENT_SECRET not in repr(Settings(x_client_id=CLIENT_ID, x_client_secret=CLIENT_SECRET))
    assert started.verifier not in repr(started)
