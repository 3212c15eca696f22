"""E-mailed invitations and the members' checklists in the store, on SQLite and PostgreSQL,
delivered through a real SMTP receiver: a CSV is imported whole or not at all, the link is
written only into the e-mail (never stored), a refused address shows as bounced and is not
tried again, resend and revoke behave, and erasing a member erases its invitation and ticks.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from departures.coalition import checklist
from departures.coalition.errors import BadInput, NotFound
from departures.coalition.invitations import Invitations, check_invitee
from departures.coalition.notify import Notifier, SMTPSettings
from departures.coalition.rules import CoalitionError
from departures.coalition.store import CoalitionStore, access
from departures.coalition.store.schema import invitations, invites, outbox
from helpers.clock import Clock
from helpers.coalition import open_campaign
from helpers.mail import Inbox
from helpers.stores import ON_BOTH_STORES

pytestmark = ON_BOTH_STORES

KEY = b"test-key"
BASE = "http://coalition.test"
CSV = (
    "\ufeffnaam;e-mail;website\r\n"
    "Oxfam België;info@oxfam.example;oxfam.example\r\n"
    "11.11.11;contact@elf.example;https://elf.example\r\n"
    "Greenpeace;gp@bounces.invalid;\r\n"
).encode()


def _notifier(store: CoalitionStore, port: int) -> Notifier:
    return Notifier(
        store,
        base_url=BASE,
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
        secret_key=KEY,
    )


def _rows(store: CoalitionStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def test_a_csv_is_invited_by_email_with_links_that_are_never_stored(
    store: CoalitionStore, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(store, threshold=2)
    service = Invitations(store, KEY, BASE)
    ids = service.invite_csv(campaign.slug, coordinator, CSV)
    assert len(ids) == 3
    states = {i.email: i.state(store.clock()) for i in service.of_campaign(campaign)}
    assert set(states.values()) == {"queued"}

    report = _notifier(store, port).tick()
    assert report.sent == 2 and report.failed == 1
    states = {i.email: i.state(store.clock()) for i in service.of_campaign(campaign)}
    assert states == {
        "info@oxfam.example": "sent",
        "contact@elf.example": "sent",
        "gp@bounces.invalid": "bounced",
    }
    bounced = next(i for i in service.of_campaign(campaign) if i.email == "gp@bounces.invalid")
    assert bounced.last_error.startswith("550")

    mail = next(m for m in inbox.messages if m["To"] == "info@oxfam.example")
    body = mail.get_content()
    assert "Oxfam België" in body
    link = re.search(r"http://coalition\.test/invite/(\S+)", body)
    assert link is not None
    token = link.group(1)
    # The link works: it is the invite's token...
    found, _campaign = store.check_invite(token)
    assert found.note == "Oxfam België"
    # ...and it is nowhere in the store, not even in the queued e-mail.
    with store.engine.connect() as conn:
        for table in ("outbox", "invitations", "invites"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                assert token not in " ".join(str(v) for v in row)

    # A bounced e-mail is not tried again; the next pass sends nothing.
    again = _notifier(store, port).tick()
    assert again.sent == 0 and again.failed == 0
    assert len(inbox.messages) == 2

    # Accepting through the e-mailed link shows as accepted.
    store.accept_invite(token, name="Oxfam België", email="info@oxfam.example")
    states = {i.email: i.state(store.clock()) for i in service.of_campaign(campaign)}
    assert states["info@oxfam.example"] == "accepted"


def test_a_csv_with_a_bad_row_imports_nothing(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    service = Invitations(store, KEY, BASE)
    broken = CSV + b"Bad row;not-an-address;\r\n"
    with pytest.raises(BadInput) as refused:
        service.invite_csv(campaign.slug, coordinator, broken)
    assert refused.value.message.startswith("row 5:")
    assert "nothing was imported" in (refused.value.hint or "")
    assert (_rows(store, "invitations"), _rows(store, "invites"), _rows(store, "outbox")) == (
        0,
        0,
        0,
    )

    # An address already invited is refused by the store, inside the transaction: the rows
    # before it in the same file are not kept either.
    service.invite(campaign.slug, coordinator, [check_invitee("Elf", "contact@elf.example", "")])
    with pytest.raises(BadInput) as again:
        service.invite_csv(campaign.slug, coordinator, CSV)
    assert again.value.message.startswith("row 3:")
    assert (_rows(store, "invitations"), _rows(store, "invites"), _rows(store, "outbox")) == (
        1,
        1,
        1,
    )


def test_resend_revoke_and_the_sender_skipping_a_revoked_invitation(
    store: CoalitionStore, clock: Clock, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(store)
    service = Invitations(store, KEY, BASE)
    [first, second] = service.invite(
        campaign.slug,
        coordinator,
        [
            check_invitee("Oxfam", "info@oxfam.example", ""),
            check_invitee("Elf", "contact@elf.example", ""),
        ],
        ttl=timedelta(days=2),
    )
    # Revoked before the pass: its e-mail never leaves, its link is dead.
    service.revoke(campaign.slug, coordinator, second)
    _notifier(store, port).tick()
    assert [m["To"] for m in inbox.messages] == ["info@oxfam.example"]
    link_one = re.search(r"/invite/(\S+)", inbox.messages[0].get_content())
    assert link_one is not None

    # After expiry, sending again revives the same link for another ttl.
    clock.advance(days=3)
    states = {i.id: i.state(store.clock()) for i in service.of_campaign(campaign)}
    assert states == {first: "expired", second: "revoked"}
    service.resend(campaign.slug, coordinator, first)
    assert {i.id: i.state(store.clock()) for i in service.of_campaign(campaign)}[first] == "queued"
    _notifier(store, port).tick()
    assert [m["To"] for m in inbox.messages] == ["info@oxfam.example"] * 2
    link_two = re.search(r"/invite/(\S+)", inbox.messages[1].get_content())
    assert link_two is not None and link_two.group(1) == link_one.group(1)
    store.check_invite(link_two.group(1))  # valid again

    with pytest.raises(CoalitionError):
        service.resend(campaign.slug, coordinator, second)

    # After the service's key changed, sending again sends a link that works (the old one no
    # longer does: it was derived from the old key).
    Invitations(store, b"a new key", BASE).resend(campaign.slug, coordinator, first)
    rotated = Notifier(
        store,
        base_url=BASE,
        smtp=SMTPSettings(host="127.0.0.1", port=port, sender="coalition@test"),
        secret_key=b"a new key",
    )
    rotated.tick()
    link_three = re.search(r"/invite/(\S+)", inbox.messages[2].get_content())
    assert link_three is not None and link_three.group(1) != link_two.group(1)
    with pytest.raises(NotFound):
        store.check_invite(link_two.group(1))
    store.accept_invite(link_three.group(1), name="Oxfam")
    with pytest.raises(CoalitionError):
        service.revoke(campaign.slug, coordinator, first)
    with store.engine.connect() as conn:
        assert conn.execute(select(invites.c.id)).scalars().all() != []


def test_checklists_are_remembered_counted_and_erased_with_the_member(
    store: CoalitionStore,
) -> None:
    coordinator, campaign = open_campaign(store)
    service = Invitations(store, KEY, BASE)
    [invitation] = service.invite(
        campaign.slug, coordinator, [check_invitee("Oxfam", "info@oxfam.example", "")]
    )
    link = service.link(invitation)
    assert link is not None
    member, _key = store.accept_invite(link.rsplit("/", 1)[1], name="Oxfam")
    other, _other_key = store.accept_invite(
        store.create_invite(campaign.slug, coordinator), name="Elf"
    )
    checklist.save(store.engine, member.id, ["archive", "dormant"], store.clock())
    checklist.save(store.engine, other.id, ["archive"], store.clock())
    checklist.save(store.engine, member.id, ["archive", "bio", "dormant"], store.clock())
    ticked = {i.key for i in checklist.items(store.engine, member.id) if i.ticked_at}
    assert ticked == {"archive", "bio", "dormant"}
    assert checklist.progress(store.engine, campaign.id) == {member.id: 3, other.id: 1}
    with pytest.raises(BadInput):
        checklist.save(store.engine, member.id, ["delete-x"], store.clock())

    exported = access.organisation_export(store.engine, member.id)
    assert sorted(row["item"] for row in exported["checklist"]) == ["archive", "bio", "dormant"]
    assert [row["email"] for row in exported["invitation"]] == ["info@oxfam.example"]
    assert "nonce" not in exported["invitation"][0]

    assert access.erase_organisation(store.engine, member.id)
    assert checklist.progress(store.engine, campaign.id) == {other.id: 1}
    with store.engine.connect() as conn:
        assert conn.execute(select(invitations.c.id)).all() == []
        assert (
            conn.execute(
                select(outbox.c.id).where(outbox.c.recipient == "info@oxfam.example")
            ).all()
            == []
        )


def test_an_invite_revoked_as_a_plain_link_is_not_emailed(
    store: CoalitionStore, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    coordinator, campaign = open_campaign(store)
    service = Invitations(store, KEY, BASE)
    [invitation] = service.invite(
        campaign.slug, coordinator, [check_invitee("Oxfam", "info@oxfam.example", "")]
    )
    [listed] = service.of_campaign(campaign)
    with store.engine.connect() as conn:
        invite_id = conn.execute(
            select(invitations.c.invite_id).where(invitations.c.id == invitation)
        ).scalar()
    # The campaign page's "Revoke" of the invitation links deletes the invite itself.
    assert access.revoke_invite(store.engine, campaign.id, int(invite_id))
    report = _notifier(store, port).tick()
    assert (report.sent, report.failed) == (0, 1)
    assert inbox.messages == []
    assert [i.state(store.clock()) for i in service.of_campaign(campaign)] == ["revoked"]
    assert listed.state(store.clock()) == "queued"
