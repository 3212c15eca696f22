"""The coalition's list and starter pack on Bluesky, kept equal to the landed members.

The coordinator connects its Bluesky account to a campaign once (an app password logs in;
only the session is kept, encrypted). From then on, every scheduler pass
(:meth:`CoalitionLists.sync`) makes the coordinator's repository hold:

* an ``app.bsky.graph.list`` (purpose ``referencelist``, the kind starter packs point at) and
  an ``app.bsky.graph.starterpack`` pointing at it — created once, with record keys derived
  from the campaign, so a second pass or a restart never makes a second pack;
* one ``app.bsky.graph.listitem`` per landed member (its DID), with a record key derived from
  the member: added when it lands, deleted when it no longer counts as landed;
* past the official app's 150 members per starter pack (the creator included), more lists
  and packs ("… (2)", "… (3)"); a member stays in the pack it was first put in.

The truth is the server's: each pass lists the repository's records (``listRecords``) and
writes only the difference, through the one journaled, budgeted writer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import regex  # type: ignore[import-untyped]

from departures.bluesky.budget import BudgetConfig, WriteKind
from departures.bluesky.identity import plc_url
from departures.bluesky.records import (
    LIST,
    LISTITEM,
    MODLIST,
    REFERENCELIST,
    STARTERPACK,
    encode_tid,
)
from departures.bluesky.session import login
from departures.bluesky.writer import Refused, Write, Writer
from departures.coalition.departure import account_writer
from departures.coalition.rules import CoalitionError
from departures.coalition.store import Campaign, CoalitionStore, Organisation
from departures.coalition.store import graph as graph_rows
from departures.coalition.store import moderation as moderation_rows
from departures.coalition.vault import AccountSessions, Vault, campaign_owner
from departures.netguard import NetGuard

__all__ = [
    "PACK_MEMBERS",
    "CoalitionLists",
    "place_members",
    "starter_pack_link",
]

log = logging.getLogger(__name__)

#: The official app shows at most 150 accounts in a starter pack, its creator included.
PACK_MEMBERS = 149
LIST_NAME_BYTES = 64
PACK_NAME_GRAPHEMES = 50
DESCRIPTION_GRAPHEMES = 300
_ITEM_OFFSET_US = 1_000_000
_BLOCKED_OFFSET_US = 10_000_000
_ITEM_CLOCK = 16
_MAX_PACKS = 1024 - _ITEM_CLOCK
_GRAPHEME = regex.compile(r"\X")


# --- record keys: TIDs derived from the campaign (stable across passes and restarts) -----


def _base(campaign: Campaign) -> int:
    return int(campaign.created_at.timestamp() * 1_000_000)


def list_rkey(campaign: Campaign, index: int) -> str:
    """The record key of the campaign's ``index``-th list."""
    return encode_tid(_base(campaign) + index, 1)


def pack_rkey(campaign: Campaign, index: int) -> str:
    """The record key of the campaign's ``index``-th starter pack."""
    return encode_tid(_base(campaign) + index, 2)


def modlist_rkey(campaign: Campaign) -> str:
    """The record key of the campaign's shared moderation list."""
    return encode_tid(_base(campaign), 3)


def blocked_rkey(campaign: Campaign, did: str) -> str:
    """The record key of an account's item in the moderation list (derived from its DID)."""
    return spread_rkey(campaign, moderation_rows.did_spread(did))


def spread_rkey(campaign: Campaign, spread: int) -> str:
    """The record key of the moderation list's item whose DID has that spread (an erased
    account's item is deleted by it)."""
    return encode_tid(_base(campaign) + _BLOCKED_OFFSET_US + spread, 4)


def item_rkey(campaign: Campaign, organisation_id: int, index: int) -> str:
    """The record key of a member's item in the ``index``-th list."""
    return encode_tid(_base(campaign) + _ITEM_OFFSET_US + organisation_id, _ITEM_CLOCK + index)


