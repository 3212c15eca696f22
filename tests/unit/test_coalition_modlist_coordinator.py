"""The coordinator decides on its campaign's moderation list in the browser: the page linked
from the manage page shows waiting proposals and open appeals; it approves and rejects
(never its own proposal) and upholds or dismisses appeals (never one of a listing it took part
in), through the same rules as the CLI; another coordinator is refused; the page in Dutch.
And no back door: ``coalition campaign moderate --block`` is refused, pointing to a proposal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from departures.coalition.db import connect, migrate
from departures.coalition.store import CoalitionStore, access
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from helpers.cli import run_cli
from helpers.coalition import join, open_campaign
from helpers.web import InProcessBrowser, coalition_app

POST = "https://bsky.app/profile/hostile.example/post/3kabc"


def _did(letter: str) -> str:
    return "did:plc:" + letter * 24


def _propose(store: CoalitionStore, campaign_id: int, proposer: Actor, letter: str) -> int:
    return rows.propose(
        store.engine,
        campaign_id,
        proposer,
        did=_did(letter),
        handle=f"{letter}.example",
        reasons="Threats in replies.",
        evidence=[POST],
        now=store.clock(),
    ).id


def test_the_coordinator_decides_proposals_and_appeals_on_its_page(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    me = Actor.coordinator(coordinator)
    first, second = (
        join(store, campaign.slug, coordinator, name)[0] for name in ("NGO 1", "NGO 2")
    )
    by_member = _propose(store, campaign.id, Actor.member(first.id), "a")
    rejected = _propose(store, campaign.id, Actor.member(first.id), "b")
    own = _propose(store, campaign.id, me, "c")
    app = coalition_app(store, forms_per_minute=1000)
    page = f"/coordinator/campaigns/{campaign.slug}/modlist"
    with InProcessBrowser(app) as office:
        token = access.replace_coordinator_token(store.engine, coordinator)
        assert office.submit("/login", {"token": token}, "/login").status_code == 200
        manage = office.get(f"/coordinator/campaigns/{campaign.slug}")
        assert f'href="{page}" id="modlist-link"' in manage.text
        shown = office.get(page)
        assert shown.status_code == 200
        assert f'action="{page}/{by_member}/decide"' in shown.text
        assert f'action="{page}/{own}/decide"' not in shown.text
        assert "You proposed it: a member decides." in shown.text

        refused = office.submit(f"{page}/{own}/decide", {"decision": "approve"}, page)
        assert refused.status_code == 403
        assert "nobody approves or rejects their own proposal" in refused.text.lower()
        assert rows.proposal(store.engine, own).state == "proposed"
        no_reason = office.submit(f"{page}/{rejected}/decide", {"decision": "reject"}, page)
        assert no_reason.status_code == 400
        assert (
            office.submit(
                f"{page}/{rejected}/decide", {"decision": "reject", "reason": "Satire."}, page
            ).status_code
            == 200
        )
        approved = office.submit(f"{page}/{by_member}/decide", {"decision": "approve"}, page)
        assert approved.status_code == 200
        assert rows.proposal(store.engine, by_member).state == "listed"
        assert rows.proposal(store.engine, rejected).state == "rejected"
        assert rows.proposal(store.engine, by_member).decider == me
        # The coordinator's own proposal is decided by a member.
        rows.decide(
            store.engine, campaign.id, own, Actor.member(second.id),
            approve=True, reason="", now=store.clock(),
        )  # fmt: skip

        # An appeal of a listing the coordinator approved: someone else decides it.
        took_part = rows.appeal(
            store.engine, campaign.id, by_member, _did("a"), "Satire.", store.clock()
        )
        # A listing of two members (the coordinator took no part): it decides.
        listed_by_members = _propose(store, campaign.id, Actor.member(first.id), "d")
        rows.decide(
            store.engine, campaign.id, listed_by_members, Actor.member(second.id),
            approve=True, reason="", now=store.clock(),
        )  # fmt: skip
        free = rows.appeal(
            store.engine, campaign.id, listed_by_members, _did("d"), "Not me.", store.clock()
        )
        shown = office.get(page)
        assert f'action="{page}/appeals/{took_part.id}/decide"' not in shown.text
        assert f'action="{page}/appeals/{free.id}/decide"' in shown.text
        refused = office.submit(
            f"{page}/appeals/{took_part.id}/decide",
            {"decision": "uphold", "reason": "Fine."},
            page,
        )
        assert refused.status_code == 403
        assert "you took part in this listing" in refused.text.lower()
        upheld = office.submit(
            f"{page}/appeals/{free.id}/decide", {"decision": "uphold", "reason": "Fair."}, page
        )
        assert upheld.status_code == 200
        (decided,) = rows.appeals(store.engine, campaign.id, "upheld")
        assert decided.id == free.id and decided.decider == me
        assert rows.proposal(store.engine, listed_by_members).state == "removed"
        assert [a.id for a in rows.appeals(store.engine, campaign.id, "open")] == [took_part.id]

        manage = office.get(
            f"/coordinator/campaigns/{campaign.slug}", headers={"accept-language": "nl"}
        )
        assert "Beslissen over de moderatielijst" in manage.text


def test_another_coordinator_and_a_visitor_are_refused(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    member, _key = join(store, campaign.slug, coordinator, "NGO 1")
    proposal = _propose(store, campaign.id, Actor.member(member.id), "a")
    _other_id, other_token = store.create_coordinator("Someone else")
    app = coalition_app(store, forms_per_minute=1000)
    page = f"/coordinator/campaigns/{campaign.slug}/modlist"
    with InProcessBrowser(app) as visitor:
        assert visitor.get(page).status_code in (303, 403)
    with InProcessBrowser(app) as other:
        assert other.submit("/login", {"token": other_token}, "/login").status_code == 200
        assert other.get(page).status_code == 403
        refused = other.submit(f"{page}/{proposal}/decide", {"decision": "approve"}, "/coordinator")
        assert refused.status_code == 403
    assert rows.proposal(store.engine, proposal).state == "proposed"


def test_moderate_block_is_refused_with_the_way_through_due_process(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'coalition.db'}"
    engine = connect(db)
    migrate(engine)
    store = CoalitionStore(engine)
    coordinator, token = store.create_coordinator("Office")
    now = datetime.now(UTC)
    campaign = store.create_campaign(
        coordinator,
        title="Leave X",
        threshold=2,
        deadline=now + timedelta(days=7),
        departure_at=now + timedelta(days=14),
    )
    done = run_cli(
        "coalition", "campaign", "moderate", "--db", db, campaign.slug,
        "--block", "troll.example", "--bluesky-service", "http://127.0.0.1:9",
        env={"DEPARTURES_COALITION_TOKEN": token},
    )  # fmt: skip
    assert done.returncode != 0
    (line,) = [line for line in done.stderr.splitlines() if line.strip()]
    assert f"departures coalition modlist propose {campaign.slug} troll.example" in line
    assert rows.proposals(store.engine, campaign.id) == []
