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
from departures.i18n import _, lazy_gettext

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
    "reason": 500,
    # A welcome post is at most 300 graphemes; its rules live with the departure day. This
    # only keeps a stored text from being anything at all.
    "welcome_text": 3000,
    # The triage queue's word lists (one term a line) and a person's note on a decision.
    "triage_words": 20000,
    "decision_note": 500,
}
MULTILINE = frozenset({"description", "welcome_text", "triage_words"})
# The fields as people call them, translated when a message names one.
LABELS = {
    "x_handle": lazy_gettext("X handle"),
    "bluesky_handle": lazy_gettext("Bluesky handle"),
    "bluesky_did": lazy_gettext("Bluesky DID"),
    "coordinator_handle": lazy_gettext("coordinator's Bluesky handle"),
    "starter_pack_url": lazy_gettext("starter pack URL"),
    "x_username": lazy_gettext("X username"),
    "did": lazy_gettext("DID"),
    "email": lazy_gettext("e-mail address"),
    "welcome_text": lazy_gettext("welcome post"),
    "triage_words": lazy_gettext("word list"),
    "decision_note": lazy_gettext("note"),
    "name": lazy_gettext("name"),
    "title": lazy_gettext("title"),
    "description": lazy_gettext("description"),
    "website": lazy_gettext("website"),
    "note": lazy_gettext("note"),
}


def check_text(field: str, value: str) -> str:
    """``value`` as the store keeps it in ``field``; BadInput when it cannot be kept."""
    label = str(LABELS.get(field, field))
    multiline = field in MULTILINE
    if multiline:
        value = value.replace("\r\n", "\n")
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN).search(value)
    if found is not None:
        raise BadInput(
            _("the %(label)s contains a control character (U+%(code)04X)")
            % {"label": label, "code": ord(found.group())},
            _("Retype it without the invisible character that pasted text can carry"),
        )
    limit = LIMITS.get(field)
    if limit is not None and len(value) > limit:
        raise BadInput(
            _("the %(label)s is longer than %(limit)d characters")
            % {"label": label, "limit": limit},
            _("Shorten it to %(limit)d or fewer") % {"limit": limit},
        )
    return value


def check_texts(values: dict[str, object]) -> dict[str, object]:
    """``values`` with every string among them checked by :func:`check_text`."""
    return {k: check_text(k, v) if isinstance(v, str) else v for k, v in values.items()}
