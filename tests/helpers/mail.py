"""A real SMTP receiver's inbox (aiosmtpd), for the notification tests."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed with today's e-mail API."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
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
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The subjects of the messages sent to ``address``, in the order received."""
        return [str(m["Subject"]) for m in self.messages if m["To"] == address]
