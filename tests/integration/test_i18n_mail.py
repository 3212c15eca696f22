"""E-mails in each member's own language, through a real SMTP receiver (aiosmtpd): one
campaign, three members who chose English, Dutch and French, each told in its language."""

from __future__ import annotations

from datetime import timedelta

from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore
from departures.coalition.store import languages as stored_languages
from departures.i18n import format_moment, translations, use_language
from helpers.clock import START, Clock
from helpers.coalition import join, open_campaign
from helpers.mail import Inbox


def test_each_member_is_told_in_its_own_language(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(
        store,
        title="Samen weg",
        threshold=3,
        timezone="Europe/Brussels",
        deadline=START + timedelta(days=10),
    )
    members = {}
    for language, name in (("en", "Amnesty"), ("nl", "Natuurpunt"), ("fr", "CNCD")):
        org, _key = join(store, campaign.slug, coordinator, name, email=f"{language}@example.org")
        stored_languages.set_organisation_language(store.engine, org.id, language)
        members[language] = org
    for org in members.values():
        clock.now += timedelta(minutes=5)
        store.pledge(org.id, 0)
    notifier = Notifier(
        store,
        base_url="http://coalition.test",
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
    )
    report = notifier.tick()
    assert (report.sent, report.failed) == (3, 0)
    subjects = {language: inbox.to(f"{language}@example.org") for language in members}
    assert subjects == {
        "en": ["Samen weg: the campaign is on"],
        "nl": ["Samen weg: de campagne gaat door"],
        "fr": ["Samen weg : la campagne a lieu"],
    }
    bodies = {str(m["To"]).split("@")[0]: m.get_content() for m in inbox.messages}
    for language, body in bodies.items():
        with use_language(language):
            departure = format_moment(campaign.departure_at, campaign.zone)
        assert departure in body, (language, body)  # the date as the member reads dates
        assert "http://coalition.test/campaigns/samen-weg" in body
    assert bodies["nl"].startswith("Genoeg organisaties hebben zich geëngageerd: er gaan er 3 mee")
    assert bodies["fr"].startswith("Suffisamment d'organisations se sont engagées : 3 partent")
    # Nothing of one language leaks into another.
    english_sentence = translations("en").gettext("Nobody is bound to leave.")
    assert all(english_sentence not in body for body in bodies.values())


def test_a_reminder_follows_a_language_changed_later(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(store, deadline=START + timedelta(days=10))
    org, _key = join(store, campaign.slug, coordinator, "Oxfam", email="oxfam@example.org")
    stored_languages.set_organisation_language(store.engine, org.id, "nl")
    stored_languages.set_organisation_language(store.engine, org.id, "fr")
    clock.now = START + timedelta(days=9, hours=12)  # within a day of the deadline
    notifier = Notifier(
        store,
        base_url="http://coalition.test",
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
    )
    notifier.tick()
    (subject,) = inbox.to("oxfam@example.org")
    with use_language("fr"):
        deadline = format_moment(campaign.deadline, campaign.zone)
    assert subject == f"Leave X : engagez-vous avant le {deadline}"
