"""The moderation list's pages and the coordinator's commands, without Bluesky: the member
page's forms, the refusals (own proposal, uninvolved appeal deciders, appeals from anyone but
the listed account), the public page and JSON, and ``departures coalition modlist ...``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from departures.bluesky.session import StoredSession
from departures.coalition.db import connect, migrate
from departures.coalition.errors import NotAllowed
from departures.coalition.store import CoalitionStore
from departures.coalition.store import moderation as rows
from departures.coalition.store.moderation import Actor
from helpers.cli import run_cli
from helpers.coalition import join, open_campaign
from helpers.web import InProcessBrowser, coalition_app

HOSTILE = "did:plc:" + "h" * 24
POST = "https://bsky.app/profile/hostile.example/post/3kabc"


class Resolver:
    known: ClassVar[dict[str, str]] = {"hostile.example": HOSTILE}

    def resolve(self, handle: str) -> str:
        return self.known[handle]


class SignIn:
    """The hostile account and a bystander sign in with Bluesky (a fake PDS)."""

    accounts: ClassVar[dict[str, str]] = {
        "hostile.example": HOSTILE,
        "bystander.example": "did:plc:" + "y" * 24,
    }

    def verify(self, handle: str, password: str) -> tuple[str, str]:
        if handle not in self.accounts or password != "right":
            raise NotAllowed("the Bluesky server refused this handle and app password")
        return self.accounts[handle], handle

    def revoke(self, session: StoredSession) -> bool:
        return True


def member(app: object, key: str) -> InProcessBrowser:
    browser = InProcessBrowser(app)
    assert browser.submit("/member/sign-in", {"key": key}, "/member/sign-in").status_code == 200
    return browser


def test_members_propose_decide_and_the_listed_account_appeals_on_the_pages(
    store: CoalitionStore,
) -> None:
    coordinator, campaign = open_campaign(store)
    keys = [join(store, campaign.slug, coordinator, f"NGO {i}")[1] for i in range(4)]
    app = coalition_app(store, resolver=Resolver(), bluesky_sign_in=SignIn(), forms_per_minute=1000)
    public = f"/campaigns/{campaign.slug}/moderation"
    with member(app, keys[0]) as first:
        bad = first.submit(
            "/member/modlist/propose",
            {"account": "hostile.example", "reasons": "Threats.", "evidence": "not a link"},
            "/member",
        )
        assert bad.status_code == 400 and "not a link to a post" in bad.text
        made = first.submit(
            "/member/modlist/propose",
            {"account": "@hostile.example", "reasons": "Threats.", "evidence": f"{POST}\n"},
            "/member",
        )
        assert made.status_code == 200 and "You proposed it" in made.text
        (entry,) = rows.proposals(store.engine, campaign.id)
        refused = first.submit(
            f"/member/modlist/{entry.id}/decide", {"decision": "approve"}, "/member"
        )
        assert refused.status_code == 403
    # Nothing is public before approval.
    with InProcessBrowser(app) as reader:
        assert "hostile.example" not in reader.get(public).text
        assert reader.get(f"{public}.json").json()["audit"] == []
    with member(app, keys[1]) as second:
        done = second.submit(
            f"/member/modlist/{entry.id}/decide", {"decision": "approve"}, "/member"
        )
        assert done.status_code == 200 and f'id="listed-{entry.id}"' in done.text
    with InProcessBrowser(app) as stranger:
        # An appeal needs a Bluesky sign-in, and the listed account's.
        direct = stranger.post(f"{public}/appeal", data={"statement": "x"})
        assert direct.status_code == 403
        stranger.submit(
            "/directory/sign-in",
            {"handle": "bystander.example", "password": "right", "next": public},
            public,
        )
        page = stranger.get(public)
        assert 'id="not-listed"' in page.text
        other = stranger.submit(f"{public}/appeal", {"statement": "Not mine."}, "/directory")
        assert other.status_code == 409
    with InProcessBrowser(app) as hostile:
        # A "next" that leaves the site is ignored.
        landed = hostile.submit(
            "/directory/sign-in",
            {"handle": "hostile.example", "password": "right", "next": "//evil.example/"},
            public,
        )
        assert landed.url.path == "/directory"
        filed = hostile.submit(f"{public}/appeal", {"statement": "Satire."}, public)
        assert filed.status_code == 200 and 'id="appeal-filed"' in filed.text
        assert 'id="appeal-open"' in hostile.get(public).text
    (appeal,) = rows.appeals(store.engine, campaign.id, "open")
    with member(app, keys[1]) as approver:
        page = approver.get("/member")
        assert "You took part in this listing" in page.text
        refused = approver.submit(
            f"/member/modlist/appeals/{appeal.id}/decide",
            {"decision": "uphold", "reason": "Fine."},
            "/member",
        )
        assert refused.status_code == 403
    with member(app, keys[2]) as third:
        kept = third.submit(
            f"/member/modlist/appeals/{appeal.id}/decide",
            {"decision": "dismiss", "reason": "The threats are real."},
            "/member",
        )
        assert kept.status_code == 200
    with InProcessBrowser(app) as reader:
        data = reader.get(f"{public}.json").json()
        assert [e["did"] for e in data["entries"]] == [HOSTILE]
        assert [e["action"] for e in data["audit"]] == [
            "appeal_dismissed", "appealed", "approved", "proposed",
        ]  # fmt: skip
        assert data["audit"][-1]["evidence"] == [POST]
        assert data["audit"][-1]["who"] == {"kind": "member", "name": "NGO 0"}
        assert data["audit"][0]["who"] == {"kind": "member", "name": "NGO 2"}


def test_the_coordinator_lists_approves_rejects_and_decides_appeals_from_the_shell(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
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
    store.open_campaign(campaign.slug, coordinator)
    first = join(store, campaign.slug, coordinator, "First NGO")[0]
    second = join(store, campaign.slug, coordinator, "Second NGO")[0]
    made = rows.propose(
        engine, campaign.id, Actor.member(first.id), did=HOSTILE, handle="hostile.example",
        reasons="Threats.", evidence=[POST], now=now,
    )  # fmt: skip
    env = {"DEPARTURES_COALITION_TOKEN": token}

    def modlist(*args: str) -> tuple[int, str, str]:
        done = run_cli("coalition", "modlist", *args, "--db", db, env=env)
        return done.returncode, done.stdout, done.stderr

    code, out, _err = modlist("list", campaign.slug)
    assert code == 0 and f"#{made.id} proposed: @hostile.example ({HOSTILE})" in out
    assert "proposed by First NGO: Threats." in out and f"evidence: {POST}" in out
    code, out, _err = modlist("approve", campaign.slug, str(made.id), "--reason", "Seen.")
    assert code == 0 and "the next 'coalition tick' writes it to the list" in out
    code, _out, err = modlist("reject", campaign.slug, str(made.id), "--reason", "No.")
    assert code == 1 and err.startswith("Error: this proposal was decided already")
    # An appeal; the coordinator approved the listing, so it may not decide it.
    appeal = rows.appeal(engine, campaign.id, made.id, HOSTILE, "Satire.", now)
    code, _out, err = modlist(
        "decide-appeal", campaign.slug, str(appeal.id), "--uphold", "--reason", "x"
    )
    assert code == 1 and "you took part in this listing" in err
    assert len(err.strip().splitlines()) <= 2  # one line and its hint, no traceback
    rows.decide_appeal(
        engine, campaign.id, appeal.id, Actor.member(second.id), uphold=True,
        reason="Satire indeed.", now=now,
    )  # fmt: skip
    code, out, _err = modlist("list", campaign.slug, "--all")
    assert code == 0 and f"#{made.id} removed" in out
    # The coordinator's own proposal waits for a member.
    code, out, _err = modlist(
        "propose", campaign.slug, "did:plc:" + "z" * 24, "--reason", "Spam.", "--evidence", POST
    )
    assert code == 0 and "a member decides on it" in out
    own = rows.proposals(engine, campaign.id, "proposed")[0]
    code, _out, err = modlist("approve", campaign.slug, str(own.id))
    assert code == 1 and "their own proposal" in err
    code, _out, err = modlist("sync", campaign.slug, "--bluesky-service", "https://pds.example")
    assert code == 1 and "moderation list does not exist yet" in err
    engine.dispose()


@pytest.mark.parametrize(
    "path", ["/campaigns/nowhere/moderation", "/campaigns/nowhere/moderation.json"]
)
def test_an_unknown_campaign_has_no_list(store: CoalitionStore, path: str) -> None:
    with InProcessBrowser(coalition_app(store)) as reader:
        assert reader.get(path).status_code == 404


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("nl", ("Auditlogboek", "Staat uw account op deze lijst?", "stelde het account voor")),
        ("fr", ("Journal d'audit", "Votre compte figure sur cette liste ?", "a proposé le compte")),
    ],
)
def test_the_public_page_in_dutch_and_french(
    store: CoalitionStore, language: str, texts: tuple[str, ...]
) -> None:
    coordinator, campaign = open_campaign(store)
    organisation = join(store, campaign.slug, coordinator, "NGO")[0]
    other = join(store, campaign.slug, coordinator, "Other NGO")[0]
    made = rows.propose(
        store.engine, campaign.id, Actor.member(organisation.id), did=HOSTILE, handle="",
        reasons="Threats.", evidence=[POST], now=store.clock(),
    )  # fmt: skip
    rows.decide(
        store.engine, campaign.id, made.id, Actor.member(other.id), approve=True, reason="",
        now=store.clock(),
    )  # fmt: skip
    app = coalition_app(store, language=language)
    with InProcessBrowser(app) as reader:
        page = reader.get(f"/campaigns/{campaign.slug}/moderation").text
    for text in texts:
        assert text in page
