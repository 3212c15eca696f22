"""A real SMTP receiver's inbox (aiosmtpd), for the notification tests, and the delivery
report a mail server sends back when a message it accepted cannot be delivered."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed with today's e-mail API."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.senders: list[str] = []  # each message's envelope sender (MAIL FROM), in order
        # Domains whose mailboxes "do not exist": RCPT is refused with a 550, as a real
        # server refuses an unknown address (what the coalition shows as a bounce).
        self.refused_domains: set[str] = {"bounces.invalid"}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        """Refuse addresses of ``refused_domains`` (aiosmtpd's hook for RCPT TO)."""
        if address.rsplit("@", 1)[-1].lower() in self.refused_domains:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (aiosmtpd's hook for a received message)."""
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.senders.append(str(envelope.mail_from))
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The subjects of the messages sent to ``address``, in the order received."""
        return [str(m["Subject"]) for m in self.messages if m["To"] == address]


# What Postfix mails back when a message it accepted cannot be delivered.
DSN = """\
From: MAILER-DAEMON@mx.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B0UND"

--B0UND
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example. Your message could not be delivered.

--B0UND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; info@oxfam.example
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full

--B0UND
Content-Type: text/rfc822-headers

Message-ID: {message_id}
Subject: Invitation: Leave X

--B0UND--
"""


def delivery_report(
    to: str = "bounces+17@coalition.example",
    action: str = "failed",
    status: str = "5.2.2",
    message_id: str = "<outbox.3.17@departures.local>",
) -> bytes:
    """A delivery report as it arrives (CRLF line ends)."""
    text = DSN.format(to=to, action=action, status=status, message_id=message_id)
    return text.replace("\n", "\r\n").encode()
