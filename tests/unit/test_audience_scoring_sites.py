"""Websites as evidence: a shared link-in-bio host (linktr.ee, instagram.com...) is one site
per path, so two people's pages there are no "same website"."""

from __future__ import annotations

import pytest

from departures.audience.matcher import guessed_handles
from departures.audience.scoring import AUTO_ACCEPT, REVIEW_FLOOR, BskySide, XSide, score
from departures.audience.scoring import site_identity as identity


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.Oxfam.org/en/", "oxfam.org"),
        ("linktr.ee/Oxfam_BE?utm=1", "linktr.ee/oxfam_be"),
        ("https://www.instagram.com/@oxfam/", "instagram.com/oxfam"),
        ("https://linktr.ee/", ""),
        ("", ""),
    ],
)
def test_a_site_is_its_domain_or_its_page_on_a_shared_host(url: str, expected: str) -> None:
    assert identity(url) == expected


def test_two_pages_of_one_link_in_bio_host_are_no_evidence() -> None:
    xs = XSide(1, "green_fu", "Green Future", website="https://linktr.ee/green_fu")
    someone = BskySide("did:plc:b", "lt1234.test", "Green Future", "links: linktr.ee/someone")
    found = score(xs, someone)
    assert not any("website" in e.text for e in found.evidence)
    assert found.score < REVIEW_FLOOR + 0.01  # the equal name alone


def test_the_same_page_on_a_shared_host_is_evidence_and_a_domain_still_is() -> None:
    xs = XSide(1, "green_fu", "Green Future", website="https://linktr.ee/green_fu")
    same_page = BskySide("did:plc:b", "gf.test", "Green Future", "linktr.ee/Green_Fu/")
    assert any("website" in e.text for e in score(xs, same_page).evidence)
    org = XSide(1, "oxfam_be", "Oxfam", website="https://www.oxfam.org/en/")
    subdomain = BskySide("did:plc:c", "x.test", "Oxfam", "https://be.oxfam.org")
    assert any("website" in e.text for e in score(org, subdomain).evidence)
    domain_handle = score(org, BskySide("did:plc:d", "oxfam.org", "Oxfam"))
    assert domain_handle.score >= AUTO_ACCEPT


def test_nobody_is_guessed_to_have_a_shared_host_as_handle() -> None:
    xs = XSide(1, "green_fu", "Green Future", website="https://linktr.ee/green_fu")
    assert "linktr.ee" not in guessed_handles(xs)