def starter_pack_link(uri: str, handle: str) -> str:
    """The bsky.app link of a starter pack; its at:// URI for a sandbox (``.test``) handle."""
    if handle.endswith(".test"):
        return uri
    return f"https://bsky.app/starter-pack/{handle}/{uri.rsplit('/', 1)[-1]}"


# --- pure planning -------------------------------------------------------------------------


def place_members(
    wanted: Sequence[int], placed: Mapping[int, Sequence[int]], capacity: int = PACK_MEMBERS
) -> dict[int, int]:
    """Which list each wanted member goes in: where it is already, else the first with room.

    ``placed`` maps a member to the lists that hold it now (several only after a crash or a
    hand edit: the first is kept). Members already placed keep their list, so nobody moves
    between packs when others come and go.
    """
    if capacity < 1:
        raise ValueError("a list holds at least one member")
    chosen: dict[int, int] = {}
    sizes: dict[int, int] = {}
    wanted_set = set(wanted)
    for member in wanted:
        where = sorted(placed.get(member, ()))
        if where and member in wanted_set:
            chosen[member] = where[0]
            sizes[where[0]] = sizes.get(where[0], 0) + 1
    for member in wanted:
        if member in chosen:
            continue
        index = 0
        while sizes.get(index, 0) >= capacity:
            index += 1
        chosen[member] = index
        sizes[index] = sizes.get(index, 0) + 1
    return chosen


def _cut_graphemes(text: str, graphemes: int) -> str:
    clusters = _GRAPHEME.findall(text)
    if len(clusters) <= graphemes:
        return text
    return "".join(clusters[: graphemes - 1]).rstrip() + "…"


def _cut_bytes(text: str, limit: int) -> str:
    if len(text.encode("utf-8")) <= limit:
        return text
    out = ""
    for cluster in _GRAPHEME.findall(text):
        if len((out + cluster + "…").encode("utf-8")) > limit:
            break
        out += cluster
    return out.rstrip() + "…"


def _suffix(index: int) -> str:
    return "" if index == 0 else f" ({index + 1})"


def list_record(campaign: Campaign, index: int, created_at: str) -> dict[str, object]:
    """The ``app.bsky.graph.list`` record of the campaign's ``index``-th list."""
    suffix = _suffix(index)
    name = _cut_bytes(campaign.title, LIST_NAME_BYTES - len(suffix.encode())) + suffix
    return {
        "$type": LIST,
        "purpose": REFERENCELIST,
        "name": name,
        "description": _description(campaign),
        "createdAt": created_at,
    }


def pack_record(
    campaign: Campaign, index: int, list_uri: str, created_at: str
) -> dict[str, object]:
    """The ``app.bsky.graph.starterpack`` record pointing at the ``index``-th list."""
    suffix = _suffix(index)
    name = _cut_graphemes(campaign.title, PACK_NAME_GRAPHEMES - len(suffix)) + suffix
    return {
        "$type": STARTERPACK,
        "name": name,
        "description": _description(campaign),
        "list": list_uri,
        "createdAt": created_at,
    }


def modlist_record(campaign: Campaign, created_at: str) -> dict[str, object]:
    """The ``app.bsky.graph.list`` record of the shared moderation list."""
    suffix = " — moderation"
    return {
        "$type": LIST,
        "purpose": MODLIST,
        "name": _cut_bytes(campaign.title, LIST_NAME_BYTES - len(suffix.encode())) + suffix,
        "description": _cut_graphemes(
            f"Accounts the coordinators of “{campaign.title}” block for the coalition's "
            "members: subscribe to keep the arrivals safe.",
            DESCRIPTION_GRAPHEMES,
        ),
        "createdAt": created_at,
    }


def _description(campaign: Campaign) -> str:
    text = campaign.description.strip() or f"The organisations of “{campaign.title}” on Bluesky."
    return _cut_graphemes(text, DESCRIPTION_GRAPHEMES)


