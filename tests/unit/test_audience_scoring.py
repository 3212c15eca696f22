"""The match scorer: evidence found, evidence weighed, and what is followed without review."""

from __future__ import annotations

import pytest

from departures.audience.scoring import (
    AUTO_ACCEPT,
    REVIEW_FLOOR,
    BskySide,
    XSide,
    handle_variants,
    name_similarity,
    score,
    site_domain,
)


def x(handle: str = "oxfam_be", name: str = "", website: str = "", bio: str = "") -> XSide:
    return XSide(1, handle, name, website, bio)


def b(handle: str, name: str = "", bio: str = "") -> BskySide:
    return BskySide("did:plc:abc", handle, name, bio)


def test_handle_variants_turn_underscores_into_hyphens_or_nothing() -> None:
    assert handle_variants("@Oxfam_BE") == {"oxfam_be", "oxfam-be", "oxfambe"}
    assert handle_variants("") == set()


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.Oxfam.org/en/", "oxfam.org"),
        ("oxfam.be", "oxfam.be"),
        ("http://be.oxfam.org", "be.oxfam.org"),
        ("not a url", ""),
        ("", ""),
        ("http://localhost", ""),
    ],
)
def test_site_domain(url: str, domain: str) -> None:
    assert site_domain(url) == domain


def test_names_compare_without_case_accents_or_emoji() -> None:
    assert name_similarity("Médecins du Monde 🌍", "medecins du monde") == 1.0
    assert name_similarity("Oxfam", "") == 0.0
    assert name_similarity("Oxfam Belgium", "Greenpeace") < 0.5


# (X side, Bluesky side, should be followed without review, should be shown for review)
CASES = [
    # the X bio names the Bluesky handle: the X owner says so
    (x(bio="Now on Bluesky: @oxfam.be"), b("oxfam.be"), True, True),
    (
        x(bio="find us at bsky.app/profile/oxfam-be.bsky.social"),
        b("oxfam-be.bsky.social"),
        True,
        True,
    ),
    # the website's domain is the Bluesky handle
    (x(website="https://www.oxfam.be"), b("oxfam.be"), True, True),
    (x(website="https://oxfam.be/nl"), b("be.oxfam.org"), False, False),
    # same handle and the bio links the X profile and the same name
    (
        x(name="Oxfam Belgium"),
        b("oxfam-be.bsky.social", "Oxfam Belgium", "Ex x.com/oxfam_be"),
        True,
        True,
    ),
    # same handle alone: could be anybody
    (x(), b("oxfam-be.bsky.social"), False, True),
    (x(), b("OXFAM_BE.bsky.social".replace("_", "")), False, True),
    # same handle and same name: still a person must look
    (x(name="Oxfam Belgium"), b("oxfam-be.bsky.social", "Oxfam Belgium"), False, True),
    # same name, other handle: a namesake
    (x(name="Jan Peeters"), b("janp.bsky.social", "Jan Peeters"), False, True),
    # the bio links another X profile: somebody else
    (
        x(name="Oxfam Belgium"),
        b("oxfam-be.bsky.social", "Oxfam Belgium", "x.com/someoneelse"),
        False,
        False,
    ),
    # nothing in common
    (x(name="Oxfam Belgium"), b("greenpeace.bsky.social", "Greenpeace"), False, False),
    # a domain handle that resembles the X handle
    (x(handle="oxfam"), b("oxfam.org"), False, True),
    # same website linked in the bio + same handle
    (x(website="oxfam.be"), b("oxfam-be.bsky.social", "", "https://oxfam.be"), False, True),
    # the X bio names another Bluesky handle: not this one
    (x(bio="We are @oxfam.be on Bluesky"), b("oxfam-be.bsky.social"), False, True),
    # an e-mail address in the X bio is not a Bluesky handle
    (x(handle="foo", bio="mail info@oxfam.be"), b("oxfam.be"), False, False),
    # the sandbox's .test handles count like .bsky.social ones
    (x(handle="fair_harvest"), b("fair-harvest.test"), False, True),
]


@pytest.mark.parametrize(("xs", "bs", "auto", "shown"), CASES)
def test_auto_acceptance_and_review(xs: XSide, bs: BskySide, auto: bool, shown: bool) -> None:
    match = score(xs, bs)
    assert (match.score >= AUTO_ACCEPT) is auto, match
    assert (match.score >= REVIEW_FLOOR) is shown, match
    if shown:
        assert match.explain(), "a candidate always says why"


def test_evidence_reads_as_sentences_a_person_can_check() -> None:
    match = score(
        x(name="Oxfam Belgium", website="oxfam.be"),
        b("oxfam-be.bsky.social", "Oxfam Belgium", "https://oxfam.be · x.com/oxfam_be"),
    )
    text = match.explain()
    assert "same handle: @oxfam_be on X, @oxfam-be.bsky.social on Bluesky" in text
    assert "Bluesky bio links the X profile x.com/oxfam_be" in text
    assert "Bluesky bio links oxfam.be, the X account's website is oxfam.be" in text
    assert "same name" in text
    assert match.score >= AUTO_ACCEPT


def test_x_bio_proof_overrides_a_bio_linking_another_x_profile() -> None:
    match = score(x(bio="@oxfam.be"), b("oxfam.be", "", "formerly x.com/oldname"))
    assert match.score >= AUTO_ACCEPT


def test_score_is_between_zero_and_one_and_more_evidence_never_lowers_it() -> None:
    base = score(x(), b("oxfam-be.bsky.social"))
    more = score(x(name="Oxfam"), b("oxfam-be.bsky.social", "Oxfam"))
    assert 0 <= base.score <= more.score <= 1


def test_matcher_tries_the_handles_the_x_bio_names_and_the_website() -> None:
    from departures.audience.matcher import guessed_handles, search_terms

    xs = XSide(1, "Oxfam_BE", "Oxfam Belgium", "https://www.oxfam.be", "New: @oxfam.bsky.social")
    guesses = guessed_handles(xs)
    assert guesses[0] == "oxfam.bsky.social"
    assert {"oxfam-be.bsky.social", "oxfambe.bsky.social", "oxfam.be"} <= set(guesses)
    assert search_terms(xs)[0] == "oxfam_be" and search_terms(xs)[-1] == "Oxfam Belgium"
