"""The campaign rules of a coalition, as pure functions over plain facts.

Nothing here touches a database, a clock, the network or a template: the service layer loads
the facts (a campaign's terms and its pledges), passes the current time, and gets back data —
the largest self-consistent set of pledges, whether the campaign is on, its state, what must be
notified, or a :class:`CoalitionError` saying why a change is refused.

Two concepts live here:

* **Pledge resolution** (:func:`largest_consistent_set`, :func:`resolve_pledges`,
  :func:`tipping`): organisations pledge unconditionally or "we go if at least N others go";
  the organisations that actually go are the largest set in which every pledge's condition is
  met by the *other* members of the set.
* **The campaign's life** (:func:`campaign_state`, :func:`events_between` and the transition
  functions): draft → open → on → departed → closed, or open/on → off when the pledge deadline
  passes without the threshold. The state is computed from facts (when it opened, the deadline,
  the departure time, the threshold, when it was closed, and the pledges with their times),
  never stored as a flag that could drift from them.

Times are always timezone-aware :class:`~datetime.datetime` values (a departure is "20 January
2025 at 12:00 Brussels time", not a wall-clock time that means something else on a server in
another zone); naive times are refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from departures.errors import DeparturesError
from departures.i18n import _, format_moment, lazy_gettext

__all__ = [
    "LOCKED_TERMS",
    "Announcement",
    "CampaignStatus",
    "CampaignTerms",
    "CoalitionError",
    "Event",
    "Exclusion",
    "Explanation",
    "Pledge",
    "Reason",
    "Resolution",
    "State",
    "Tipping",
    "amend_terms",
    "campaign_state",
    "campaign_status",
    "check_ahead",
    "check_can_change_pledges",
    "close_campaign",
    "events_between",
    "events_since",
    "explain",
    "largest_consistent_set",
    "make_pledge",
    "open_campaign",
    "pledges_in_force",
    "resolve_pledges",
    "tipping",
    "withdraw_pledge",
]


class CoalitionError(DeparturesError):
    """A campaign or pledge change the rules refuse (terms locked, deadline passed, ...)."""


# --------------------------------------------------------------------------------------------
# Pledges and their resolution
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pledge:
    """One organisation's pledge, as stored.

    ``min_others`` is the condition: ``0`` for an unconditional pledge, ``N`` for "we go if at
    least N other organisations go". ``withdrawn_at`` is set when the organisation withdrew it.
    An organisation that changes its condition simply pledges again: its latest pledge
    supersedes the earlier ones (see :func:`pledges_in_force`).
    """

    organisation: str
    min_others: int
    pledged_at: datetime
    withdrawn_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.organisation:
            raise CoalitionError(_("A pledge needs the organisation that makes it"))
        if self.min_others < 0:
            raise CoalitionError(
                _("A pledge cannot require %(n)d other organisations") % {"n": self.min_others},
                _("Give 0 for an unconditional pledge, or the number of others you need"),
            )
        _require_aware(self.pledged_at, "The pledge time")
        if self.withdrawn_at is not None:
            _require_aware(self.withdrawn_at, "The withdrawal time")
            if self.withdrawn_at < self.pledged_at:
                raise CoalitionError(_("A pledge cannot be withdrawn before it was made"))

    @property
    def is_conditional(self) -> bool:
        """True for "we go if at least N others go" with N >= 1."""
        return self.min_others > 0


@dataclass(frozen=True)
class Exclusion:
    """Why a pledge is not in the consistent set: it needs more others than the set has."""

    organisation: str
    needs: int
    """How many other organisations the pledge requires."""
    has: int
    """How many other organisations are going (the size of the consistent set)."""

    @property
    def short_by(self) -> int:
        """How many more organisations must go before this pledge's condition is met."""
        return self.needs - self.has


@dataclass(frozen=True)
class Resolution:
    """The outcome of resolving a set of pledges.

    ``members`` are the organisations that go (the largest self-consistent set); ``excluded``
    lists the other pledges with what they need and have, most nearly satisfied first;
    ``pledges`` are the pledges in force that were resolved, one per organisation, sorted by
    organisation.
    """

    members: frozenset[str]
    excluded: tuple[Exclusion, ...]
    pledges: tuple[Pledge, ...]

    @property
    def size(self) -> int:
        """How many organisations go."""
        return len(self.members)