# --- the hook -------------------------------------------------------------------------------


class CoalitionLists:
    """Keeps each campaign's list(s) and starter pack(s) equal to its landed members."""

    def __init__(
        self,
        store: CoalitionStore,
        secrets: Vault,
        service: str,
        *,
        budget: BudgetConfig | None = None,
        sleep: Callable[[float], None] = time.sleep,
        capacity: int = PACK_MEMBERS,
    ) -> None:
        self.store = store
        self.secrets = secrets
        self.service = service.rstrip("/")
        # The coordinator's PDS is reached through the service's outgoing-request guard.
        self.guard = NetGuard.for_service(self.service, plc_url())
        self.budget = budget
        self.sleep = sleep
        self.capacity = capacity

    def sessions(self, campaign: Campaign) -> AccountSessions:
        """Where the coordinator's session for ``campaign`` is kept."""
        return AccountSessions(
            self.store.engine,
            self.secrets,
            campaign_owner(campaign.id),
            campaign_id=campaign.id,
            clock=self.store.clock,
        )

    def connect(self, campaign: Campaign, handle: str, app_password: str) -> str:
        """Log the coordinator's account in for ``campaign`` (the password is not kept)."""
        stored = login(handle, app_password, self.service, store=self.sessions(campaign))
        return stored.handle

    def graph(self, campaign: Campaign) -> tuple[str, str]:
        """(list URI, starter pack URI) of the campaign's first pack, once created."""
        row = graph_rows.campaign_graph_of(self.store.engine, campaign.id)
        return ("", "") if row is None else (row.list_uri, row.starter_pack_uri)

    def sync(self, campaign: Campaign, landed: Sequence[Organisation]) -> None:
        """Write the difference between the landed members and the coordinator's records."""
        opened = account_writer(
            self.sessions(campaign), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            return  # no coordinator account connected: nothing to keep in sync
        writer, _journal = opened
        try:
            self._sync(writer, campaign, landed)
        finally:
            writer.pds.close()

    def _sync(self, writer: Writer, campaign: Campaign, landed: Sequence[Organisation]) -> None:
        pds = writer.pds
        now = _iso(self.store.clock())
        lists = set(pds.list_rkeys(LIST))
        packs = set(pds.list_rkeys(STARTERPACK))
        items = set(pds.list_rkeys(LISTITEM))
        known_lists = 0
        while known_lists < _MAX_PACKS and list_rkey(campaign, known_lists) in lists:
            known_lists += 1
        placed: dict[int, list[int]] = {}
        for organisation in self.store.organisations(campaign.id):
            for index in range(known_lists + 1):
                if item_rkey(campaign, organisation.id, index) in items:
                    placed.setdefault(organisation.id, []).append(index)
        members = {o.id: o for o in landed if o.bluesky_did}
        wanted = sorted(members, key=lambda i: (members[i].landed_at or now, i))
        plan = place_members(wanted, placed, self.capacity)
        needed = max([0, *(index + 1 for index in plan.values())]) or 1
        if needed > _MAX_PACKS:
            raise ValueError("too many members for the campaign's starter packs")

        structure: list[Write] = []
        for index in range(needed):
            uri = pds.uri(LIST, list_rkey(campaign, index))
            if list_rkey(campaign, index) not in lists:
                record = list_record(campaign, index, now)
                structure.append(
                    Write.create(
                        f"list:{campaign.id}:{index}", LIST, list_rkey(campaign, index), record
                    )
                )
            if pack_rkey(campaign, index) not in packs:
                record = pack_record(campaign, index, uri, now)
                structure.append(
                    Write.create(
                        f"pack:{campaign.id}:{index}",
                        STARTERPACK,
                        pack_rkey(campaign, index),
                        record,
                    )
                )
        if modlist_rkey(campaign) not in lists:
            record = modlist_record(campaign, now)
            key = f"modlist:{campaign.id}"
            structure.append(Write.create(key, LIST, modlist_rkey(campaign), record))
        changes: list[Write] = []
        for member_id, indexes in placed.items():
            for index in indexes:
                if plan.get(member_id) != index:
                    changes.append(
                        Write.delete(
                            f"item:{campaign.id}:{member_id}:{index}",
                            LISTITEM,
                            item_rkey(campaign, member_id, index),
                        )
                    )
        for member_id, index in plan.items():
            if index in placed.get(member_id, ()):
                continue
            record = {
                "$type": LISTITEM,
                "subject": members[member_id].bluesky_did,
                "list": pds.uri(LIST, list_rkey(campaign, index)),
                "createdAt": now,
            }
            changes.append(
                Write.create(
                    f"item:{campaign.id}:{member_id}:{index}",
                    LISTITEM,
                    item_rkey(campaign, member_id, index),
                    record,
                )
            )
        # The lists first: an item or a pack naming a list that failed to appear is useless.
        # Batches as large as the budget lets go now (the writer waits for the rest); a write
        # the server refuses is isolated, the others go, and the pass reports it at the end.
        refused = writer.send_isolating(structure).refused
        if refused:
            raise _refused(campaign, refused)
        refused = writer.send_isolating(changes).refused
        if structure or changes:
            log.info(
                "list of %s: %d lists/packs created, %d items changed",
                campaign.slug,
                len(structure),
                len(changes),
            )
        first_list = pds.uri(LIST, list_rkey(campaign, 0))
        pack = pds.uri(STARTERPACK, pack_rkey(campaign, 0))
        modlist = pds.uri(LIST, modlist_rkey(campaign))
        self._record(campaign, first_list, pack, modlist, pds.handle)
        # The moderation list's entries decided by due process (store/moderation.py).
        refused = [*refused, *self._entries(writer, campaign, modlist, items)[1]]
        if refused:
            raise _refused(campaign, refused)

    def write_entries(self, campaign: Campaign) -> int:
        """Write the moderation list's approved entries and delete the removed ones, now.

        The scheduler pass does the same on every turn; this is for an approval or an upheld
        appeal to reach Bluesky at once. How many writes were sent (0: nothing to do, or no
        list or no connected account yet — the next pass will try).
        """
        modlist = self.modlist_uri(campaign)
        if not modlist:
            return 0
        opened = account_writer(
            self.sessions(campaign), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            return 0
        writer, _journal = opened
        try:
            before = writer.pds.list_rkeys(LISTITEM)
            sent, refused = self._entries(writer, campaign, modlist, set(before))
        finally:
            writer.pds.close()
        if refused:
            raise _refused(campaign, refused)
        return sent

    def _entries(
        self, writer: Writer, campaign: Campaign, modlist: str, items: set[str]
    ) -> tuple[int, list[Refused]]:
        """Make the list hold exactly the approved entries the store knows (the server is the
        truth: an item found already is recorded, never written again); (writes sent, refused).
        """
        engine, now = self.store.engine, self.store.clock
        writes: list[Write] = []
        entries: dict[str, moderation_rows.Proposal] = {}
        for entry in moderation_rows.to_list(engine, campaign.id):
            rkey = blocked_rkey(campaign, entry.subject_did)
            key = f"blocked:{campaign.id}:{entry.subject_did}"
            entries[key] = entry
            if rkey in items:
                moderation_rows.mark_listed(engine, entry.id, writer.pds.uri(LISTITEM, rkey), now())
                continue
            record = {
                "$type": LISTITEM,
                "subject": entry.subject_did,
                "list": modlist,
                "createdAt": _iso(now()),
            }
            writes.append(Write.create(key, LISTITEM, rkey, record))
        for entry in moderation_rows.to_unlist(engine, campaign.id):
            spread = moderation_rows.erased_spread(entry)
            if spread is None:
                rkey = blocked_rkey(campaign, entry.subject_did)
                key = f"blocked:{campaign.id}:{entry.subject_did}"
            else:  # an erased account's item: its DID is forgotten, its record key is not
                rkey = spread_rkey(campaign, spread)
                key = f"erased:{campaign.id}:{entry.id}"
            entries[key] = entry
            if rkey not in items:
                moderation_rows.mark_unlisted(engine, entry.id, now())
                continue
            writes.append(Write.delete(key, LISTITEM, rkey))
        if not writes:
            return 0, []
        sent = writer.send_isolating(writes)
        for result in sent.results:
            entry = entries[result.write.key]
            if result.write.action is WriteKind.CREATE:
                moderation_rows.mark_listed(engine, entry.id, result.uri, now())
            else:
                moderation_rows.mark_unlisted(engine, entry.id, now())
        log.info("moderation list of %s: %d entries written", campaign.slug, len(sent.results))
        return len(writes), list(sent.refused)

    def modlist_uri(self, campaign: Campaign) -> str:
        """The shared moderation list's URI, once created ("" before)."""
        return graph_rows.modlist_uri(self.store.engine, campaign.id)

    def moderate(self, campaign: Campaign, did: str, *, block: bool) -> bool:
        """Add ``did`` to the shared moderation list (or remove it); whether anything changed.

        The list itself is created by :meth:`sync`: a scheduler pass must have run.
        """
        modlist = self.modlist_uri(campaign)
        if not modlist:
            raise CoalitionError(
                "the campaign's moderation list does not exist yet",
                "Connect the coordinator's account and run 'departures coalition tick' first",
            )
        opened = account_writer(
            self.sessions(campaign), config=self.budget, sleep=self.sleep, guard=self.guard
        )
        if opened is None:
            raise CoalitionError(
                "no Bluesky account keeps this campaign's lists",
                "Connect one with 'departures coalition campaign connect-bluesky'",
            )
        writer, _journal = opened
        try:
            rkey = blocked_rkey(campaign, did)
            exists = writer.pds.get_record(LISTITEM, rkey) is not None
            if exists == block:
                return False
            key = f"blocked:{campaign.id}:{did}"
            if block:
                record = {
                    "$type": LISTITEM,
                    "subject": did,
                    "list": modlist,
                    "createdAt": _iso(self.store.clock()),
                }
                writer.send([Write.create(key, LISTITEM, rkey, record)])
            else:
                writer.send([Write.delete(key, LISTITEM, rkey)])
            return True
        finally:
            writer.pds.close()

    def _record(
        self, campaign: Campaign, list_uri: str, pack_uri: str, modlist_uri: str, handle: str
    ) -> None:
        previous_list, previous_pack = self.graph(campaign)
        graph_rows.save_campaign_graph(
            self.store.engine,
            campaign.id,
            list_uri=list_uri,
            starter_pack_uri=pack_uri,
            modlist_uri=modlist_uri,
            synced_at=self.store.clock(),
            may_be_new=not previous_list and not previous_pack,
        )
        link = starter_pack_link(pack_uri, handle)
        current = campaign.starter_pack_url
        # The coordinator's own link (typed on the manage page) wins over the automatic one;
        # ours is recognised by the previous pack's record key (the handle may have changed).
        automatic = current in ("", previous_pack) or (
            bool(previous_pack)
            and current.startswith("https://bsky.app/starter-pack/")
            and current.endswith("/" + previous_pack.rsplit("/", 1)[-1])
        )
        if automatic and current != link:
            self.store.update_campaign(
                campaign.slug, campaign.coordinator_id, starter_pack_url=link
            )


def _refused(campaign: Campaign, refused: Sequence[Refused]) -> CoalitionError:
    listed = "; ".join(f"{r.write.key} ({r.reason})" for r in refused)
    return CoalitionError(
        f"Bluesky refused some writes of the lists of {campaign.slug}: {listed}",
        "The next scheduler pass tries them again",
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
