"""Merge two versions of a departures catalogue (.po) that each added entries.

    .venv/bin/python scripts/merge_po.py OURS THEIRS [--out FILE]

The result (written to OURS unless --out is given) is OURS plus every entry of THEIRS that
OURS lacks, and THEIRS' translation wherever OURS has none or only a fuzzy one. When both
translated the same text differently, OURS is kept and the difference is printed. Run
`make i18n` afterwards: it drops entries no longer in the sources and recompiles the .mo.

As a git merge driver (git passes %A = ours, written in place, and %B = theirs):

    git config merge.departures-po.name "union of departures catalogues"
    git config merge.departures-po.driver ".venv/bin/python scripts/merge_po.py %A %B"

with `.gitattributes` (committed) naming the driver for src/departures/locale/*/*/*.po.
After a plain conflicting merge instead:

    git show :2:PATH > /tmp/ours.po && git show :3:PATH > /tmp/theirs.po
    .venv/bin/python scripts/merge_po.py /tmp/ours.po /tmp/theirs.po --out PATH
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from departures.i18n_catalogues import render_po


def _translated(message: Message) -> bool:
    forms = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return not message.fuzzy and all(isinstance(form, str) and form.strip() for form in forms)


def _key(message: Message) -> object:
    return message.id if isinstance(message.id, str) else message.id[0]


def merge(ours: Catalog, theirs: Catalog) -> list[str]:
    """Add to ``ours`` what ``theirs`` knows; returns the texts translated differently."""
    differences = []
    for message in theirs:
        if not message.id:
            continue
        mine = ours.get(message.id, context=message.context)
        if mine is None:
            ours[message.id] = message  # the catalogue keys by id and context
            continue
        if _translated(message) and not _translated(mine):
            mine.string = message.string
            mine.flags = set(message.flags)
        elif _translated(message) and mine.string != message.string:
            differences.append(f"{_key(message)!r}: kept {mine.string!r}, not {message.string!r}")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ours", type=Path)
    parser.add_argument("theirs", type=Path)
    parser.add_argument("--out", type=Path, help="where to write the result (default: OURS)")
    args = parser.parse_args()
    with args.ours.open("rb") as fh:
        ours = read_po(fh)
    with args.theirs.open("rb") as fh:
        theirs = read_po(fh)
    if ours.locale and theirs.locale and str(ours.locale) != str(theirs.locale):
        print(f"merge_po: {args.ours} is {ours.locale}, {args.theirs} is {theirs.locale}")
        return 2
    for line in merge(ours, theirs):
        print(f"merge_po: translated differently, {line}", file=sys.stderr)
    (args.out or args.ours).write_bytes(render_po(ours))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
