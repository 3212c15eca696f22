"""Reading untrusted input for the coalition: handles, websites, the verified-domain rule,
form bodies and signed cookies (pure functions, many cases)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from departures.coalition.errors import BadInput, TooLarge
from departures.coalition.forms import MAX_BODY, Form, parse_form
from departures.coalition.handles import (
    HandleError,
    normalise_handle,
    verified_domain,
    website_host,
)
from departures.coalition.security import hash_token, new_token, sign, unsign

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("@Oxfam.BE", "oxfam.be"),
        ("  ngo.bsky.social ", "ngo.bsky.social"),
        ("a-b.example.org", "a-b.example.org"),
    ],
)
def test_handles_are_normalised(given: str, expected: str) -> None:
    assert normalise_handle(given) == expected


@pytest.mark.parametrize(
    "bad", ["oxfam", "-a.org", "a..org", "a.org/x", "<script>.org", "a.1org", "x" * 300 + ".org"]
)
def test_malformed_handles_are_refused(bad: str) -> None:
    with pytest.raises(HandleError, match="is not a Bluesky handle"):
        normalise_handle(bad)


@pytest.mark.parametrize(
    ("handle", "website", "verified"),
    [
        ("oxfam.be", "https://www.oxfam.be/", True),
        ("oxfam.be", "oxfam.be", True),
        ("oxfam.be", "HTTPS://OXFAM.BE/en", True),
        ("www.oxfam.be", "https://oxfam.be", True),
        ("press.oxfam.be", "https://oxfam.be", False),  # a subdomain is not the organisation
        ("oxfam.be", "https://press.oxfam.be", False),
        ("oxfam.be.evil.org", "https://oxfam.be", False),
        ("oxfam.bsky.social", "https://oxfam.be", False),
        ("oxfam.be", "", False),
    ],
)
def test_verified_domain_means_the_handle_is_the_websites_own_domain(
    handle: str, website: str, verified: bool
) -> None:
    assert verified_domain(handle, website) is verified


def test_website_host_survives_garbage() -> None:
    assert website_host("http://[::1") == ""
    assert website_host("https://Example.org:8080/x") == "example.org"


def test_a_form_body_over_the_limit_is_refused() -> None:
    with pytest.raises(TooLarge):
        parse_form(b"a=" + b"x" * MAX_BODY, FORM)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"name=%ff", FORM),  # not UTF-8
        (b"name=\xe9", FORM),  # raw bytes instead of percent-encoding
        (b"a=1&a=2", FORM),  # a field twice
        (b'{"a": 1}', "application/json"),
        (b"&".join(b"f%d=1" % i for i in range(100)), FORM),  # too many fields
    ],
)
def test_malformed_form_bodies_are_a_bad_input(body: bytes, content_type: str) -> None:
    with pytest.raises(BadInput):
        parse_form(body, content_type)


def test_form_fields_are_checked_for_length_controls_and_type() -> None:
    form = Form({"name": " Oxfam ", "n": "12", "bad": "a\x1bb", "multi": "a\r\nb", "when": "x"})
    assert form.text("name", "Name") == "Oxfam"
    assert form.text("multi", "Text", multiline=True) == "a\nb"
    with pytest.raises(BadInput, match="control characters"):
        form.text("multi", "Text")
    with pytest.raises(BadInput, match="control characters"):
        form.text("bad", "Bad", multiline=True)
    with pytest.raises(BadInput, match="too long"):
        form.text("name", "Name", max_length=3)
    assert form.integer("n", "N", minimum=1, maximum=20) == 12
    with pytest.raises(BadInput, match="from 1 to 10"):
        form.integer("n", "N", minimum=1, maximum=10)
    with pytest.raises(BadInput, match="not a date"):
        form.moment("when", "When", ZoneInfo("UTC"))


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "ftp://example.org", "data:text/html,x", "https://", "a b.org"]
)
def test_only_http_web_addresses_are_accepted(url: str) -> None:
    with pytest.raises(BadInput, match="not a web address"):
        Form({"u": url}).url("u", "Website")


def test_a_bare_domain_becomes_an_https_address() -> None:
    assert Form({"u": "example.org"}).url("u", "Website") == "https://example.org"


def test_signed_cookies_reject_tampering_and_age() -> None:
    key = b"k"
    value = sign(key, {"organisation": 3}, now=1000)
    assert unsign(key, value, max_age=60, now=1030) == {"organisation": 3}
    assert unsign(key, value, max_age=60, now=1100) == {}
    assert unsign(b"other", value, max_age=60, now=1030) == {}
    payload, mac = value.split(".")
    assert unsign(key, payload[:-2] + "xx." + mac, max_age=60, now=1030) == {}
    assert unsign(key, "garbage", max_age=60) == {}


def test_tokens_are_random_and_hashes_fixed_length() -> None:
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 43
    assert len(hash_token(first)) == 64 and hash_token(first) == hash_token(first)
