"""scripts/merge_po.py: two branches' catalogues, each with its own new entries, merge into
one that has both (the lead's tool when merging helper branches)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from departures.i18n_catalogues import render_po

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "merge_po.py"


def _po(path: Path, entries: dict[str, str], fuzzy: tuple[str, ...] = ()) -> Path:
    catalogue = Catalog(locale="nl", fuzzy=False)
    for msgid, msgstr in entries.items():
        catalogue.add(msgid, msgstr, flags=["fuzzy"] if msgid in fuzzy else [])
    path.write_bytes(render_po(catalogue))
    return path


def test_the_union_of_both_branches_entries(tmp_path: Path) -> None:
    ours = _po(tmp_path / "ours.po", {"Save": "Opslaan", "Ours only": "Van ons", "Todo": ""})
    theirs = _po(
        tmp_path / "theirs.po",
        {"Save": "Bewaren", "Theirs only": "Van hen", "Todo": "Te doen", "Fz": "Wazig"},
        fuzzy=("Fz",),
    )
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(ours), str(theirs)],
        capture_output=True,
        text=True,
        check=True,
    )
    with ours.open("rb") as fh:
        catalogue = read_po(fh)
    merged = {m.id: (m.string, m.fuzzy) for m in catalogue if m.id}
    assert merged == {
        "Save": ("Opslaan", False),  # both translated: ours kept, the difference reported
        "Ours only": ("Van ons", False),
        "Theirs only": ("Van hen", False),
        "Todo": ("Te doen", False),  # untranslated in ours, translated in theirs
        "Fz": ("Wazig", True),  # still fuzzy: the catalogue test makes someone check it
    }
    assert "'Save': kept 'Opslaan', not 'Bewaren'" in run.stderr
    assert ours.read_bytes() == render_po(catalogue)  # the merge-friendly form