def largest_consistent_set(conditions: Mapping[str, int]) -> frozenset[str]:
    """The largest set S of organisations in which every condition is met by the others in S.

    ``conditions`` maps each organisation with a pledge in force to its ``min_others`` (0 for
    unconditional). S is *consistent* when every member x has ``conditions[x] <= |S| - 1``: at
    least as many *other* members as it asked for.

    Why a unique largest set exists, and why removing unmet pledges finds it:

    1. The union of two consistent sets A and B is consistent: a member of A has at least its
       N others inside A, hence inside A ∪ B (conditions are monotone, "at least N"). So the
       union of *all* consistent sets is itself consistent — it is the unique maximum S*, and
       every consistent set is a subset of it. (The empty set is trivially consistent.)
    2. Start from R = all pledges and repeatedly remove a pledge whose condition the rest of R
       does not meet (``N > |R| - 1``). S* ⊆ R holds throughout: a member of S* has
       ``N <= |S*| - 1 <= |R| - 1`` and is never removed. When nothing is left to remove, R is
       consistent, so R ⊆ S* as well: R = S* (the greatest fixed point). The order of removal
       does not matter.
    3. A condition only counts members, so the most demanding pledge is always the first to
       fail: sorting by ``min_others`` and dropping from the top while the top is unmet is the
       removal of step 2 in O(n log n). The result is every organisation with
       ``min_others < |S*|`` — so an excluded pledge needs more others than all of S*.
    """
    ranked = sorted(conditions.items(), key=lambda item: item[1])
    size = len(ranked)
    # ranked[size - 1] is the most demanding pledge left: it sees size - 1 others.
    while size > 0 and ranked[size - 1][1] > size - 1:
        size -= 1
    return frozenset(organisation for organisation, _ in ranked[:size])


def pledges_in_force(pledges: Iterable[Pledge], at: datetime | None = None) -> dict[str, Pledge]:
    """The pledge that counts for each organisation, at time ``at`` (or on all known facts).

    An organisation's *latest* pledge made at or before ``at`` supersedes its earlier ones (it
    pledged again to change its condition); among equal times, the later one in ``pledges``
    (the store returns them in the order it recorded them). That pledge is in force unless it
    was withdrawn at or before ``at``, in which case the organisation has no pledge: a
    superseded pledge never comes back. With ``at=None`` every recorded fact counts.
    """
    if at is not None:
        _require_aware(at, "The time")
    latest: dict[str, Pledge] = {}
    for pledge in pledges:
        if at is not None and pledge.pledged_at > at:
            continue
        current = latest.get(pledge.organisation)
        if current is None or pledge.pledged_at >= current.pledged_at:
            latest[pledge.organisation] = pledge
    return {
        organisation: pledge
        for organisation, pledge in latest.items()
        if pledge.withdrawn_at is None or (at is not None and pledge.withdrawn_at > at)
    }


def resolve_pledges(pledges: Iterable[Pledge], at: datetime | None = None) -> Resolution:
    """Resolve the pledges in force at ``at`` (see :func:`pledges_in_force`) into who goes.

    Withdrawn pledges and superseded duplicates are ignored; the rest are resolved with
    :func:`largest_consistent_set`, and each pledge left out is explained by how many others
    it needs against how many go.
    """
    in_force = pledges_in_force(pledges, at)
    members = largest_consistent_set(
        {organisation: pledge.min_others for organisation, pledge in in_force.items()}
    )
    going = len(members)
    excluded = sorted(
        (
            Exclusion(organisation, pledge.min_others, going)
            for organisation, pledge in in_force.items()
            if organisation not in members
        ),
        key=lambda exclusion: (exclusion.needs, exclusion.organisation),
    )
    return Resolution(
        members=members,
        excluded=tuple(excluded),
        pledges=tuple(in_force[organisation] for organisation in sorted(in_force)),
    )


@dataclass(frozen=True)
class Reason:
    """Why one organisation that goes, goes: its condition against the others in the set."""

    organisation: str
    needs: int
    """How many other organisations its pledge requires (0: unconditional)."""
    others: int
    """How many other organisations go with it (the set's size minus one)."""
    needs_conditional: bool
    """True when the unconditional pledges alone do not meet its condition: it goes only
    because other conditional pledges go too (they hold each other up)."""


