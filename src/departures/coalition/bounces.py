"""Bounces that come back later: a bounce address per message, and reading the report.

A receiving server may accept a message and refuse it only afterwards (a full mailbox, a
forwarding that fails): it then mails a delivery status notification (RFC 3464) to the
message's envelope sender. With ``SMTPSettings.bounce_address`` set (``bounces@example.org``)
each message goes out with its own envelope sender, ``bounces+<outbox id>@example.org`` (VERP),
and the mail server delivers what comes back to that address to
``departures coalition bounce`` (an alias piping into the command, e.g. Postfix's
``bounces: "|departures coalition bounce --db …"`` with ``recipient_delimiter = +``).

:func:`read_bounce` finds which outbox message a report is about — from the report's own
recipient address (the VERP address), else from the ``Message-ID`` of the returned
headers — and whether it is a failure (``Action: failed``, a 5.x.x status), not a delay.
Pure: no store, no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message

__all__ = ["Bounce", "read_bounce", "verp_address"]

_VERP = re.compile(r"\+(\d+)@")
_MESSAGE_ID = re.compile(r"<outbox\.\d+\.(\d+)@departures\.local>")


@dataclass(frozen=True)
class Bounce:
    """A returned message: which outbox row, and why."""

    message_id: int
    reason: str


def verp_address(bounce_address: str, message_id: int) -> str:
    """``bounces+<id>@domain`` for ``bounces@domain``: the envelope sender of one message."""
    local, _at, domain = bounce_address.partition("@")
    return f"{local}+{message_id}@{domain}"


def _delivery_status(report: Message) -> tuple[str, str, str] | None:
    """(action, status, diagnostic) of the report's first recipient, if it has one."""
    for part in report.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # Header blocks: one for the report, then one per recipient (which has the action).
        # The parser gives them as messages; a malformed one stays text.
        payload = part.get_payload()
        blocks: list[dict[str, str]] = []
        if isinstance(payload, list):
            blocks = [
                {key.lower(): str(value).strip() for key, value in block.items()}
                for block in payload
                if isinstance(block, Message)
            ]
        elif isinstance(payload, str):
            for chunk in re.split(r"\r?\n\s*\r?\n", payload):
                fields = {}
                for line in chunk.splitlines():
                    key, colon, value = line.partition(":")
                    if colon:
                        fields[key.strip().lower()] = value.strip()
                blocks.append(fields)
        for fields in blocks:
            if "action" in fields:
                return (
                    fields["action"].lower(),
                    fields.get("status", ""),
                    fields.get("diagnostic-code", ""),
                )
    return None


def _outbox_id(report: Message, recipient: str) -> int | None:
    found = _VERP.search(recipient or "")
    if found is not None:
        return int(found.group(1))
    for part in report.walk():
        if part.get_content_type() in ("text/rfc822-headers", "message/rfc822"):
            text = part.as_string()
            match = _MESSAGE_ID.search(text)
            if match is not None:
                return int(match.group(1))
    return None


def read_bounce(raw: bytes, recipient: str = "") -> Bounce | None:
    """The failed delivery ``raw`` reports, or None (a delay, or not a report of ours).

    ``recipient`` is the address the report was delivered to, when the mail server passes it
    (Postfix: ``$ORIGINAL_RECIPIENT``); otherwise the report's ``To`` header is read.
    """
    report = message_from_bytes(raw, policy=policy.default)
    assert isinstance(report, EmailMessage)
    status = _delivery_status(report)
    if status is None:
        return None
    action, code, diagnostic = status
    if action != "failed" and not code.startswith("5"):
        return None
    outbox_id = _outbox_id(report, recipient or str(report.get("To", "")))
    if outbox_id is None:
        return None
    reason = " ".join(part for part in (code, diagnostic) if part) or "returned as undeliverable"
    return Bounce(outbox_id, reason[:500])
