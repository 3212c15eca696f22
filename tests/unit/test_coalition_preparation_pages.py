"""The pages of #14 in-process (SQLite): the invitations page (one invitation, a CSV of the
wrong encoding, resend and revoke), the pledge picture, the welcome editor's preview (with and
without JavaScript) and the checklist; each refused to whoever it does not belong to."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from departures.coalition.store import Campaign, CoalitionStore, access
from departures.coalition.web import CoalitionApp
from helpers.clock import START
from helpers.coalition import join, open_campaign
from helpers.web import InProcessBrowser, coalition_app


@pytest.fixture
def app(store: CoalitionStore) -> CoalitionApp:
    return coalition_app(store, base_url="http://testserver")


@pytest.fixture
def visitors(app: CoalitionApp) -> Iterator[list[InProcessBrowser]]:
    opened: list[InProcessBrowser] = []
    yield opened
    for visitor in opened:
        visitor.close()


def _visitor(app: CoalitionApp, visitors: list[InProcessBrowser]) -> InProcessBrowser:
    visitor = InProcessBrowser(app)
    visitors.append(visitor)
    return visitor


def _coordinator(
    app: CoalitionApp, visitors: list[InProcessBrowser], store: CoalitionStore
) -> tuple[InProcessBrowser, Campaign, int]:
    coordinator_id, campaign = open_campaign(store, threshold=2, deadline=START + timedelta(days=7))
    office = _visitor(app, visitors)
    # open_campaign keeps no token: a new one signs the coordinator in.
    token = access.replace_coordinator_token(store.engine, coordinator_id)
    assert office.submit("/login", {"token": token}, "/login").status_code == 200
    return office, campaign, coordinator_id


def test_invitations_page_invites_resends_revokes_and_explains_a_bad_file(
    app: CoalitionApp, visitors: list[InProcessBrowser], store: CoalitionStore
) -> None:
    office, campaign, _coordinator_id = _coordinator(app, visitors, store)
    page = f"/coordinator/campaigns/{campaign.slug}/invitations"
    sent = office.submit(
        page, {"name": "Oxfam", "email": "info@oxfam.example", "website": "", "days": "14"}, page
    )
    assert sent.status_code == 200
    assert 'class="invitation-queued"' in sent.text

    # A CSV saved in Windows-1252 (an é): refused, the row named, nothing imported.
    latin = "Café Coalitie;cafe@example.org;\n".encode("cp1252")
    refused = office.post(
        f"{page}/csv",
        data={"csrf": office.csrf(page), "days": "14"},
        files={"csv": ("leden.csv", latin, "text/csv")},
    )
    assert refused.status_code == 400
    assert "not UTF-8 text (row 1" in refused.text
    assert refused.text.count('<tr id="invitation-') == 1  # still only Oxfam

    [invitation] = [
        line for line in sent.text.splitlines() if 'id="invitation-' in line and "<tr" in line
    ]
    invitation_id = invitation.split('id="invitation-', 1)[1].split('"', 1)[0]
    again = office.submit(f"{page}/{invitation_id}/resend", {}, page)
    assert "sent 2 times" in again.text
    revoked = office.submit(f"{page}/{invitation_id}/revoke", {}, page)
    assert 'class="invitation-revoked"' in revoked.text
    assert f"{page}/{invitation_id}/resend" not in revoked.text
    refused_again = office.submit(f"{page}/{invitation_id}/resend", {}, page)
    assert refused_again.status_code == 409

    # Another coordinator, and a visitor, see none of it.
    other = _visitor(app, visitors)
    _id, token = store.create_coordinator("Other office")
    other.submit("/login", {"token": token}, "/login")
    assert other.get(page).status_code == 403
    assert other.get(f"/coordinator/campaigns/{campaign.slug}/pledges").status_code == 403
    assert _visitor(app, visitors).get(page).status_code == 403


def test_a_departure_in_the_past_is_refused_on_the_form(
    app: CoalitionApp, visitors: list[InProcessBrowser], store: CoalitionStore
) -> None:
    office, _campaign, _coordinator_id = _coordinator(app, visitors, store)
    form = {
        "title": "Too late",
        "description": "",
        "threshold": "2",
        "timezone": "Europe/Brussels",
        "deadline": "2024-12-20T12:00",
        "departure_at": "2024-12-31T12:00",  # the store's clock says 2025-01-01
        "coordinator_handle": "",
    }
    refused = office.submit("/coordinator/campaigns", form, "/coordinator")
    assert refused.status_code == 409
    assert "The departure time (31 December 2024, 12:00 CET) is in the past" in refused.text
    assert "check the year" in refused.text
    assert "Too late" not in office.get("/coordinator").text


def test_the_welcome_preview_and_the_checklist_of_a_member(
    app: CoalitionApp, visitors: list[InProcessBrowser], store: CoalitionStore
) -> None:
    coordinator_id, campaign = open_campaign(store, threshold=1)
    organisation, key = join(store, campaign.slug, coordinator_id, "Oxfam")
    store.pledge(organisation.id, 0)
    member = _visitor(app, visitors)
    member.submit("/member/sign-in", {"key": key}, "/member/sign-in")
    page = member.get("/member/departure")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/welcome.js"' in page.text

    text = "Hello Bluesky! #LeaveX https://example.org/a/very/long/path/to/our/statement"
    preview = member.submit(
        "/member/departure/preview.json", {"welcome_text": text}, "/member/departure"
    )
    data = preview.json()
    assert [s["kind"] for s in data["segments"]] == ["", "tag", "", "link"]
    assert data["segments"][3]["value"] == "https://example.org/a/very/long/path/to/our/statement"
    assert data["graphemes"] < len(text) and data["fits"] and data["limit"] == 300

    # Without JavaScript: the Preview button renders the same, and saves nothing.
    shown = member.submit(
        "/member/departure/welcome",
        {"welcome_text": "x" * 301, "action": "preview"},
        "/member/departure",
    )
    assert shown.status_code == 200
    assert "301 of 300 characters" in shown.text and "too long for Bluesky" in shown.text

    saved = member.submit(
        "/member/departure/checklist",
        {"item-archive": "1", "item-dormant": "1"},
        "/member/departure",
    )
    assert saved.status_code == 200
    assert saved.text.count(" checked>") == 2
    office = _visitor(app, visitors)
    office.submit(
        "/login",
        {"token": access.replace_coordinator_token(store.engine, coordinator_id)},
        "/login",
    )
    pledges = office.get(f"/coordinator/campaigns/{campaign.slug}/pledges")
    assert "2 of 7" in pledges.text
    assert 'id="unconditional"' in pledges.text and "Oxfam" in pledges.text
    # A coordinator is not a member: the member's pages refuse it.
    assert office.get("/member/departure").status_code == 403
