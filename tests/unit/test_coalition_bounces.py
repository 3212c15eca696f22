"""Reading delivery status notifications (RFC 3464) of the coalition's e-mails."""

from __future__ import annotations

from departures.coalition.bounces import Bounce, read_bounce, verp_address
from helpers.mail import delivery_report as report


def test_the_bounce_address_names_the_message() -> None:
    assert verp_address("bounces@coalition.example", 17) == "bounces+17@coalition.example"
    assert read_bounce(report()) == Bounce(17, "5.2.2 smtp; 552 5.2.2 Mailbox full")


def test_without_the_verp_address_the_returned_message_id_names_it() -> None:
    found = read_bounce(
        report(to="bounces@coalition.example", message_id="<outbox.3.18@departures.local>")
    )
    assert found is not None and found.message_id == 18
    # The pipe's recipient (Postfix's ORIGINAL_RECIPIENT) wins over the headers.
    assert read_bounce(report(), "bounces+21@coalition.example") == Bounce(
        21, "5.2.2 smtp; 552 5.2.2 Mailbox full"
    )


def test_delays_and_other_mail_are_not_bounces() -> None:
    assert read_bounce(report(action="delayed", status="4.4.1")) is None
    assert read_bounce(b"From: someone@example.org\r\nSubject: hello\r\n\r\nHi!\r\n") is None
    assert read_bounce(report(to="bounces@coalition.example", message_id="<x@y>")) is None