@dataclass(frozen=True)
class Explanation:
    """The resolver's reasons, for the pledge picture ("these 12 go because these 9 go").

    ``unconditional`` go whatever others do; each of ``conditional`` goes because at least
    ``needs`` others go (see its :class:`Reason`); ``excluded`` wait for more than go.
    """

    unconditional: tuple[str, ...]
    conditional: tuple[Reason, ...]
    excluded: tuple[Exclusion, ...]

    @property
    def going(self) -> int:
        """How many organisations go."""
        return len(self.unconditional) + len(self.conditional)

    @property
    def held_up_by_each_other(self) -> tuple[str, ...]:
        """The conditional members whose condition the unconditional ones alone do not meet."""
        return tuple(r.organisation for r in self.conditional if r.needs_conditional)


def explain(resolution: Resolution) -> Explanation:
    """Why the resolution is what it is: who goes regardless, who goes on condition and on
    which count of others, and who waits for more than go.

    Every conditional member's condition is met by the others in the set (that is what the
    set is); it *needs the other conditional pledges* when its ``min_others`` is more than the
    unconditional pledges alone give it — those go together or not at all. Ordered by
    condition, then organisation, so the picture reads from the safest pledge up.
    """
    members = resolution.members
    others = max(len(members) - 1, 0)
    in_set = [p for p in resolution.pledges if p.organisation in members]
    unconditional = tuple(sorted(p.organisation for p in in_set if not p.is_conditional))
    base = len(unconditional)
    conditional = tuple(
        sorted(
            (
                Reason(p.organisation, p.min_others, others, p.min_others > base)
                for p in in_set
                if p.is_conditional
            ),
            key=lambda reason: (reason.needs, reason.organisation),
        )
    )
    return Explanation(unconditional, conditional, resolution.excluded)


@dataclass(frozen=True)
class Tipping:
    """Where a campaign stands against its threshold (for the board: "3 more to go")."""

    threshold: int
    going: int
    """How many organisations go (the consistent set's size)."""
    more_needed: int
    """The fewest new unconditional pledges that would put the campaign on (0 when on).

    At most ``threshold - going`` (the set that goes stays consistent with newcomers), and it
    can be far less: new pledges can unlock conditional ones waiting for them."""

    @property
    def is_on(self) -> bool:
        """True when the consistent set reaches the threshold."""
        return self.going >= self.threshold


def tipping(resolution: Resolution, threshold: int) -> Tipping:
    """Whether ``resolution`` reaches ``threshold``, and how many more pledges would tip it.

    Adding m unconditional pledges from new organisations puts m zeros in front of the sorted
    conditions t_1 <= ... <= t_n. By :func:`largest_consistent_set`, the campaign is on iff
    some prefix of length k >= threshold has its last condition <= k - 1. Taking the prefix that
    ends at original pledge j (k = j + m) needs ``t_j <= j + m - 1`` and ``j + m >= threshold``,
    so m = max(t_j - j + 1, threshold - j, 0); m = threshold always works (the new pledges
    alone). The answer is the least of these, in O(n log n).
    """
    if threshold < 1:
        raise CoalitionError(
            _("A campaign threshold of %(n)d is not allowed") % {"n": threshold},
            str(_THRESHOLD_HINT),
        )
    conditions = sorted(pledge.min_others for pledge in resolution.pledges)
    more = threshold
    for j, condition in enumerate(conditions, start=1):
        more = min(more, max(condition - j + 1, threshold - j, 0))
    return Tipping(threshold=threshold, going=resolution.size, more_needed=more)


# --------------------------------------------------------------------------------------------
# The campaign's terms and life
# --------------------------------------------------------------------------------------------


class State(StrEnum):
    """Where a campaign is in its life."""

    DRAFT = "draft"
    """Being written by the coordinator; terms can change; no pledges."""
    OPEN = "open"
    """Taking pledges; the threshold is not (or no longer) reached."""
    ON = "on"
    """The consistent set of pledges reaches the threshold (frozen once the deadline passes)."""
    OFF = "off"
    """The deadline passed without the threshold: nobody is bound to go."""
    DEPARTED = "departed"
    """The campaign was on at the deadline and the departure time has come."""
    CLOSED = "closed"
    """Archived by the coordinator after the departure (or after it went off)."""


class Event(StrEnum):
    """What everyone who pledged must be told when the state changes."""

    CAMPAIGN_ON = "campaign_on"
    CAMPAIGN_OFF = "campaign_off"
    BACK_TO_OPEN = "back_to_open"
    DEPARTED = "departed"


LOCKED_TERMS = ("title", "threshold", "deadline", "departure_at")
"""The terms that cannot change once the campaign opens: organisations pledge to them."""

