"""Each invitation e-mail in the language the coordinator chose for it — per CSV row (a
``language``/``taal``/``langue`` column), per single invitation (the form's select), else the
language of the coordinator's page — kept with the invitation for a resend, and delivered
through a real SMTP receiver, its dates written for its reader. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from departures.coalition.errors import BadInput
from departures.coalition.invitations import Invitations, check_invitee, parse_csv
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore
from departures.i18n import _, format_moment, use_language
from helpers.coalition import open_campaign
from helpers.mail import Inbox
from helpers.stores import ON_BOTH_STORES
from helpers.sweep import english_left
from helpers.web import InProcessBrowser, coalition_app

KEY = b"test-key"
BASE = "http://coalition.test"
CSV = (
    "\ufeffnom;courriel;site;langue\r\n"
    "Ligue des droits humains;info@ldh.example;https://ldh.example;fr-BE\r\n"
    "Natuurpunt;info@natuurpunt.example;;Nederlands\r\n"
    "Oxfam Belgium;info@oxfam.example;;\r\n"
).encode()


def _notifier(store: CoalitionStore, port: int) -> Notifier:
    return Notifier(
        store,
        base_url=BASE,
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
        secret_key=KEY,
    )


def _subject(language: str, title: str) -> str:
    with use_language(language):
        subject = _("Invitation: %(title)s") % {"title": title}
    assert language == "en" or subject != f"Invitation: {title}"
    return subject


@ON_BOTH_STORES
def test_each_invitation_is_emailed_in_its_own_language(
    store: CoalitionStore, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(
        store, title="Quitter X ensemble", timezone="Europe/Brussels"
    )
    service = Invitations(store, KEY, BASE)
    with use_language("nl"):  # the coordinator's page: rows without a language get Dutch...
        service.invite_csv(campaign.slug, coordinator, CSV)
    # ... unless the coordinator's page said otherwise (the single form's select).
    service.invite(
        campaign.slug,
        coordinator,
        [check_invitee("Amnesty", "info@amnesty.example", "", "fr")],
        language="en",
    )
    assert _notifier(store, port).tick().sent == 4
    expected = {
        "info@ldh.example": "fr",
        "info@natuurpunt.example": "nl",
        "info@oxfam.example": "nl",
        "info@amnesty.example": "fr",
    }
    for address, language in expected.items():
        [mail] = [m for m in inbox.messages if m["To"] == address]
        assert mail["Subject"] == _subject(language, campaign.title)
        with use_language(language):
            departure = format_moment(campaign.departure_at, campaign.zone)
        body = mail.get_content()
        assert departure in body, body  # "22 januari 2025, 10:00 CET", "22 janvier 2025 ..."
        assert "Hello" not in body and "Join with this link" not in body
        # Nothing of the catalogue left in English, no date written the English way.
        assert english_left(str(mail["Subject"]) + "\n" + body, language)[1] == []
    stored = {i.email: i.language for i in service.of_campaign(campaign)}
    assert stored == expected

    # Sent again from an English page: still in the invitation's own language.
    ldh = next(i for i in service.of_campaign(campaign) if i.email == "info@ldh.example")
    with use_language("en"):
        service.resend(campaign.slug, coordinator, ldh.id)
    assert _notifier(store, port).tick().sent == 1
    again = [m for m in inbox.messages if m["To"] == "info@ldh.example"]
    assert len(again) == 2 and again[1]["Subject"] == _subject("fr", campaign.title)


def test_a_language_the_service_does_not_have_names_the_row() -> None:
    bad = "name,email,website,language\r\nA,a@a.example,,fr\r\nB,b@b.example,,Deutsch\r\n"
    with pytest.raises(BadInput) as refused, use_language("fr"):
        parse_csv(bad.encode())
    assert refused.value.message == "ligne 3 : « Deutsch » n’est pas une langue du service"
    assert refused.value.hint == "Indiquez en, nl, fr, ou laissez vide pour la langue de cette page"
    # Without a header, three columns as before: no language, the coordinator's page decides.
    assert [i.language for i in parse_csv(b"A;a@a.example;\r\n")] == [None]
    assert [i.language for i in parse_csv(b"taal,naam,e-mail\r\nfrans,A,a@a.example\r\n")] == ["fr"]


@ON_BOTH_STORES
def test_the_invitations_page_offers_the_language_and_shows_it(store: CoalitionStore) -> None:
    coordinator_id, token = store.create_coordinator("Coalitie Vertrek")
    _other, campaign = open_campaign(store)
    del _other
    mine = store.create_campaign(
        coordinator_id,
        title="Samen weg van X",
        threshold=1,
        deadline=campaign.deadline,
        departure_at=campaign.departure_at,
    )
    store.open_campaign(mine.slug, coordinator_id)
    page = f"/coordinator/campaigns/{mine.slug}/invitations"
    with InProcessBrowser(coalition_app(store, base_url="http://testserver")) as office:
        office.submit("/login", {"token": token}, "/login")
        shown = office.get(page, headers={"Accept-Language": "nl-BE"})
        # The page's own language preselected; each option named in its own language.
        assert '<option value="nl" lang="nl" selected>Nederlands</option>' in shown.text
        sent = office.submit(
            page,
            {"name": "CNCD-11.11.11", "email": "info@cncd.example", "language": "fr", "days": "14"},
            page,
            headers={"Accept-Language": "nl-BE"},
        )
        assert sent.status_code == 200
        assert '<td class="language" lang="fr">Français</td>' in sent.text
        refused = office.submit(
            page,
            {"name": "X", "email": "x@x.example", "language": "klingon", "days": "14"},
            page,
            headers={"Accept-Language": "nl-BE"},
        )
        assert refused.status_code == 400
        assert "“klingon” is geen taal van deze dienst" in refused.text.replace("&#34;", '"')
    [invitation] = Invitations(store, KEY, BASE).of_campaign(mine)
    assert invitation.language == "fr"
