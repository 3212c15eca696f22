"""The coalition's whole story in a real headless Chromium, against the local Bluesky sandbox
and a real SMTP receiver, with a screenshot of each step in ``test-artifacts/coalition/``.

One server, each page in its reader's language (``Accept-Language`` of the browser context).
A coordinator (browser in Dutch) creates a campaign — a departure in the past is refused
first — opens it and invites three organisations from a CSV whose ``taal`` column chooses
each e-mail's language (a CSV with a broken row is refused first, naming the row, nothing
imported), plus one whose address bounces. The service e-mails the invitations, each in its
language; each organisation follows its e-mailed link (browsers in French and English),
joins with its sandbox Bluesky account, pledges (one on condition), writes its welcome post
with the live preview (one over the limit first: refused, the text kept) and ticks its
checklist. The coordinator sees who goes and why; the campaign tips; at the departure time
the scheduler publishes the welcome posts on the sandbox; the members mark themselves
landed; the day view and the public board show them landed.

Every refusal is checked as the exact sentence of the reader's catalogue (and the catalogue
is checked to differ from the English). Every selector is an id or a form's action.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from atproto import Client
from sqlalchemy import Engine

from departures.coalition.departure import DepartureDay, welcome_text
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore
from departures.coalition.vault import Vault
from departures.i18n import _, format_moment, use_language
from departures.sandbox import Account
from departures.sandbox.pytest_plugin import TestSandbox
from helpers.clock import Clock
from helpers.mail import Inbox
from helpers.web import coalition_app, on_sandbox, serve

pytestmark = pytest.mark.sandbox

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "coalition"
KEY = b"test-key"  # coalition_app's cookie and link key
ZONE = ZoneInfo("Europe/Brussels")
COORDINATOR_LOCALE = "nl-BE"
# Organisation name, browser locale, pledge (0 = unconditional, N = if N others go); the
# e-mail's language is the browser's (the CSV's "taal" column).
MEMBERS = [
    ("Ligue des droits humains", "fr-BE", 0),
    ("Oxfam Belgium", "en-GB", 1),
    ("CNCD-11.11.11", "fr-BE", 0),
]


@pytest.fixture(autouse=True)
def local_plc(sandbox: TestSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPARTURES_PLC_URL", sandbox.plc_url)


@pytest.fixture
def world(
    engine: Engine, sandbox: TestSandbox, smtp: tuple[Inbox, int]
) -> Iterator[dict[str, Any]]:
    """The app (Bluesky writes on the sandbox) served once — each page in its reader's
    language — the store, its clock and the scheduler."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    store = CoalitionStore(engine, clock=clock)
    day = DepartureDay(store, Vault(b"a test secret that is long enough"), sandbox.pds_url)

    def app(base: str) -> Any:
        return coalition_app(store, base_url=base, departure=day, **on_sandbox(sandbox.pds_url))

    with serve(app) as base:
        notifier = Notifier(
            store,
            base_url=base,
            smtp=SMTPSettings(host="127.0.0.1", port=smtp[1], sender="coalition@test"),
            secret_key=KEY,
            departure_hook=day,
        )
        yield {"base": base, "store": store, "clock": clock, "notifier": notifier}


def said(language: str, message: str, *, same: bool = False, **values: object) -> str:
    """``message`` as the ``language`` catalogue says it, ``values`` filled in; for Dutch
    and French, checked to be a translation (not the English left as it was) unless it is
    ``same`` in both languages."""
    with use_language(language):
        text = _(message)
    if language != "en" and not same:
        assert text != message, f"not translated into {language}: {message!r}"
    return text % values if values else text


def shown(sentence: str) -> str:
    """A message as the pages show it: capital first letter, full stop."""
    return sentence[:1].upper() + sentence[1:] + ("" if sentence.endswith((".", "!")) else ".")