_THRESHOLD_HINT = lazy_gettext("The threshold is the minimum number of organisations, 1 or more")


@dataclass(frozen=True)
class CampaignTerms:
    """A campaign's terms and the facts of its life, as stored.

    ``deadline`` is the pledge deadline: pledges and withdrawals are accepted before it, and
    the set of pledges in force at that moment decides the campaign. ``departure_at`` is when
    the members leave X together. ``opened_at`` and ``closed_at`` record when the coordinator
    opened and closed it. Constructing terms validates them; a :class:`CoalitionError` says
    what is wrong.
    """

    title: str
    threshold: int
    deadline: datetime
    departure_at: datetime
    description: str = ""
    opened_at: datetime | None = None
    closed_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.title.strip():
            raise CoalitionError(_("A campaign needs a title"), _("Give it a short, public title"))
        if self.threshold < 1:
            raise CoalitionError(
                _("A campaign threshold of %(n)d is not allowed") % {"n": self.threshold},
                str(_THRESHOLD_HINT),
            )
        _require_aware(self.deadline, "The pledge deadline")
        _require_aware(self.departure_at, "The departure time")
        if self.departure_at <= self.deadline:
            raise CoalitionError(
                _(
                    "The departure time (%(departure)s) must come after the pledge deadline "
                    "(%(deadline)s)"
                )
                % {"departure": _show(self.departure_at), "deadline": _show(self.deadline)},
                _("Set the deadline before the departure, leaving members time to prepare"),
            )
        if self.opened_at is not None:
            _require_aware(self.opened_at, "The opening time")
        if self.closed_at is not None:
            _require_aware(self.closed_at, "The closing time")
            if self.opened_at is None or self.closed_at < self.opened_at:
                raise CoalitionError(_("A campaign cannot be closed before it was opened"))


@dataclass(frozen=True)
class CampaignStatus:
    """Everything the board shows about a campaign at one moment."""

    state: State
    resolution: Resolution
    """Who goes: live before the deadline, frozen at the deadline after it."""
    tipping: Tipping
    """Against the threshold; ``more_needed`` is only a call to action before the deadline."""


def campaign_status(
    campaign: CampaignTerms, pledges: Iterable[Pledge], now: datetime
) -> CampaignStatus:
    """The campaign's state at ``now``, with the resolution and tipping point behind it.

    Before the deadline the pledges in force at ``now`` count (withdrawals can take an "on"
    campaign back to "open"); from the deadline on, the pledges in force at the deadline are
    final: on stays on (and departs at the departure time), anything else is off.
    """
    _require_aware(now, "The current time")
    moment = now if now < campaign.deadline else campaign.deadline
    resolution = resolve_pledges(pledges, at=moment)
    status = tipping(resolution, campaign.threshold)
    return CampaignStatus(_state(campaign, status.is_on, now), resolution, status)


def campaign_state(campaign: CampaignTerms, pledges: Iterable[Pledge], now: datetime) -> State:
    """The campaign's :class:`State` at ``now`` (see :func:`campaign_status`)."""
    return campaign_status(campaign, pledges, now).state


def _state(campaign: CampaignTerms, is_on: bool, now: datetime) -> State:
    if campaign.opened_at is None or now < campaign.opened_at:
        return State.DRAFT
    if campaign.closed_at is not None and now >= campaign.closed_at:
        return State.CLOSED
    if now < campaign.deadline:
        return State.ON if is_on else State.OPEN
    if not is_on:
        return State.OFF
    return State.DEPARTED if now >= campaign.departure_at else State.ON


# The events a move between two states must announce. The service remembers the last state it
# announced and compares it with the current one; it may have missed intermediate states (a
# campaign can open, tip and pass its departure between two checks), so jumps are listed too.
_EVENTS: dict[tuple[State, State], tuple[Event, ...]] = {
    (State.DRAFT, State.ON): (Event.CAMPAIGN_ON,),
    (State.DRAFT, State.OFF): (Event.CAMPAIGN_OFF,),
    (State.DRAFT, State.DEPARTED): (Event.CAMPAIGN_ON, Event.DEPARTED),
    (State.OPEN, State.ON): (Event.CAMPAIGN_ON,),
    (State.OPEN, State.OFF): (Event.CAMPAIGN_OFF,),
    (State.OPEN, State.DEPARTED): (Event.CAMPAIGN_ON, Event.DEPARTED),
    (State.ON, State.OPEN): (Event.BACK_TO_OPEN,),
    (State.ON, State.OFF): (Event.CAMPAIGN_OFF,),
    (State.ON, State.DEPARTED): (Event.DEPARTED,),
}
_SILENT: frozenset[tuple[State, State]] = frozenset(
    {
        (State.DRAFT, State.OPEN),
        # Closing archives a campaign whose fate everyone was already told.
        (State.DEPARTED, State.CLOSED),
        (State.OFF, State.CLOSED),
    }
)


