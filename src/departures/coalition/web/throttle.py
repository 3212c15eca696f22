"""Failed sign-ins, counted per client address and per account, so that guessing is slow.

Every form is already limited per address (:attr:`Site.form_limiter
<departures.coalition.web.site.Site.form_limiter>`, 60 a minute); sign-in forms get a tighter
count of *failures*: a coordinator token, a member key, a Bluesky app password. A handle is an
account the guesser names, so the directory's sign-in also counts failures per handle: an
attacker with many addresses still gets only ``per_account`` guesses at one person's app
password per window, and the person's own Bluesky server never sees us as the source of a
brute force. Tokens and keys are 256-bit random strings that name no account before they
match, so they are counted per address only.

Successful sign-ins are not counted; a visitor over a limit is refused *before* the check, so a
right guess after the limit does not get in either.

Given the store's engine (as the site gives it), the failures are also counted in the store
(:class:`~departures.coalition.limits.StoredLimit`, a fixed window), so the limits hold across
every server process behind a load balancer; the in-memory counts stay as the fast path.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from departures.coalition.errors import TooMany
from departures.coalition.i18n import _
from departures.coalition.limits import StoredLimit
from departures.coalition.security import RateLimiter

__all__ = ["SignInThrottle"]


class SignInThrottle:
    """Failed sign-ins per address and per account within a window (in memory, and stored
    when given an ``engine``)."""

    def __init__(
        self,
        per_address: int = 20,
        per_account: int = 10,
        window: float = 15 * 60.0,
        engine: Engine | None = None,
    ) -> None:
        self.window = window
        self.by_address = RateLimiter(per_address, window)
        self.by_account = RateLimiter(per_account, window)
        span = timedelta(seconds=window)
        self.stored_address = (
            StoredLimit(engine, "signin-address", per_address, span) if engine is not None else None
        )
        self.stored_account = (
            StoredLimit(engine, "signin-account", per_account, span) if engine is not None else None
        )

    def _address_over(self, address: str, now: float | None) -> bool:
        if self.by_address.over(address, now):
            return True
        return self.stored_address is not None and self.stored_address.over(address)

    def _account_over(self, account: str, now: float | None) -> bool:
        if self.by_account.over(account, now):
            return True
        return self.stored_account is not None and self.stored_account.over(account)

    def check(self, address: str, account: str | None = None, now: float | None = None) -> None:
        """Refuse (429) when the address or the account has failed too often lately."""
        minutes = max(1, round(self.window / 60))
        if self._address_over(address, now):
            raise TooMany(
                _("too many failed sign-ins from your address"),
                _("Wait %(minutes)d minutes and try again") % {"minutes": minutes},
            )
        if account is not None and self._account_over(account.lower(), now):
            raise TooMany(
                _("too many failed sign-ins for this account"),
                _("Wait %(minutes)d minutes and try again") % {"minutes": minutes},
            )

    def failed(self, address: str, account: str | None = None, now: float | None = None) -> None:
        """Count one failed sign-in for the address (and the account, when one was named)."""
        self.by_address.allow(address, now)
        if self.stored_address is not None:
            self.stored_address.hit(address)
        if account is not None:
            self.by_account.allow(account.lower(), now)
            if self.stored_account is not None:
                self.stored_account.hit(account.lower())
