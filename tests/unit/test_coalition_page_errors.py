"""A library error on a coalition page (the welcome post's Bluesky connection, through an app
password the operator kept as a fallback) is shown in the member's language with a page's
hint, not the CLI's English and its options."""

from __future__ import annotations

import pytest

from departures.coalition.departure import DepartureDay
from departures.coalition.oauth import APP_PASSWORDS_ENV
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.coalition.web import PdsSignIn
from helpers.coalition import join, open_campaign
from helpers.sweep import cli_words, english_left
from helpers.web import CLOSED_PORT, TEST_SERVER, InProcessBrowser, coalition_app


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_a_bluesky_error_on_the_welcome_page_is_in_the_member_language(
    store: CoalitionStore, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")
    # Nothing here reaches a Bluesky server: the service's is a closed port.
    departure = DepartureDay(store, Vault(b"test-key"), CLOSED_PORT)
    app = coalition_app(store, base_url=TEST_SERVER, departure=departure)
    coordinator, campaign = open_campaign(store)
    _organisation, key = join(store, campaign.slug, coordinator, "NGO", bluesky_handle="ngo.test")
    with InProcessBrowser(app) as browser:
        browser.client.cookies.set("departures_lang", language)
        signed = browser.submit("/member/sign-in", {"key": key}, "/member/sign-in")
        assert signed.status_code == 200, signed.text
        answer = browser.submit(
            "/member/departure/welcome",
            {
                "welcome_text": "We zijn geland.",
                "opted_in": "1",
                "action": "save",
                "app_password": "abcd-efgh-ijkl-mnop",
            },
            "/member/departure",
        )
    assert answer.status_code == 400
    assert 'id="welcome-error"' in answer.text
    assert "We zijn geland." in answer.text  # the text stays in the form
    html_lang, english = english_left(answer.text, language)
    assert html_lang == language
    shown = answer.text.split('id="welcome-error"', 1)[1].split("</div>", 1)[0]
    assert not english and not cli_words(answer.text, language), shown
    shown = answer.text.split('id="welcome-error"', 1)[1].split("</div>", 1)[0]
    assert "The Bluesky server of" not in shown and "Bluesky" in shown


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_a_directory_sign_in_whose_server_does_not_answer_is_in_the_visitor_language(
    store: CoalitionStore, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    monkeypatch.setenv(APP_PASSWORDS_ENV, "1")
    app = coalition_app(store, base_url=TEST_SERVER, bluesky_sign_in=PdsSignIn(CLOSED_PORT))
    with InProcessBrowser(app) as browser:
        browser.client.cookies.set("departures_lang", language)
        answer = browser.submit(
            "/directory/sign-in",
            {"handle": "natuurpunt.test", "password": "abcd-efgh-ijkl-mnop"},
            "/directory",
        )
    assert answer.status_code == 400
    html_lang, english = english_left(answer.text, language)
    assert html_lang == language
    assert not english and not cli_words(answer.text, language), english
    assert "does not answer" not in answer.text and "Cannot reach" not in answer.text