def events_between(old: State, new: State) -> tuple[Event, ...]:
    """What must be announced to every pledger when the state moves from ``old`` to ``new``.

    Returns an empty tuple when nothing changed or the move is silent (opening, closing).
    Raises :class:`ValueError` for a move the rules never make (e.g. departed → open, or
    open → closed, which would hide whether it departed): that is a bug in the caller, such as
    comparing states of two different campaigns or skipping the state before a closure.
    """
    if old == new or (old, new) in _SILENT:
        return ()
    try:
        return _EVENTS[(old, new)]
    except KeyError:
        raise ValueError(f"a campaign never moves from {old} to {new}") from None


@dataclass(frozen=True)
class Announcement:
    """The campaign's current state and what to tell every pledger about reaching it."""

    state: State
    events: tuple[Event, ...]


def events_since(
    campaign: CampaignTerms, pledges: Iterable[Pledge], announced: State, now: datetime
) -> Announcement:
    """The state at ``now`` and the events to announce since the state last ``announced``.

    This is what the service's notification loop calls: it stores the state it announced, and
    may have missed some in between. A campaign closed since then is judged by its fate when it
    closed (departed or off), so that e.g. on → (departed) → closed still announces the
    departure; closing itself is silent.
    """
    pledges = list(pledges)
    state = campaign_state(campaign, pledges, now)
    if (
        state == State.CLOSED
        and campaign.closed_at is not None
        and announced not in (State.DEPARTED, State.OFF, State.CLOSED)
    ):
        unclosed = dataclasses.replace(campaign, closed_at=None)
        fate = campaign_state(unclosed, pledges, campaign.closed_at)
        return Announcement(state, events_between(announced, fate))
    return Announcement(state, events_between(announced, state))


# --- transitions: each checks the rules and returns the new facts ---------------------------


def open_campaign(campaign: CampaignTerms, now: datetime) -> CampaignTerms:
    """Open a draft campaign for pledges at ``now``; from then on its terms are locked."""
    _require_aware(now, "The current time")
    if campaign.opened_at is not None:
        raise CoalitionError(
            _("The campaign is already open since %(when)s") % {"when": _show(campaign.opened_at)}
        )
    if now >= campaign.deadline:
        raise CoalitionError(
            _("The pledge deadline (%(when)s) has already passed")
            % {"when": _show(campaign.deadline)},
            _("Move the deadline and the departure into the future before opening the campaign"),
        )
    return dataclasses.replace(campaign, opened_at=now)


def amend_terms(
    campaign: CampaignTerms,
    *,
    title: str | None = None,
    description: str | None = None,
    threshold: int | None = None,
    deadline: datetime | None = None,
    departure_at: datetime | None = None,
) -> CampaignTerms:
    """The campaign with the given terms changed (``None`` leaves a term as it is).

    Once the campaign has opened, the terms organisations pledged to — title, threshold,
    deadline and departure time — are locked: changing them under the pledgers' feet is what
    makes threshold pledges untrustworthy. The description stays editable (typos, links to the
    coalition's statement). Setting a locked term to its current value is not a change.
    """
    new_terms: dict[str, object] = {
        "title": title,
        "threshold": threshold,
        "deadline": deadline,
        "departure_at": departure_at,
    }
    if campaign.opened_at is not None:
        # Checked before validating the new values: "locked" is the answer that helps.
        locked = [
            name
            for name in LOCKED_TERMS
            if new_terms[name] is not None and new_terms[name] != getattr(campaign, name)
        ]
        if locked:
            raise CoalitionError(
                _(
                    "The campaign's terms are locked since it opened on %(when)s; cannot change "
                    "the %(terms)s"
                )
                % {
                    "when": _show(campaign.opened_at),
                    "terms": ", ".join(str(_TERM_NAMES[name]) for name in locked),
                },
                _("Organisations pledged to these terms; for other terms, start a new campaign"),
            )
    return CampaignTerms(
        title=campaign.title if title is None else title,
        threshold=campaign.threshold if threshold is None else threshold,
        deadline=campaign.deadline if deadline is None else deadline,
        departure_at=campaign.departure_at if departure_at is None else departure_at,
        description=campaign.description if description is None else description,
        opened_at=campaign.opened_at,
        closed_at=campaign.closed_at,
    )


