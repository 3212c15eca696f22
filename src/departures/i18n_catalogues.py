"""The catalogues' upkeep, for developers: extract the texts from the source tree, update the
Dutch and French ``.po`` files, compile the ``.mo`` files, and check them (``make i18n`` runs
``python -m departures.i18n_catalogues update``; the tests call :func:`problems`).

The files are written so that branches merge cleanly: entries sorted by msgid, no source
locations, fixed header dates, obsolete entries dropped. There is no committed ``.pot``: the
template is extracted afresh each time. This module works on a source checkout (it reads
``babel.cfg`` at the repository's root); the service itself only reads the ``.mo`` files.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from departures.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

__all__ = [
    "PACKAGE_DIR",
    "TRANSLATED",
    "compile_catalogue",
    "extract",
    "main",
    "mo_path",
    "placeholders",
    "po_path",
    "problems",
    "read_catalogue",
    "render_po",
    "update",
]

PACKAGE_DIR = Path(__file__).resolve().parent
MAPPING_FILE = PACKAGE_DIR.parent.parent / "babel.cfg"
# The languages with catalogues (English is the source: its msgids are the texts).
TRANSLATED: tuple[str, ...] = tuple(language for language in LANGUAGES if language != "en")
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
# A comment starting with this just above a marked text reaches the translators (#. lines).
COMMENT_TAGS = ("Translators:",)
# Fixed so that running `make i18n` on two branches writes identical headers.
_FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
_WIDTH = 76

# %(name)s, %s, %d, %.1f …, %% and {name} / {0} / {} (str.format).
_PLACEHOLDER = re.compile(
    r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[-#0 +]*\d*(?:\.\d+)?[sdifrxXeEgGc%]"
    r"|\{[A-Za-z0-9_]*(?:![rsa])?(?::[^{}]*)?\}"
)


def po_path(language: str) -> Path:
    """Where the catalogue of ``language`` is kept."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    """Where its compiled form (what the service reads) is kept."""
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _new_catalogue(language: str | None) -> Catalog:
    return Catalog(
        locale=language,
        domain=DOMAIN,
        project="departures",
        version="1",
        header_comment=(
            f"# {language or 'Template'} texts of departures (see ARCHITECTURE.md,"
            ' "Texts in three languages").\n#'
        ),
        copyright_holder="the departures authors",
        creation_date=_FIXED_DATE,
        revision_date=_FIXED_DATE,
        last_translator="the departures authors",
        language_team=f"{language} <https://departures.invalid/translations>" if language else "",
        fuzzy=False,
    )


def extract() -> Catalog:
    """Every text marked for translation in ``src/departures`` (Python and the Jinja templates
    that ``babel.cfg`` names): the template the catalogues follow."""
    with MAPPING_FILE.open(encoding="utf-8") as mapping:
        # Babel's own parser of babel.cfg (untyped; it returns the two lists extraction takes).
        method_map, options_map = parse_mapping_cfg(  # type: ignore[no-untyped-call]
            mapping, str(MAPPING_FILE)
        )
    template = _new_catalogue(None)
    for filename, lineno, message, comments, context in extract_from_dir(
        PACKAGE_DIR,
        method_map,
        options_map,
        keywords=KEYWORDS,
        comment_tags=COMMENT_TAGS,
        strip_comment_tags=True,
    ):
        template.add(
            message,
            None,
            [(filename, lineno)],
            auto_comments=comments,
            context=context,
        )
    return template


def read_catalogue(language: str) -> Catalog:
    """The committed ``.po`` of ``language`` (an empty one when there is none yet)."""
    path = po_path(language)
    if not path.exists():
        return _new_catalogue(language)
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


def render_po(catalogue: Catalog) -> bytes:
    """The ``.po`` text of a catalogue, in the merge-friendly form."""
    catalogue.creation_date = _FIXED_DATE
    catalogue.revision_date = _FIXED_DATE
    catalogue.fuzzy = False
    out = io.BytesIO()
    write_po(
        out,
        catalogue,
        width=_WIDTH,
        no_location=True,
        sort_output=True,
        ignore_obsolete=True,
        include_previous=False,
    )
    return out.getvalue()


def compile_catalogue(catalogue: Catalog) -> bytes:
    """The ``.mo`` bytes of a catalogue (fuzzy entries left out, as gettext does)."""
    out = io.BytesIO()
    write_mo(out, catalogue, use_fuzzy=False)
    return out.getvalue()


def update(languages: Iterable[str] = TRANSLATED) -> list[str]:
    """Extract, bring each ``.po`` up to date with the sources (new texts untranslated, changed
    ones fuzzy with the old translation as a hint, removed ones dropped), write it and its
    ``.mo``. Returns one line per catalogue saying what is left to translate."""
    template = extract()
    report = []
    for language in languages:
        catalogue = read_catalogue(language)
        catalogue.update(template, no_fuzzy_matching=False)
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render_po(catalogue))
        # Compile what was just written, read back: exactly what the tests compare with.
        mo_path(language).write_bytes(compile_catalogue(read_catalogue(language)))
        todo = [m for m in catalogue if m.id and (m.fuzzy or not _translated(m))]
        report.append(f"{path.relative_to(PACKAGE_DIR.parent)}: {len(todo)} to translate or check")
    return report


def _forms(message: Message) -> list[str]:
    """The translation's forms (one, or one per plural form); empty ones as ``""``."""
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return [form if isinstance(form, str) else "" for form in strings]


