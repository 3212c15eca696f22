"""Helping a member organisation move to its domain handle, and checking that it did.

A Bluesky handle that is a domain (``oxfam.be``) is proven by the domain itself, in one of two
ways the AT Protocol reads: a DNS TXT record ``_atproto.oxfam.be`` whose value is
``did=<the account's DID>``, or the file ``https://oxfam.be/.well-known/atproto-did`` whose
whole content is the DID. The member page shows both with the organisation's DID filled in
(:func:`domain_help`) and checks either live (:func:`check_well_known`, :func:`check_dns`):
the step Belgian NGOs took by hand on their departure day.

The well-known file is fetched through the coalition's
:class:`~departures.netguard.NetGuard` (public HTTPS only, bounded); the TXT record is asked of
the machine's own resolver through ``dnspython``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from departures.coalition.handles import website_host
from departures.coalition.i18n import _
from departures.netguard import NetGuard

__all__ = ["DomainCheck", "DomainHelp", "check_dns", "check_well_known", "domain_help"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DomainHelp:
    """What an organisation publishes to use its website's domain as its Bluesky handle."""

    domain: str
    did: str
    handle: str
    connected_method: str | None
    """How its Bluesky account is connected: "oauth", "app_password" or None."""
    mark: bool
    """Whether the board shows its "✓ verified domain" now."""

    @property
    def txt_name(self) -> str:
        """The DNS record's name."""
        return f"_atproto.{self.domain}"

    @property
    def txt_value(self) -> str:
        """The DNS record's value."""
        return f"did={self.did}"

    @property
    def well_known_url(self) -> str:
        """Where the file is served."""
        return f"https://{self.domain}/.well-known/atproto-did"

    @property
    def handle_is_domain(self) -> bool:
        """Whether the account already uses the domain as its handle."""
        return bool(self.domain) and self.handle.lower() == self.domain


def domain_help(
    *, website: str, did: str, handle: str, connected_method: str | None, mark: bool
) -> DomainHelp | None:
    """The help for one organisation; None without a website or a known DID."""
    domain = website_host(website)
    if not domain or not did:
        return None
    return DomainHelp(domain, did, handle, connected_method, mark)


@dataclass(frozen=True)
class DomainCheck:
    """The result of one live check: whether it proves the DID, and what was found."""

    way: str  # "dns" or "well-known"
    ok: bool
    message: str


def check_well_known(domain: str, did: str, guard: NetGuard | None = None) -> DomainCheck:
    """Fetch ``https://<domain>/.well-known/atproto-did`` and compare it with ``did``."""
    guard = guard or NetGuard.for_service(timeout=10.0)
    url = f"https://{domain}/.well-known/atproto-did"
    try:
        with guard.client() as client:
            response = client.get(url, headers={"Accept": "text/plain"})
            found = response.text.strip() if response.status_code == 200 else ""
            status = response.status_code
    except httpx.HTTPError as exc:
        log.info("well-known check of %s: %s", domain, type(exc).__name__)
        return DomainCheck(
            "well-known",
            False,
            _("%(url)s could not be fetched: the site does not answer over HTTPS from here")
            % {"url": url},
        )
    if status != 200:
        return DomainCheck(
            "well-known",
            False,
            _("%(url)s answered %(status)d: the file is not there yet")
            % {"url": url, "status": status},
        )
    if found == did:
        return DomainCheck(
            "well-known", True, _("%(url)s names your account's DID: done") % {"url": url}
        )
    return DomainCheck(
        "well-known",
        False,
        _("%(url)s holds %(found)s, not your account's DID") % {"url": url, "found": found[:100]},
    )


def check_dns(domain: str, did: str, lifetime: float = 5.0) -> DomainCheck:
    """Ask DNS for the TXT record ``_atproto.<domain>`` and compare it with ``did``."""
    import dns.exception
    import dns.resolver

    name = f"_atproto.{domain}"
    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=lifetime)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return DomainCheck("dns", False, _("DNS has no TXT record %(name)s yet") % {"name": name})
    except dns.exception.DNSException as exc:
        log.info("DNS check of %s: %s", name, type(exc).__name__)
        return DomainCheck(
            "dns",
            False,
            _("DNS did not answer for %(name)s; try again in a few minutes") % {"name": name},
        )
    values = [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
    if f"did={did}" in values:
        return DomainCheck(
            "dns", True, _("%(name)s names your account's DID: done") % {"name": name}
        )
    return DomainCheck(
        "dns",
        False,
        _("%(name)s holds %(found)s, not did=%(did)s")
        % {"name": name, "found": ", ".join(values)[:200] or "nothing", "did": did},
    )