_TERM_NAMES = {
    "title": lazy_gettext("title"),
    "threshold": lazy_gettext("threshold"),
    "deadline": lazy_gettext("pledge deadline"),
    "departure_at": lazy_gettext("departure time"),
}


def check_ahead(deadline: datetime, departure_at: datetime, now: datetime) -> None:
    """Refuse a pledge deadline or a departure time that is not in the future.

    A person typing a campaign's times into a form means the future: a time already past is
    a typo (a wrong year, a wrong month) that would open a campaign nobody can pledge to.
    """
    _require_aware(now, "The current time")
    hint = _("Give a date and time in the future (check the year), in the campaign's timezone")
    if departure_at <= now:
        raise CoalitionError(
            _("The departure time (%(when)s) is in the past") % {"when": _show(departure_at)},
            hint,
        )
    if deadline <= now:
        raise CoalitionError(
            _("The pledge deadline (%(when)s) is in the past") % {"when": _show(deadline)}, hint
        )


def check_can_change_pledges(campaign: CampaignTerms, now: datetime) -> None:
    """Refuse a pledge or withdrawal unless the campaign is open and before its deadline."""
    _require_aware(now, "The current time")
    if campaign.opened_at is None or now < campaign.opened_at:
        raise CoalitionError(
            _("The campaign is not open for pledges yet"),
            _("Wait until the coordinator opens it"),
        )
    if campaign.closed_at is not None and now >= campaign.closed_at:
        raise CoalitionError(_("The campaign is closed"))
    if now >= campaign.deadline:
        raise CoalitionError(
            _("The pledge deadline passed on %(when)s; pledges are final")
            % {"when": _show(campaign.deadline)},
            _("Ask the coordinator if something is wrong"),
        )


def make_pledge(
    campaign: CampaignTerms, organisation: str, min_others: int, now: datetime
) -> Pledge:
    """A new pledge by ``organisation`` at ``now``, if the campaign takes pledges.

    Pledging again supersedes the organisation's earlier pledge (see :func:`pledges_in_force`),
    so the service need not withdraw it first.
    """
    check_can_change_pledges(campaign, now)
    return Pledge(organisation=organisation, min_others=min_others, pledged_at=now)


def withdraw_pledge(campaign: CampaignTerms, pledge: Pledge, now: datetime) -> Pledge:
    """``pledge`` withdrawn at ``now``, if withdrawals are still allowed."""
    check_can_change_pledges(campaign, now)
    if pledge.withdrawn_at is not None:
        raise CoalitionError(
            _("This pledge was already withdrawn on %(when)s")
            % {"when": _show(pledge.withdrawn_at)},
        )
    if now < pledge.pledged_at:
        raise CoalitionError(_("A pledge cannot be withdrawn before it was made"))
    return dataclasses.replace(pledge, withdrawn_at=now)


def close_campaign(
    campaign: CampaignTerms, pledges: Iterable[Pledge], now: datetime
) -> CampaignTerms:
    """Close (archive) the campaign at ``now``: only once it departed or went off.

    The service should announce the events up to departed/off before closing, since closing
    itself is silent (see :func:`events_between`).
    """
    state = campaign_state(campaign, pledges, now)
    if state == State.CLOSED:
        raise CoalitionError(_("The campaign is already closed"))
    if state not in (State.DEPARTED, State.OFF):
        raise CoalitionError(
            _("A campaign that is %(state)s cannot be closed") % {"state": state},
            _("Close it after its departure time, or once it is off"),
        )
    return dataclasses.replace(campaign, closed_at=now)


# --- helpers ---------------------------------------------------------------------------------


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CoalitionError(
            f"{what} ({value.isoformat(timespec='minutes')}) has no timezone",
            "Give it with its timezone, e.g. 2025-01-20T12:00+01:00",
        )


def _show(moment: datetime) -> str:
    # As the reader of the message writes dates (the request's or the CLI's language), in
    # the moment's own zone (the campaign's, as it was typed).
    return format_moment(moment)