def _translated(message: Message) -> bool:
    return all(form.strip() for form in _forms(message))


def placeholders(text: str) -> list[str]:
    """The placeholders of a text, sorted (``%%`` is a literal, not a placeholder)."""
    return sorted(token for token in _PLACEHOLDER.findall(text) if token != "%%")


def _message_problems(language: str, message: Message) -> list[str]:
    label = f"{language}: {message.id!r}"
    if message.fuzzy:
        return [f"{label} is marked fuzzy (check the translation, then remove the flag)"]
    if not _translated(message):
        return [f"{label} has no translation"]
    forms = _forms(message)
    if isinstance(message.id, (list, tuple)):
        singular, plural = message.id[0], message.id[1]
        expected = [singular] + [plural] * (len(forms) - 1)
    else:
        expected = [message.id]
    found = []
    for index, (source, form) in enumerate(zip(expected, forms, strict=True)):
        if placeholders(source) != placeholders(form):
            found.append(
                f"{label} form {index}: placeholders {placeholders(form)} "
                f"instead of {placeholders(source)}"
            )
    return found


def problems(languages: Sequence[str] = TRANSLATED) -> list[str]:
    """What keeps the catalogues from being complete: untranslated, fuzzy or mismatched
    entries, texts in the sources missing from a ``.po``, a ``.mo`` not compiled from its
    ``.po``. Empty when all is well."""
    found: list[str] = []
    template_ids = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in extract()}
    template_ids.discard(("", None))
    for language in languages:
        path = po_path(language)
        if not path.exists():
            found.append(f"{language}: no catalogue at {path}")
            continue
        catalogue = read_catalogue(language)
        if catalogue.fuzzy:
            found.append(f"{language}: the catalogue's header is marked fuzzy")
        known = set()
        for message in catalogue:
            if not message.id:
                continue
            known.add(
                (message.id if isinstance(message.id, str) else message.id[0], message.context)
            )
            found.extend(_message_problems(language, message))
        found.extend(
            f"{language}: {msgid!r} is in the sources but not in the catalogue (run make i18n)"
            for msgid, _context in sorted(template_ids - known, key=str)
        )
        mo = mo_path(language)
        if not mo.exists() or mo.read_bytes() != compile_catalogue(catalogue):
            found.append(f"{language}: {mo.name} is not compiled from the .po (run make i18n)")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``update`` (extract, update the .po files, compile) or ``check`` (list problems)."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "update"
    if command == "update":
        for line in update():
            print(line)
        return 0
    if command == "check":
        found = problems()
        for line in found:
            print(line)
        print("catalogues complete" if not found else f"{len(found)} problem(s)")
        return 1 if found else 0
    print("usage: python -m departures.i18n_catalogues [update|check]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
