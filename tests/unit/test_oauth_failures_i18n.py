"""Every failure of Sign in with Bluesky (OAuth) a person can meet on the coalition's pages, in
Dutch and in French: the pages rendered with the reader's language, and each failure's one
line (what happened, what to do) translated."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from markupsafe import escape

from departures.bluesky.oauth import OAuthError
from departures.coalition.oauth import OAuthService
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.coalition.web import oauth as oauth_views
from departures.i18n import translations, use_language
from helpers.web import CLOSED_PORT, TEST_SERVER, InProcessBrowser, coalition_app

LANGUAGES = {
    "nl": {"Accept-Language": "nl-BE,nl;q=0.9"},
    "fr": {"Accept-Language": "fr-BE,fr;q=0.9"},
}
# Names, the same in every language.
SAME = frozenset({"Departures"})
REASONS = ("denied", "state", "issuer", "account", "handle", "unsupported", "unreachable")


def shown(language: str, text: str) -> str:
    """``text`` in ``language`` as a page shows it (HTML-escaped), checked to be translated."""
    translated = translations(language).gettext(text)
    assert translated != text or text in SAME, f"not translated into {language}: {text!r}"
    return str(escape(translated))


def on_page(html: str, language: str, text: str) -> bool:
    """Whether the page shows ``text`` in ``language`` (an error page capitalises the line)."""
    return shown(language, text).casefold() in html.casefold()


def gettext_literals(path: Path) -> list[str]:
    """The texts a module passes to ``_()``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ]


@pytest.fixture
def visitor(store: CoalitionStore) -> Iterator[InProcessBrowser]:
    # An OAuth client whose Bluesky server does not answer (a closed port).
    service = OAuthService(
        store.engine, Vault(b"test-key"), TEST_SERVER, service=CLOSED_PORT, plc=CLOSED_PORT
    )
    with InProcessBrowser(coalition_app(store, base_url=TEST_SERVER, oauth=service)) as browser:
        yield browser


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_the_oauth_failures_on_the_pages_are_in_the_readers_language(
    visitor: InProcessBrowser, language: str
) -> None:
    headers = LANGUAGES[language]
    # A callback whose state was used already (or never existed).
    page = visitor.get("/oauth/callback?state=used-once&code=x&iss=x", headers=headers)
    assert page.status_code == 400
    assert on_page(page.text, language, "this sign-in link was already used or has expired")
    assert on_page(page.text, language, "Start the sign-in again from the page")
    # The member's connection asked for without a member signed in.
    page = visitor.submit(
        "/oauth/start", {"purpose": "member", "handle": "a.test"}, "/directory", headers=headers
    )
    assert page.status_code == 403
    assert on_page(page.text, language, "sign in as a member first")
    # A sign-in the service does not offer.
    page = visitor.submit(
        "/oauth/start", {"purpose": "other", "handle": "a.test"}, "/directory", headers=headers
    )
    assert on_page(page.text, language, "this sign-in is not offered")
    # The account's server does not answer.
    page = visitor.submit(
        "/oauth/start",
        {"purpose": "directory", "handle": "someone.test"},
        "/directory",
        headers=headers,
    )
    assert on_page(page.text, language, "your Bluesky server does not answer")
    assert on_page(page.text, language, "Try again in a few minutes")
    assert "Traceback" not in page.text


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("reason", [*REASONS, "rejected"])
def test_each_failure_reason_has_its_line_in_the_language(language: str, reason: str) -> None:
    with use_language("en"):
        english = oauth_views._failure(OAuthError(reason, "an English library message"))
    with use_language(language):
        local = oauth_views._failure(OAuthError(reason, "an English library message"))
    assert local.message == translations(language).gettext(english.message) != english.message
    assert local.hint == translations(language).gettext(str(english.hint)) != english.hint


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_every_text_of_the_oauth_pages_is_translated(language: str) -> None:
    source = Path(oauth_views.__file__)
    texts = gettext_literals(source)
    assert len(texts) > 20  # the module's texts were found
    for template in ("oauth_redirect.html", "_partials/oauth_sign_in.html"):
        page = (source.parent.parent / "templates" / template).read_text(encoding="utf-8")
        texts += [t for t in page.split('_("')[1:] for t in [t.split('")', 1)[0]]]
    texts += [
        "your Bluesky sign-in on this page has expired (it lasts 30 minutes)",
        "Sign in with Bluesky again, then press Follow all again",
    ]
    for text in texts:
        shown(language, text)
