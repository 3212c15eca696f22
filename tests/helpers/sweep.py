"""Finding English left in a page or an e-mail in Dutch or French: the catalogue's English
messages that have another translation, found in the texts a reader sees (see
``tests/unit/test_i18n_page_sweep.py``), and dates written the English or a machine's way."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

from babel.messages.pofile import read_po

import departures

LOCALE = Path(departures.__file__).parent / "locale"
# A placeholder, and the literal text a sentence needs around its placeholders to be
# recognised when left in English (shorter ones would match ordinary names).
_PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sdif]|\{[a-z_]+\}")
_MIN_LITERAL = 12
# Messages (and the literal text of sentences) at least this long are looked for inside a
# text too, not only as the whole of it: a text node may hold several messages.
_INSIDE = 20
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
_SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
# English dates: month and day names as Babel's English writes them (Dutch writes them in
# lower case, French differently), and a 12-hour clock.
_ENGLISH_DATE = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|"
    r"December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"|\b\d{1,2} (Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b"
    r"|\d (AM|PM)\b"
    # A machine's date and time (2025-01-01 09:00) where a reader's belongs.
    r"|\b\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}"
)


@dataclass(frozen=True)
class Untranslated:
    """The English messages a page in ``language`` must not show."""

    exact: frozenset[str]
    sentences: tuple[tuple[re.Pattern[str], str], ...]

    @property
    def long(self) -> frozenset[str]:
        """The messages long enough to be found inside a longer text."""
        return frozenset(text for text in self.exact if len(text) >= _INSIDE)


@cache
def untranslated(language: str) -> Untranslated:
    """The catalogue's English messages whose ``language`` translation differs."""
    with (LOCALE / language / "LC_MESSAGES" / "departures.po").open("rb") as po:
        catalogue = read_po(po, locale=language)
    exact: set[str] = set()
    sentences: list[tuple[re.Pattern[str], str]] = []
    for message in catalogue:
        if not message.id or message.pluralizable or not isinstance(message.string, str):
            continue
        english, translated = str(message.id), message.string
        if not translated or " ".join(translated.split()) == " ".join(english.split()):
            continue
        if not _PLACEHOLDER.search(english):
            exact.add(" ".join(english.split()))
            continue
        pieces = [" ".join(p.replace("%%", "%").split()) for p in _PLACEHOLDER.split(english)]
        if sum(len(p.strip()) for p in pieces) >= _MIN_LITERAL:
            pattern = re.compile(".+?".join(re.escape(p) for p in pieces), re.DOTALL)
            sentences.append((pattern, english))
    return Untranslated(frozenset(exact), tuple(sentences))


class _Texts(HTMLParser):
    """The texts a reader sees (text nodes, a few attributes, the texts scripts show from
    ``data-`` attributes), outside scripts, styles and parts marked in another language."""

    def __init__(self, language: str) -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.html_lang: str | None = None
        self.stack: list[tuple[str, bool]] = []  # (tag, whether its text is hidden from us)
        self.texts: list[str] = []

    def _hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "html":
            self.html_lang = values.get("lang")
        lang = values.get("lang", "").split("-")[0]
        hidden = (
            self._hidden() or tag in ("script", "style") or bool(lang and lang != self.language)
        )
        if not hidden:
            for name, value in values.items():
                button = name == "value" and values.get("type") in ("submit", "button")
                if name in _SHOWN_ATTRIBUTES or name.startswith("data-") or button:
                    self.texts.append(value)
        if tag not in _VOID:
            self.stack.append((tag, hidden))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, -1, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.texts.append(data)


# Words only a terminal understands, which a page must not ask of its reader (the desk is
# started with `departures desk`: its pages may name that).
_CLI_WORDS = re.compile(
    r"\bdepartures (?:login|logout|whoami|archive|migrate|audience|sandbox|coalition)\b"
    r"|(?:^|[\s(:'\"`])--[a-z][a-z-]+"
)


def cli_words(html: str, language: str) -> list[str]:
    """The texts of a page that ask its reader to run a command or pass an option."""
    parser = _Texts(language)
    parser.feed(html)
    parser.close()
    texts = (" ".join(raw.split()) for raw in parser.texts)
    return [f"command-line words: {text!r}" for text in texts if _CLI_WORDS.search(text)]


def english_left(html: str, language: str) -> tuple[str | None, list[str]]:
    """The page's ``<html lang>`` and what it shows in English (each with why)."""
    parser = _Texts(language)
    parser.feed(html)
    parser.close()
    catalogue = untranslated(language)
    found: list[str] = []
    for raw in parser.texts:
        text = " ".join(raw.split())
        if not text:
            continue
        for candidate in {text, text.rstrip(".:"), text[:1].lower() + text[1:].rstrip(".")}:
            if candidate in catalogue.exact:
                found.append(f"untranslated: {text!r}")
                break
        else:
            inside = next((english for english in catalogue.long if english in text), None)
            if inside is not None:
                found.append(f"untranslated inside: {inside!r}: {text!r}")
            for pattern, english in catalogue.sentences:
                lowered = text[:1].lower() + text[1:]
                whole = pattern.fullmatch(text) or pattern.fullmatch(lowered)
                literal = len(_PLACEHOLDER.sub("", english))
                if whole or (literal >= _INSIDE and pattern.search(text)):
                    found.append(f"untranslated sentence {english!r}: {text!r}")
                    break
        date = _ENGLISH_DATE.search(text)
        if date:
            found.append(f"date not written for the reader ({date.group(0)}): {text!r}")
    return parser.html_lang, found
