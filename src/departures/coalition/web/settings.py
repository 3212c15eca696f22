"""The coalition service's settings, declared as data: each with its default and what it does.

The command line (``departures coalition serve``) and the tests pass them to
:class:`~departures.coalition.web.app.CoalitionApp`; the views read them from
:attr:`Site.settings <departures.coalition.web.site.Site.settings>`. :class:`Deployment` is how
the service sits on the network (trusted proxies, host names); the perimeter middleware reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from departures.coalition.i18n import DEFAULT_LANGUAGE

__all__ = ["Deployment", "Settings"]


@dataclass(frozen=True)
class Settings:
    """How one coalition server behaves (everything but its store, keys and collaborators)."""

    base_url: str = field(
        default="http://127.0.0.1:8000",
        metadata={"help": "Public address of the service, used in links, feeds and e-mails"},
    )
    language: str = field(
        default=DEFAULT_LANGUAGE,
        metadata={
            "help": "Language of the pages for readers whose browser asks for none of "
            "en, nl, fr (each reader can switch)"
        },
    )
    forms_per_minute: int = field(
        default=60, metadata={"help": "Forms one client address may send per minute"}
    )
    public_cache_seconds: float = field(
        default=2.0,
        metadata={
            "help": "How long a process serves its board rendering before checking the "
            "store for a change (0: on every request)"
        },
    )
    tick_seconds: float | None = field(
        default=None,
        metadata={"help": "Run the scheduler pass every so many seconds (None: not here)"},
    )
    max_unverified_claims: int = field(
        default=3,
        metadata={
            "help": "X accounts one Bluesky account may claim in the directory without proof "
            "(declared or from an archive)"
        },
    )
    x_client_id: str = field(
        default="",
        metadata={
            "help": "Client id of the coalition's X API app, for Sign in with X (empty: off)"
        },
    )
    # repr=False: the secret never shows in a log line or a traceback's locals.
    x_client_secret: str = field(
        default="",
        repr=False,
        metadata={"help": "Client secret of that X app (from the environment; never logged)"},
    )
    x_authorize_url: str = field(
        default="https://x.com/i/oauth2/authorize",
        metadata={"help": "X's OAuth 2.0 authorisation page"},
    )
    x_api_url: str = field(
        default="https://api.x.com",
        metadata={"help": "X's API (the token endpoint and /2/users/me)"},
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if self.max_unverified_claims < 0:
            raise ValueError("max_unverified_claims cannot be negative")

    @property
    def x_sign_in_configured(self) -> bool:
        """Whether Sign in with X is offered (the coalition configured its X app)."""
        return bool(self.x_client_id and self.x_client_secret)

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry ``Secure`` when the service is served over HTTPS."""
        return self.base_url.startswith("https://")

    @classmethod
    def described(cls) -> list[tuple[str, object, str]]:
        """(name, default, help) of every setting, for documentation and its test."""
        return [(f.name, f.default, str(f.metadata["help"])) for f in fields(cls)]


@dataclass(frozen=True)
class Deployment:
    """How the service sits on the network: the proxies it trusts and the names it answers to.

    The defaults are the safe ones for a server facing the internet directly: no proxy is
    trusted (a forged ``X-Forwarded-For`` changes nothing) and only the base URL's host name
    is answered.
    """

    forwarded_allow_ips: str = field(
        default="",
        metadata={
            "help": "Comma-separated addresses or networks of the reverse proxies whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed (empty: none)"
        },
    )
    allowed_hosts: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "Host names answered besides the base URL's own ('*': any, when the "
            "proxy in front checks them)"
        },
    )

    @property
    def trusted_proxies(self) -> tuple[str, ...]:
        """The proxies' addresses or networks from ``forwarded_allow_ips`` (none by default)."""
        return tuple(p.strip() for p in self.forwarded_allow_ips.split(",") if p.strip())

    @classmethod
    def described(cls) -> list[tuple[str, object, str]]:
        """(name, default, help) of every deployment setting, for documentation and its test."""
        return [(f.name, f.default, str(f.metadata["help"])) for f in fields(cls)]
