"""What the coalition store accepts as text, whoever calls it (a page, the CLI, a script).

Every text column is checked here before it is written: no control characters (they make the
Atom feed invalid XML, hide text in a terminal and confuse e-mail headers), no code points XML
cannot carry, and no more characters than the column holds. Multi-line texts (a campaign's
description) may keep line breaks and tabs; ``\\r\\n`` becomes ``\\n``. A refused value is a
:class:`~departures.coalition.errors.BadInput` with one line naming the field and what to do,
so the CLI prints ``Error: …`` and the pages a 400.
"""

from __future__ import annotations

import re

from departures.coalition.errors import BadInput

__all__ = ["LIMITS", "check_text", "check_texts"]

# C0 controls, DEL and C1 controls, lone surrogates, and the two non-characters XML forbids.
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_FORBIDDEN_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

LIMITS: dict[str, int] = {
    # Column → characters, as in store/schema.py.
    "title": 200,
    "description": 5000,
    "name": 200,
    "email": 254,
    "website": 500,
    "x_handle": 50,
    "bluesky_handle": 253,
    "bluesky_did": 200,
    "coordinator_handle": 253,
    "starter_pack_url": 500,
    "note": 200,
    "x_username": 15,
    "handle": 253,
    "did": 200,
    # A welcome post is at most 300 graphemes; its rules live with the departure day. This
    # only keeps a stored text from being anything at all.
    "welcome_text": 3000,
    # The triage queue's word lists (one term a line) and a person's note on a decision.
    "triage_words": 20000,
    "decision_note": 500,
}
MULTILINE = frozenset({"description", "welcome_text", "triage_words"})
LABELS = {
    "x_handle": "X handle",
    "bluesky_handle": "Bluesky handle",
    "bluesky_did": "Bluesky DID",
    "coordinator_handle": "coordinator's Bluesky handle",
    "starter_pack_url": "starter pack URL",
    "x_username": "X username",
    "did": "DID",
    "email": "e-mail address",
    "welcome_text": "welcome post",
    "triage_words": "word list",
    "decision_note": "note",
}


def check_text(field: str, value: str) -> str:
    """``value`` as the store keeps it in ``field``; BadInput when it cannot be kept."""
    label = LABELS.get(field, field)
    multiline = field in MULTILINE
    if multiline:
        value = value.replace("\r\n", "\n")
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
    if found is not None:
        raise BadInput(
            f"the {label} contains a control character (U+{ord(found.group()):04X})",
            "Retype it without the invisible character that pasted text can carry",
        )
    limit = LIMITS.get(field)
    if limit is not None and len(value) > limit:
        raise BadInput(
            f"the {label} is longer than {limit} characters", f"Shorten it to {limit} or fewer"
        )
    return value


def check_texts(values: dict[str, object]) -> dict[str, object]:
    """``values`` with every string among them checked by :func:`check_text`."""
    return {k: check_text(k, v) if isinstance(v, str) else v for k, v in values.items()}