class Shots:
    """Numbered screenshots of the story."""

    def __init__(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()
        self.n = 0

    def take(self, page: Any, name: str) -> None:
        self.n += 1
        page.screenshot(path=str(ARTIFACTS / f"{self.n:02d}-{name}.png"), full_page=True)


def _local(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")


def _page(browser: Any, locale: str) -> Any:
    page = browser.new_context(locale=locale).new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: pytest.fail(f"a script ran: {dialog.message}"))
    return page


def _submit(page: Any, action: str) -> None:
    page.click(f'form[action="{action}"] button[type="submit"]')


def _posts(sandbox: TestSandbox, did: str) -> list[Any]:
    client = Client(base_url=f"{sandbox.pds_url}/xrpc")
    try:
        listed = client.com.atproto.repo.list_records(
            {"repo": did, "collection": "app.bsky.feed.post", "limit": 10}
        )
        return list(listed.records)
    finally:
        client.request.close()


def test_a_coalition_invites_pledges_departs_and_lands_in_a_real_browser(
    browser: Any, world: dict[str, Any], sandbox: TestSandbox, smtp: tuple[Inbox, int]
) -> None:
    base, store, clock, notifier = (world[k] for k in ("base", "store", "clock", "notifier"))
    inbox = smtp[0]
    shots = Shots()
    accounts: list[Account] = [sandbox.new_account(f"org{n}") for n in range(len(MEMBERS))]
    _, token = store.create_coordinator("Coalitie Vertrek")
    now = clock()

    # --- the coordinator creates and opens the campaign --------------------------------
    office = _page(browser, COORDINATOR_LOCALE)
    office.goto(f"{base}/login")
    office.fill("#token", token)
    _submit(office, "/login")
    assert office.evaluate("document.documentElement.lang") == "nl"
    office.fill("#title", "Samen weg van X")
    office.fill("#description", "Op één dag verlaten we X en landen we op Bluesky.")
    office.fill("#threshold", "2")
    office.fill("#deadline", _local(now + timedelta(days=7)))
    office.fill("#departure_at", _local(now - timedelta(days=1)))  # a typo: in the past
    _submit(office, "/coordinator/campaigns")
    refusal = office.inner_text(".error[role=alert]")
    before, after = said("nl", "The departure time (%(when)s) is in the past").split("%(when)s")
    assert refusal.startswith(before) and refusal.endswith(after), refusal
    hint = "Give a date and time in the future (check the year), in the campaign's timezone"
    assert said("nl", hint) in office.inner_text("main")
    shots.take(office, "departure-in-the-past-refused")
    office.go_back()
    office.fill("#departure_at", _local(now + timedelta(days=14)))
    _submit(office, "/coordinator/campaigns")
    slug = office.url.rsplit("/", 1)[-1]
    shots.take(office, "campaign-created")
    # The public board in the coalition's three languages, Dutch for any other reader.
    for code in ("nl", "fr", "en"):
        office.check(f"#language_{code}")
    office.select_option("#fallback", "nl")
    _submit(office, f"/coordinator/campaigns/{slug}/languages")
    _submit(office, f"/coordinator/campaigns/{slug}/open")
    shots.take(office, "campaign-open")

    # --- invitations: a broken CSV, then the right one, then one that bounces ----------
    office.click("#nav-invitations")
    assert office.evaluate("document.documentElement.lang") == "nl"
    header = "\ufeffnaam;e-mail;website;taal\r\n"
    rows = [
        f"{name};contact{n}@members.example;https://org{n}.example;{locale[:2]}"
        for n, (name, locale, _pledge) in enumerate(MEMBERS)
    ]
    broken = header + "\r\n".join([*rows, "Kapot;geen-adres;"]) + "\r\n"
    office.set_input_files(
        "#inv-csv",
        {"name": "leden.csv", "mimeType": "text/csv", "buffer": broken.encode("utf-8")},
    )
    _submit(office, f"/coordinator/campaigns/{slug}/invitations/csv")
    error = office.inner_text("#csv-error")
    not_an_address = said(
        "nl",
        "%(label)s is not an e-mail address",
        label=said("nl", "“%(value)s”", same=True, value="geen-adres"),
    )
    # The header is row 1: the broken row is the file's fifth.
    assert shown(said("nl", "row %(line)d: %(problem)s", line=5, problem=not_an_address)) in error
    assert said("nl", "Correct that row and import the file again; nothing was imported") in error
    assert said("nl", "CSV file") in office.inner_text("main")  # the page itself is Dutch
    assert office.locator("#invitations").count() == 0  # nothing imported
    shots.take(office, "csv-broken-row-refused")
    good = header + "\r\n".join(rows) + "\r\n"
    office.set_input_files(
        "#inv-csv",
        {"name": "leden.csv", "mimeType": "text/csv", "buffer": good.encode("utf-8")},
    )
    _submit(office, f"/coordinator/campaigns/{slug}/invitations/csv")
    assert office.locator("#invitations tbody tr").count() == 3
    office.fill("#inv-name", "Vergeten Vereniging")
    office.fill("#inv-email", "info@bounces.invalid")
    _submit(office, f"/coordinator/campaigns/{slug}/invitations")
    assert office.locator("#invitations .invitation-queued").count() == 4
    report = notifier.tick()
    assert (report.sent, report.failed) == (3, 1)
    office.reload()
    assert office.locator("#invitations .invitation-sent").count() == 3
    assert office.locator("#invitations .invitation-bounced").count() == 1
    bounced = office.inner_text("#invitations .invitation-bounced")
    assert said("nl", "bounced") in bounced
    assert (
        said(
            "nl",
            "The receiving mail server refused this address: %(reason)s",
            reason="550 5.1.1 No such mailbox here",
        )
        in bounced
    )
    languages = office.locator("#invitations td.language").all_inner_texts()
    assert sorted(languages) == sorted(["Français", "English", "Français", "Nederlands"])
    shots.take(office, "invitations-sent-and-one-bounced")

    # --- each organisation joins through its e-mailed link and pledges ------------------
    members = []
    for n, ((name, locale, condition), account) in enumerate(zip(MEMBERS, accounts, strict=True)):
        [mail] = [m for m in inbox.messages if m["To"] == f"contact{n}@members.example"]
        language = locale[:2]
        # The e-mail in the language the coordinator chose for it (the CSV's "taal").
        assert mail["Subject"] == said(language, "Invitation: %(title)s", title="Samen weg van X")
        with use_language(language):  # its dates as a reader of that language writes them
            campaign = store.campaign(slug)
            deadline = format_moment(campaign.deadline, campaign.zone)
        assert deadline in mail.get_content()
        found = re.search(r"(http://127\.0\.0\.1:\d+/invite/\S+)", mail.get_content())
        assert found is not None, mail.get_content()
        page = _page(browser, locale)
        page.goto(found.group(1))
        assert page.evaluate("document.documentElement.lang") == language
        page.fill("#name", name)
        page.fill("#email", f"contact{n}@members.example")
        page.fill("#website", f"https://org{n}.example")
        page.fill("#bluesky_handle", account.handle)
        page.check("#public_name")
        page.click('form[action^="/invite/"] button[type="submit"]')
        page.wait_for_selector("#member-key")
        if condition:
            page.check("#kind-conditional")
            page.fill("#min_others", str(condition))
        _submit(page, "/member/pledge")
        assert page.inner_text("#our-pledge")
        shots.take(page, f"member-{n}-pledged")
        members.append(page)

    # --- one member's welcome post: over the limit first, then the live preview ---------
    first = members[0]
    first.click("#prepare-departure")
    first.fill("#welcome_text", "Bonjour Bluesky ! " * 20)
    first.fill("#app_password", accounts[0].app_password)
    first.check("#opted_in")
    first.click("#save-welcome")
    too_long = welcome_text(("Bonjour Bluesky ! " * 20).strip()).graphemes
    refused = first.inner_text("#welcome-error")
    assert (
        shown(said("fr", "the welcome post is too long (%(n)d characters)", n=too_long)) in refused
    )
    assert said("fr", "Nothing was saved; your text is still below.") in refused
    assert first.input_value("#welcome_text").startswith("Bonjour Bluesky !")  # kept
    shots.take(first, "welcome-post-over-the-limit")

    texts = [
        "Nous avons quitté X : retrouvez-nous ici ! #QuitterX https://org0.example/bluesky",
        f"We have left X with @{accounts[0].handle} and @nobody-here.test. #LeaveX",
        "Nous sommes sur Bluesky, avec toute la coalition. #QuitterX",
    ]
    for n, page in enumerate(members):
        if n:
            page.click("#prepare-departure")
        page.fill("#welcome_text", "")
        page.type("#welcome_text", texts[n], delay=5)  # keystrokes: the live preview
        # Drawn by welcome.js (the server's own preview had no tag, or no text at all).
        page.wait_for_selector("#welcome-rendered .facet-tag")
        expected = welcome_text(texts[n]).graphemes
        assert page.inner_text("#welcome-count").startswith(f"{expected} ")
        assert "300" in page.inner_text("#welcome-count")
        page.fill("#app_password", accounts[n].app_password)
        page.check("#opted_in")
        page.click("#save-welcome")
        assert page.locator("#welcome-saved").count() == 1
        assert page.locator("#welcome-account").count() == 1
        for item in ("archive", "profile", "welcome", "farewell")[: 4 - n]:
            page.check(f"#item-{item}")
        _submit(page, "/member/departure/checklist")
        shots.take(page, f"member-{n}-welcome-and-checklist")
    assert members[0].locator("#welcome-rendered a.facet-link").count() == 1
    # Mentions: a handle that exists becomes a mention, an unknown one is said to be plain text.
    assert members[1].locator("#welcome-rendered .facet-mention").count() == 1
    assert "nobody-here.test" in members[1].inner_text("#welcome-unresolved")
    assert said("fr", "Our departure checklist") in members[0].inner_text("main")
    assert "Our departure checklist" in members[1].inner_text("main")
    assert members[1].evaluate("document.documentElement.lang") == "en"

    # --- the coordinator's picture of the pledges; the campaign tips ---------------------
    office.goto(f"{base}/coordinator/campaigns/{slug}/pledges")
    assert office.evaluate("document.documentElement.lang") == "nl"
    assert "vertrekken" in office.inner_text("#pledge-summary")
    assert office.locator("#unconditional li").count() == 2
    assert office.locator("#conditional li").count() == 1
    assert "Oxfam Belgium" in office.inner_text("#conditional")
    assert office.locator("#waiting").count() == 0
    member_ids = [row.get_attribute("id") for row in office.locator("tbody tr").all()]
    assert len(member_ids) == 3
    shots.take(office, "pledge-picture")
    notifier.tick()
    for n, (_name, locale, _pledge) in enumerate(MEMBERS):
        told = [
            m
            for m in inbox.messages
            if m["To"] == f"contact{n}@members.example"
            and "/campaign_on#" in str(m["X-Departures-Message"])
        ]
        # Each member is told in the language it joined in (its browser's).
        on = said(locale[:2], "{title}: the campaign is on").format(title="Samen weg van X")
        assert [str(m["Subject"]) for m in told] == [on]

    # --- the departure passes in the sandbox ---------------------------------------------
    campaign = store.campaign(slug)
    clock.now = campaign.departure_at + timedelta(minutes=1)
    office.goto(f"{base}/coordinator/campaigns/{slug}/day")
    assert office.locator("#happenings-none").count() == 1
    report = notifier.tick()
    assert report.errors == []
    for account, text in zip(accounts, texts, strict=True):
        [post] = _posts(sandbox, account.did)
        assert post.value.text.split("#")[0] == text.split("#")[0]
        tags = [f.features[0].tag for f in post.value.facets or [] if hasattr(f.features[0], "tag")]
        assert tags and tags[0] in ("QuitterX", "LeaveX")
    [mentioned] = [
        f.features[0].did
        for f in _posts(sandbox, accounts[1].did)[0].value.facets or []
        if hasattr(f.features[0], "did")
    ]
    assert mentioned == accounts[0].did
    for n, page in enumerate(members):
        page.goto(f"{base}/member")
        _submit(page, "/member/landed")
        shots.take(page, f"member-{n}-landed")
    members[2].click("#prepare-departure")
    members[2].check("#item-dormant")
    _submit(members[2], "/member/departure/checklist")

    # --- the day view and the public board show them landed ------------------------------
    office.goto(f"{base}/coordinator/campaigns/{slug}/day")
    assert office.locator("#happenings .happening-welcome").count() == 3
    assert office.locator("#happenings .happening-landed").count() == 3
    assert office.locator('meta[http-equiv="refresh"]').count() == 1
    shots.take(office, "departure-day")
    board = _page(browser, "fr-BE")
    board.goto(f"{base}/campaigns/{slug}")
    assert board.evaluate("document.documentElement.lang") == "fr"
    assert board.locator("li.org.status-landed").count() == 3
    shots.take(board, "board-landed")
    data = httpx.get(f"{base}/campaigns/{slug}/board.json").json()
    assert {o["status"] for o in data["organisations"]} == {"landed"}
    assert len(list(ARTIFACTS.glob("*.png"))) == shots.n >= 15
