"""The coalition's pages, feeds and e-mails in the reader's or member's language, in process:
negotiation from Accept-Language, the switcher's cookie, the headers that keep shared caches
honest, the board in its campaign's languages and cached per language, the member's and the
campaign's language settings."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
from markupsafe import escape

from departures.coalition.departure import welcome_suggestion
from departures.coalition.reconnect import proposal_email
from departures.coalition.store import CoalitionStore
from departures.coalition.store import languages as stored_languages
from departures.coalition.web import CoalitionApp
from departures.i18n import translations, use_language
from helpers.clock import Clock
from helpers.coalition import join, open_campaign
from helpers.web import InProcessBrowser, coalition_app

NL = {"Accept-Language": "nl-BE,nl;q=0.9,en;q=0.5"}
FR = {"Accept-Language": "fr-BE,fr;q=0.9"}


def nl(text: str) -> str:
    """``text`` in Dutch, as a page shows it (HTML-escaped)."""
    return str(escape(translations("nl").gettext(text)))


def fr(text: str) -> str:
    """``text`` in French, as a page shows it (HTML-escaped)."""
    return str(escape(translations("fr").gettext(text)))


@pytest.fixture
def app(store: CoalitionStore) -> CoalitionApp:
    return coalition_app(store, base_url="http://testserver", public_cache_seconds=60)


@pytest.fixture
def visitor(app: CoalitionApp) -> Iterator[InProcessBrowser]:
    with InProcessBrowser(app) as browser:
        yield browser


def test_a_page_follows_accept_language(visitor: InProcessBrowser) -> None:
    page = visitor.get("/", headers=NL)
    assert '<html lang="nl">' in page.text
    assert nl("Leaving X together") in page.text != fr("Leaving X together")
    assert page.headers["content-language"] == "nl"
    vary = {v.strip().lower() for v in page.headers["vary"].split(",")}
    assert {"accept-language", "cookie"} <= vary
    french = visitor.get("/", headers=FR)
    assert '<html lang="fr">' in french.text
    assert fr("Leaving X together") in french.text
    english = visitor.get("/", headers={"Accept-Language": "de-DE,de"})
    assert '<html lang="en">' in english.text
    assert "Leaving X together" in english.text


def test_the_switcher_sets_a_cookie_that_wins_over_the_browser(visitor: InProcessBrowser) -> None:
    page = visitor.get("/directory", headers=NL)
    # The switcher: a link per language, each marked with its own language.
    assert 'href="/directory?lang=fr" lang="fr" hreflang="fr"' in page.text
    assert 'lang="nl" hreflang="nl" aria-current="true">Nederlands</a>' in page.text
    switched = visitor.get("/directory?lang=fr", headers=NL)
    assert '<html lang="fr">' in switched.text
    cookie = switched.headers["set-cookie"]
    assert "departures_lang=fr" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    later = visitor.get("/", headers=NL)  # the browser still asks for Dutch
    assert '<html lang="fr">' in later.text
    assert "set-cookie" not in later.headers or "departures_lang" not in later.headers["set-cookie"]
    # A language the service does not have is ignored, not an error.
    assert visitor.get("/?lang=xx", headers=NL).status_code == 200


def test_error_pages_are_in_the_readers_language(visitor: InProcessBrowser) -> None:
    page = visitor.get("/no/such/page", headers=FR)
    assert page.status_code == 404
    assert '<html lang="fr">' in page.text
    assert fr("there is no page at this address")[1:] in page.text  # (capitalised)


def test_the_board_is_cached_per_language_and_never_crosses(
    store: CoalitionStore, visitor: InProcessBrowser
) -> None:
    coordinator, campaign = open_campaign(store, title="Samen weg", timezone="Europe/Brussels")
    org, _key = join(store, campaign.slug, coordinator, "Natuurpunt", public_name=True)
    store.pledge(org.id, 0)
    stored_languages.set_campaign_languages(store.engine, campaign.id, ["nl", "fr"], store.clock())
    path = f"/campaigns/{campaign.slug}"
    dutch = visitor.get(path, headers=NL)
    french = visitor.get(path, headers=FR)
    assert '<html lang="nl">' in dutch.text and '<html lang="fr">' in french.text
    assert nl("Organisations") in dutch.text and fr("Organisations") in french.text
    assert nl("pledged") in dutch.text
    assert dutch.headers["etag"] != french.headers["etag"]
    # Served from the cache, each reader still gets their own language.
    assert visitor.get(path, headers=NL).text == dutch.text
    assert visitor.get(path, headers=FR).text == french.text
    # A French reader holding the Dutch page's ETag gets the French page, not a 304.
    revalidated = visitor.get(path, headers={**FR, "If-None-Match": dutch.headers["etag"]})
    assert revalidated.status_code == 200 and '<html lang="fr">' in revalidated.text
    same = visitor.get(path, headers={**NL, "If-None-Match": dutch.headers["etag"]})
    assert same.status_code == 304
    # English is not among the campaign's languages: its first one, Dutch, is served.
    english = visitor.get(path, headers={"Accept-Language": "en"})
    assert '<html lang="nl">' in english.text and english.headers["content-language"] == "nl"
    # The switcher on the board offers only the campaign's languages.
    assert 'hreflang="en"' not in dutch.text and 'hreflang="fr"' in dutch.text
    # Dates for a Dutch reader: "21 januari 2025, 09:00 CET"-like, in the campaign's zone.
    with use_language("nl"):
        from departures.i18n import format_moment

        assert format_moment(campaign.departure_at, campaign.zone) in dutch.text


def test_feed_json_and_share_image_are_in_the_boards_language(
    store: CoalitionStore, clock: Clock, visitor: InProcessBrowser
) -> None:
    coordinator, campaign = open_campaign(store)
    org, _key = join(
        store,
        campaign.slug,
        coordinator,
        "CNCD-11.11.11",
        public_name=True,
        bluesky_handle="cncd.be",
    )
    store.pledge(org.id, 0)
    clock.now = campaign.departure_at + timedelta(hours=1)
    store.mark_landed(org.id)
    stored_languages.set_campaign_languages(store.engine, campaign.id, ["en", "fr"], store.clock())
    path = f"/campaigns/{campaign.slug}"
    feed = visitor.get(f"{path}/feed.atom", headers=FR)
    root = ET.fromstring(feed.content)
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    landed = translations("fr").gettext("%(name)s landed on Bluesky")
    assert landed % {"name": "CNCD-11.11.11"} + " (@cncd.be)" in titles
    english = ET.fromstring(visitor.get(f"{path}/feed.atom", headers=NL).content)
    assert english.get("{http://www.w3.org/XML/1998/namespace}lang") == "en"  # nl not offered
    data = visitor.get(f"{path}/board.json", headers=FR).json()
    assert data["language"] == "fr"
    assert data["organisations"][0]["status_label"] == translations("fr").gettext("landed")
    assert data["organisations"][0]["status"] == "landed"  # the machine value stays
    french_png = visitor.get(f"{path}/share.png", headers=FR)
    english_png = visitor.get(f"{path}/share.png", headers={"Accept-Language": "en"})
    assert french_png.headers["content-language"] == "fr"
    assert french_png.content != english_png.content  # its texts are drawn in each language


def test_a_member_chooses_its_language_when_joining_and_later(
    store: CoalitionStore, app: CoalitionApp
) -> None:
    coordinator, campaign = open_campaign(store)
    token = store.create_invite(campaign.slug, coordinator)
    with InProcessBrowser(app) as member:
        page = member.get(f"/invite/{token}", headers=FR)
        # The join form offers the languages, the page's own preselected.
        assert '<option value="fr" lang="fr" selected>Français</option>' in page.text
        joined = member.submit(
            f"/invite/{token}",
            {"name": "Greenpeace Belgium", "language": "nl"},
            f"/invite/{token}",
            headers=FR,
        )
        assert joined.status_code == 200
        (organisation,) = store.organisations(campaign.id)
        assert organisation.language == "nl"
        assert '<option value="nl" lang="nl" selected>Nederlands</option>' in joined.text
        changed = member.submit("/member/language", {"language": "fr"}, "/member", headers=FR)
        assert changed.status_code == 200
        assert store.organisation(organisation.id).language == "fr"
        refused = member.submit("/member/language", {"language": "de"}, "/member", headers=FR)
        assert refused.status_code == 400
        french = translations("fr").gettext
        message = french("choose a value for %(label)s") % {"label": french("Language")}
        assert str(escape(message))[1:] in refused.text  # (capitalised on the page)
        assert store.organisation(organisation.id).language == "fr"


def test_a_coordinator_chooses_the_boards_languages(
    store: CoalitionStore, app: CoalitionApp
) -> None:
    _coordinator, campaign = open_campaign(store)
    _id, token = store.create_coordinator("Other office")
    manage = f"/coordinator/campaigns/{campaign.slug}"
    with InProcessBrowser(app) as browser:
        own_token = store.create_coordinator("Office 2")[1]
        browser.submit("/login", {"token": own_token}, "/login")
        # Another coordinator's campaign: refused, nothing changed.
        other = browser.submit(
            f"{manage}/languages", {"language_nl": "1", "fallback": "nl"}, "/coordinator"
        )
        assert other.status_code == 403
        assert store.campaign(campaign.slug).languages == ("en",)
    campaign2 = store.create_campaign(
        _id,
        title="Tous ensemble",
        threshold=1,
        deadline=store.clock() + timedelta(days=7),
        departure_at=store.clock() + timedelta(days=14),
    )
    with InProcessBrowser(app) as browser:
        browser.submit("/login", {"token": token}, "/login")
        page = f"/coordinator/campaigns/{campaign2.slug}"
        saved = browser.submit(
            f"{page}/languages",
            {"language_nl": "1", "language_fr": "1", "fallback": "fr"},
            page,
        )
        assert saved.status_code == 200
        assert store.campaign(campaign2.slug).languages == ("fr", "nl")
        none = browser.submit(f"{page}/languages", {"fallback": "fr"}, page)
        assert none.status_code == 400
        assert "he board needs at least one language" in none.text  # (capitalised)
        assert store.campaign(campaign2.slug).languages == ("fr", "nl")


def test_the_welcome_suggestion_is_in_the_members_language(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store, title="Samen weg van X")
    org, _key = join(store, campaign.slug, coordinator, "Vredeseilanden")
    stored_languages.set_organisation_language(store.engine, org.id, "nl")
    member = store.organisation(org.id)
    with use_language("fr"):  # the page's language does not matter
        text = welcome_suggestion(campaign, member)
    assert text.startswith("Hallo Bluesky! Vandaag verlaat Vredeseilanden X")
    assert "“Samen weg van X”" in text
    stored_languages.set_organisation_language(store.engine, org.id, "fr")
    french = welcome_suggestion(campaign, store.organisation(org.id))
    assert french.startswith("Bonjour Bluesky ! Aujourd'hui, Vredeseilanden quitte X")
    english = welcome_suggestion(campaign, replace(store.organisation(org.id), language="en"))
    assert english.startswith("Hello Bluesky! Today Vredeseilanden leaves X")


def test_the_stores_refusals_reach_the_reader_in_their_language(
    visitor: InProcessBrowser,
) -> None:
    page = visitor.get("/invite/not-a-real-token", headers=FR)
    assert page.status_code == 404
    assert fr("this invitation link is not valid")[1:] in page.text
    assert fr("Check that you copied the whole link, or ask the coordinator for a new one") in (
        page.text
    )


def test_the_reconnect_email_is_in_the_members_language(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    org, _key = join(store, campaign.slug, coordinator, "Oxfam")
    stored_languages.set_organisation_language(store.engine, org.id, "fr")
    subject, body = proposal_email(store.organisation(org.id), [], "http://x", auto=True)
    french = translations("fr")
    assert subject == french.ngettext(
        "%(n)d account you followed on X is now on Bluesky",
        "%(n)d accounts you followed on X are now on Bluesky",
        0,
    ) % {"n": 0}
    assert body.startswith("Ces comptes que Oxfam suivait sur X")
