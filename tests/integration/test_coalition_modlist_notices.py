"""Nobody has to watch the moderation list's pages: a waiting proposal or an open appeal is
e-mailed to the members who may decide it (not the proposer; for an appeal, nobody who took
part in the listing), in each member's language, once however many passes run, with a link
to the page — delivered through a real SMTP receiver; the coordinator is told through the
service's webhook with a link to its page of the list. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from email.message import EmailMessage

from departures.coalition import modlist_notices
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.store import CoalitionStore
from departures.coalition.store import moderation as rows
from departures.coalition.store.languages import set_organisation_language
from departures.coalition.store.moderation import Actor
from helpers.coalition import join, open_campaign
from helpers.mail import Inbox
from helpers.stores import ON_BOTH_STORES

BASE = "http://coalition.test"
HOSTILE = "did:plc:" + "h" * 24
POST = "https://bsky.app/profile/hostile.example/post/3kabc"


@ON_BOTH_STORES
def test_deciders_are_emailed_once_in_their_language_with_the_link(
    store: CoalitionStore, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(store, title="Samen weg van X")
    a, b, c = (
        join(store, campaign.slug, coordinator, name, email=f"info@{name.lower()}.example")[0]
        for name in ("Alpha", "Beta", "Gamma")
    )
    set_organisation_language(store.engine, b.id, "nl")
    set_organisation_language(store.engine, c.id, "fr")
    notifier = Notifier(
        store,
        base_url=BASE,
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
    )
    proposal = rows.propose(
        store.engine,
        campaign.id,
        Actor.member(a.id),
        did=HOSTILE,
        handle="hostile.example",
        reasons="Threats in replies.",
        evidence=[POST],
        now=store.clock(),
    )

    def told(address: str) -> list[EmailMessage]:
        # Only the moderation list's notices (the pass also sends pledge reminders).
        return [
            m
            for m in inbox.messages
            if m["To"] == address and "/modlist-" in str(m["X-Departures-Message"])
        ]

    assert notifier.tick().failed == 0
    assert told("info@alpha.example") == []  # the proposer does not decide its own
    (dutch,) = told("info@beta.example")
    (french,) = told("info@gamma.example")
    assert str(dutch["Subject"]).strip() == (
        "Samen weg van X: @hostile.example is voorgesteld voor de moderatielijst"
    )
    assert "proposé pour la liste de modération" in str(french["Subject"])
    assert f"{BASE}/member#modlist" in dutch.get_content()
    assert str(dutch["X-Departures-Message"]).endswith(f"/modlist-proposal#{proposal.id}")
    sent = len(inbox.messages)
    notifier.tick()  # once per proposal: another pass tells nobody again
    assert len(inbox.messages) == sent

    # Beta approves; the account appeals: only Gamma took no part in the listing.
    rows.decide(
        store.engine,
        campaign.id,
        proposal.id,
        Actor.member(b.id),
        approve=True,
        reason="",
        now=store.clock(),
    )
    rows.appeal(store.engine, campaign.id, proposal.id, HOSTILE, "Satire.", store.clock())
    notifier.tick()
    assert len(told("info@gamma.example")) == 2
    assert told("info@alpha.example") == [] and len(told("info@beta.example")) == 1
    appeal_mail = told("info@gamma.example")[-1]
    assert "fait appel" in str(appeal_mail["Subject"])
    sent = len(inbox.messages)
    notifier.tick()
    assert len(inbox.messages) == sent


@ON_BOTH_STORES
def test_the_coordinator_is_told_through_the_webhook_with_its_page(
    store: CoalitionStore,
) -> None:
    coordinator, campaign = open_campaign(store)
    member, _key = join(store, campaign.slug, coordinator, "Alpha")
    hook = "https://hooks.example/coalition"
    rows.propose(
        store.engine,
        campaign.id,
        Actor.member(member.id),
        did=HOSTILE,
        handle="",
        reasons="Threats.",
        evidence=[POST],
        now=store.clock(),
    )
    # The pass's queueing step (delivery to a webhook is test_coalition_notify's).
    assert modlist_notices.queue(store, campaign, BASE, hook) == 1
    assert modlist_notices.queue(store, campaign, BASE, hook) == 0
    (queued,) = [row for row in store.outbox(campaign.id) if row["message"].startswith("modlist")]
    assert queued["recipient"] == f"webhook:{hook}"
    payload = json.loads(str(queued["body"]))
    assert payload["page"] == f"{BASE}/coordinator/campaigns/{campaign.slug}/modlist"
    assert HOSTILE in str(queued["subject"])
