"""Every coalition page a person reads, rendered through the real app in Dutch and in French
with realistic data, swept for English left behind: a visible text (or a text a script
shows) that is an English message of the catalogue with a different translation, a
sentence of the catalogue left in English around its values, a wrong ``<html lang>``, or a
date written the English way.

A page added later is swept once its path is in ``PAGES`` (and the data it needs in
``coalition``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

import departures
from departures.coalition.departure import DepartureDay
from departures.coalition.directory import Directory
from departures.coalition.invitations import Invitations, check_invitee
from departures.coalition.store import CoalitionStore
from departures.coalition.store import invitations as invitation_rows
from departures.coalition.store import languages as stored_languages
from departures.coalition.store import moderation as moderation_rows
from departures.coalition.store import triage as triage_rows
from departures.coalition.store.schema import outbox
from departures.coalition.vault import Vault
from departures.coalition.web import CoalitionApp
from departures.i18n import format_moment, use_language
from helpers.clock import Clock
from helpers.coalition import join
from helpers.sweep import english_left
from helpers.web import CLOSED_PORT, InProcessBrowser, coalition_app

KEY = b"test-key"
LANGUAGES = ("nl", "fr")


@dataclass
class Coalition:
    """The visitors of one realistic coalition, and what the pages show of it."""

    anonymous: InProcessBrowser
    coordinator: InProcessBrowser
    member: InProcessBrowser
    slug: str
    invite_token: str
    departure_shown: dict[str, str]
    store: CoalitionStore
    clock: Clock
    organisation_ids: list[int]


@pytest.fixture
def coalition(store: CoalitionStore, clock: Clock) -> Iterator[Coalition]:
    """A Belgian coalition a week before its deadline: three members (one on condition),
    invitations e-mailed in French and Dutch, a coordinator and a member signed in."""
    coordinator_id, token = store.create_coordinator("Coalitie Vertrek")
    campaign = store.create_campaign(
        coordinator_id,
        title="Samen weg van X",
        description="Op één dag verlaten we X en landen we op Bluesky.",
        threshold=2,
        deadline=clock.now + timedelta(days=7),
        departure_at=clock.now + timedelta(days=14),
        timezone="Europe/Brussels",
    )
    store.open_campaign(campaign.slug, coordinator_id)
    members = []
    for name, handle in (
        ("Natuurpunt", "natuurpunt.be"),
        ("CNCD-11.11.11", "cncd.be"),
        ("Ligue des droits humains", ""),
    ):
        organisation, key = join(
            store,
            campaign.slug,
            coordinator_id,
            name,
            email=f"info@{name.lower().replace(' ', '')[:12]}.example",
            website="https://example.org",
            bluesky_handle=handle,
            public_name=True,
        )
        members.append((organisation, key))
    store.pledge(members[0][0].id, 0)
    store.pledge(members[1][0].id, 0)
    store.pledge(members[2][0].id, 1)
    Invitations(store, KEY, "http://testserver").invite(
        campaign.slug,
        coordinator_id,
        [
            check_invitee("Oxfam-Solidarité", "info@oxfamsol.example", "", "fr"),
            check_invitee("11.11.11", "info@11.example", "https://11.be", "nl"),
        ],
    )
    invite_token = store.create_invite(campaign.slug, coordinator_id)
    # The directory: one account vouched for by the coordinator, one claimed by itself, two
    # claims on one X account (a dispute for the coordinator's claims page).
    directory = Directory(store.engine, clock=store.clock)
    directory.register(
        "1001",
        "natuurpunt",
        "did:plc:" + "n" * 24,
        "natuurpunt.be",
        source="coordinator",
        actor="Coalitie Vertrek",
    )
    directory.register("1002", "cncd", "did:plc:" + "c" * 24, "cncd.be", source="self")
    directory.register(
        "1002", "cncd", "did:plc:" + "d" * 24, "cncd-fake.example", source="declared"
    )
    # One invitation's e-mail bounced.
    with store.engine.connect() as conn:
        first_mail = (
            conn.execute(
                select(outbox.c.id)
                .where(outbox.c.message.like("invitation:%"))
                .order_by(outbox.c.id)
            )
            .scalars()
            .first()
        )
    assert first_mail is not None
    invitation_rows.mark_bounced(
        store.engine, first_mail, "550 5.1.1 No such mailbox here", clock.now
    )
    # A hostile reply in the first member's triage queue, scored as the pass stores it.
    triage_rows.save_member(store.engine, members[0][0].id, now=clock.now, opted_in=True)
    post = "at://did:plc:" + "m" * 24 + "/app.bsky.feed.post/3kwelcome"
    troll = "did:plc:" + "t" * 24
    triage_rows.record_scored(
        store.engine,
        members[0][0].id,
        triage_rows.Scored(
            "at://" + troll + "/app.bsky.feed.post/3kreply",
            "reply",
            post,
            post,
            troll,
            "trol.example",
            "Rotzakken, ga terug naar X",
            87,
            87,
            ["model: 87% hate speech or offensive (English)", "word list nl: rotzak"],
        ),
        threshold=60,
        now=clock.now,
    )
    # The same account proposed for the moderation list and listed.
    proposal = moderation_rows.propose(
        store.engine,
        campaign.id,
        moderation_rows.Actor.member(members[0][0].id),
        did=troll,
        handle="trol.example",
        reasons="Herhaalde intimidatie van onze leden",
        evidence=["https://bsky.app/profile/trol.example/post/3kreply"],
        now=clock.now,
    )
    moderation_rows.decide(
        store.engine,
        campaign.id,
        proposal.id,
        moderation_rows.Actor.coordinator(coordinator_id),
        approve=True,
        reason="Bewijs nagekeken",
        now=clock.now,
    )
    clock.now = clock.now + timedelta(hours=1)
    shown = {}
    for language in LANGUAGES:
        with use_language(language):
            shown[language] = format_moment(campaign.departure_at, campaign.zone)
            shown[f"{language} deadline"] = format_moment(campaign.deadline, campaign.zone)
    stored_languages.set_campaign_languages(
        store.engine, campaign.id, ["nl", "fr", "en"], store.clock()
    )
    # A departure day on a closed port: the pages that need one render (nothing is written).
    day = DepartureDay(store, Vault(b"a test secret that is long enough"), CLOSED_PORT)
    app: CoalitionApp = coalition_app(store, base_url="http://testserver", departure=day)
    with (
        InProcessBrowser(app) as anonymous,
        InProcessBrowser(app) as office,
        InProcessBrowser(app) as member,
    ):
        office.submit("/login", {"token": token}, "/login")
        member.submit("/member/sign-in", {"key": members[0][1]}, "/member/sign-in")
        yield Coalition(
            anonymous,
            office,
            member,
            campaign.slug,
            invite_token,
            shown,
            store,
            clock,
            [organisation.id for organisation, _key in members],
        )


PAGES = {
    "anonymous": [
        "/",
        "/campaigns/{slug}",
        "/directory",
        "/login",
        "/member/sign-in",
        "/invite/{invite}",
        "/campaigns/{slug}/moderation",
    ],
    "coordinator": [
        "/coordinator",
        "/coordinator/campaigns/{slug}",
        "/coordinator/campaigns/{slug}/invitations",
        "/coordinator/campaigns/{slug}/pledges",
        "/coordinator/campaigns/{slug}/day",
        "/coordinator/campaigns/{slug}/triage",
        "/coordinator/claims",
    ],
    "member": ["/member", "/member/departure", "/member/triage"],
}
# What each page must show of the coalition's data (so that the sweep reads its parts).
SHOWS = {
    "/campaigns/{slug}": "Natuurpunt",
    "/campaigns/{slug}/moderation": "trol.example",
    "/coordinator/campaigns/{slug}/invitations": "No such mailbox here",
    "/coordinator/claims": "did:plc:nnnn",
    "/coordinator/campaigns/{slug}/pledges": "Ligue des droits humains",
    "/member/triage": "Rotzakken, ga terug naar X",
}
# Pages that answer with an error, in the reader's language too.
ERRORS = ["/no/such/page", "/invite/not-a-real-token", "/campaigns/no-such-campaign"]


def _visit(browser: InProcessBrowser, path: str, language: str) -> tuple[int, str]:
    page = browser.get(f"{path}?lang={language}")
    return page.status_code, page.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_a_person_reads_is_in_the_readers_language(
    coalition: Coalition, language: str
) -> None:
    problems: list[str] = []
    for who, paths in PAGES.items():
        browser = getattr(coalition, who)
        for template in paths:
            path = template.format(slug=coalition.slug, invite=coalition.invite_token)
            status, html = _visit(browser, path, language)
            assert status == 200, (who, path, status, html[:2000])
            if SHOWS.get(template, "") not in html:
                Path("/tmp/coal2-page.html").write_text(html)
            assert SHOWS.get(template, "") in html, (path, SHOWS[template])
            html_lang, found = english_left(html, language)
            if html_lang != language:
                problems.append(f"{path}: <html lang={html_lang!r}>")
            problems += [f"{path} ({who}): {problem}" for problem in found]
    for path in ERRORS:
        status, html = _visit(coalition.anonymous, path, language)
        assert status >= 400, (path, status)
        problems += _problems(path, html, language)
    # Refusals of a form, on the page of the language the visitor chose (its cookie).
    refused = coalition.coordinator.submit(
        "/coordinator/campaigns",
        {
            "title": "Te laat",
            "threshold": "2",
            "timezone": "Europe/Brussels",
            "deadline": "2020-12-20T12:00",
            "departure_at": "2020-12-31T12:00",
        },
        "/coordinator",
    )
    assert refused.status_code >= 400
    problems += _problems("refused campaign", refused.text, language)
    refused = coalition.member.submit(
        "/member/departure/welcome",
        {"action": "save", "welcome_text": "Bonjour Bluesky ! " * 30},
        "/member/departure",
    )
    assert refused.status_code >= 400
    problems += _problems("refused welcome post", refused.text, language)
    # The welcome post's preview without JavaScript (its facets, its count, a handle that
    # cannot be checked), and a language the service does not have.
    preview = coalition.member.submit(
        "/member/departure/welcome",
        {
            "action": "preview",
            "welcome_text": "Wij zijn er! #SamenWegVanX met @nergens.example https://natuurpunt.be",
        },
        "/member/departure",
    )
    assert preview.status_code == 200 and "SamenWegVanX" in preview.text
    problems += _problems("welcome post preview", preview.text, language)
    refused = coalition.member.submit("/member/language", {"language": "de"}, "/member")
    assert refused.status_code == 400
    problems += _problems("refused language", refused.text, language)
    assert not problems, "\n".join(problems)


def _problems(where: str, html: str, language: str) -> list[str]:
    html_lang, found = english_left(html, language)
    wrong = [] if html_lang == language else [f"{where}: <html lang={html_lang!r}>"]
    return wrong + [f"{where}: {problem}" for problem in found]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_departure_day_is_in_the_readers_language(coalition: Coalition, language: str) -> None:
    campaign = coalition.store.campaign(coalition.slug)
    coalition.clock.now = campaign.departure_at + timedelta(minutes=30)
    for organisation_id in coalition.organisation_ids[:2]:
        coalition.store.mark_landed(organisation_id)
    problems: list[str] = []
    for browser, path in (
        (coalition.coordinator, f"/coordinator/campaigns/{coalition.slug}/day"),
        (coalition.coordinator, f"/coordinator/campaigns/{coalition.slug}/pledges"),
        (coalition.coordinator, f"/coordinator/campaigns/{coalition.slug}"),
        (coalition.anonymous, f"/campaigns/{coalition.slug}"),
        (coalition.member, "/member"),
        (coalition.member, "/member/departure"),
    ):
        status, html = _visit(browser, path, language)
        assert status == 200, (path, status)
        problems += _problems(path, html, language)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_dates_are_written_for_the_reader(coalition: Coalition, language: str) -> None:
    for who, path, moment in (
        ("anonymous", f"/campaigns/{coalition.slug}", language),
        ("coordinator", f"/coordinator/campaigns/{coalition.slug}", language),
        ("member", "/member/departure", language),
        ("member", "/member", f"{language} deadline"),
    ):
        _status, html = _visit(getattr(coalition, who), path, language)
        assert coalition.departure_shown[moment] in html, (path, moment)


def test_the_sweep_finds_english_left_behind() -> None:
    """The sweep itself: it fails on what it is meant to find."""
    page = (
        '<html lang="nl"><body><h1>Invitations</h1><p>7 December 2026</p>'
        "<p>2026-12-07 15:05 UTC</p><p>Connected account: @oxfam.be</p>"
        '<p lang="en">Invitations</p><script>var x = "Invitations";</script>'
        '<input type="submit" value="Revoke"><div data-over="too long for Bluesky: shorten it">'
        "</div></body></html>"
    )
    html_lang, found = english_left(page, "nl")
    assert html_lang == "nl"
    assert "untranslated: 'Invitations'" in found
    assert "untranslated: 'Revoke'" in found
    assert "untranslated: 'too long for Bluesky: shorten it'" in found
    assert any(
        problem.startswith("date not written for the reader (December)") for problem in found
    )
    assert any(
        problem.startswith("untranslated sentence 'Connected account: @%(handle)s'")
        for problem in found
    )
    assert any("(2026-12-07 15:05)" in problem for problem in found)
    assert len(found) == 6  # the part marked English and the script are not the reader's
    clean = '<html lang="nl"><body><h1>Uitnodigingen</h1><p>7 december 2026</p></body></html>'
    assert english_left(clean, "nl") == ("nl", [])


def test_no_text_is_translated_when_a_module_is_imported() -> None:
    """A ``_()`` run at import time is translated once, into English, for every reader:
    module and class level texts must be ``lazy_gettext`` (translated when shown)."""
    translating = {"_", "gettext", "ngettext", "pgettext", "npgettext"}
    found: list[str] = []

    def walk(node: ast.AST, in_function: bool, path: Path) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            )
            if (
                not in_function
                and isinstance(child, ast.Call)
                and isinstance(child.func, ast.Name)
                and child.func.id in translating
            ):
                found.append(f"{path}:{child.lineno}: {ast.unparse(child)[:80]}")
            walk(child, inside, path)

    for path in sorted(Path(departures.__file__).parent.rglob("*.py")):
        walk(ast.parse(path.read_text(encoding="utf-8")), False, path)
    assert not found, "\n".join(found)
