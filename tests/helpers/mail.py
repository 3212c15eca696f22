"""A real SMTP receiver's inbox (aiosmtpd), for the notification tests."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any


class Inbox:
    """aiosmtpd handler keeping every message it receives, parsed with today's e-mail API."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (aiosmtpd's hook for a received message)."""
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The subjects of the messages sent to ``address``, in the order received."""
        return [str(m["Subject"]) for m in self.messages if m["To"] == address]
