"""The Dutch and French catalogues are complete and consistent with the sources: every text
people read has a real translation in both, with the same placeholders, and the shipped
``.mo`` files are the compiled ``.po`` files. Adding a text without translating it fails here
(see ARCHITECTURE.md, "Texts in three languages")."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog, Message

from departures import i18n_catalogues as cat

LANGUAGES = cat.TRANSLATED


@pytest.fixture(scope="module")
def source_messages() -> Catalog:
    return cat.extract()


def test_there_are_dutch_and_french_catalogues() -> None:
    assert set(LANGUAGES) == {"nl", "fr"}
    for language in LANGUAGES:
        assert cat.po_path(language).is_file()
        assert cat.mo_path(language).is_file()


def test_the_sources_have_texts_to_translate(source_messages: Catalog) -> None:
    # A broken babel.cfg would extract nothing and make the other tests pass vacuously.
    files = {path for message in source_messages for path, _line in message.locations}
    assert any(path.endswith(".py") for path in files)
    assert any(path.startswith("coalition/templates/") for path in files)
    assert len([m for m in source_messages if m.id]) > 300


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_of_the_sources_is_in_the_catalogue(
    language: str, source_messages: Catalog
) -> None:
    catalogue = cat.read_catalogue(language)
    missing = [
        m.id for m in source_messages if m.id and catalogue.get(m.id, context=m.context) is None
    ]
    assert not missing, f"run `make i18n` and translate in {cat.po_path(language)}: {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated_without_fuzzy_entries(language: str) -> None:
    catalogue = cat.read_catalogue(language)
    assert not catalogue.fuzzy
    untranslated = []
    for message in catalogue:
        if not message.id:
            continue
        forms = message.string if isinstance(message.string, tuple | list) else [message.string]
        if message.fuzzy or not all(form and form.strip() for form in forms):
            untranslated.append(message.id)
    assert not untranslated, f"translate (and unflag fuzzy) in {cat.po_path(language)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match_in_every_form(language: str) -> None:
    found = [problem for problem in cat.problems([language]) if "placeholders" in problem]
    assert not found


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_entries_have_the_languages_plural_forms(language: str) -> None:
    catalogue = cat.read_catalogue(language)
    for message in catalogue:
        if message.id and message.pluralizable:
            assert len(message.string) == catalogue.num_plurals, message.id


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_shipped_mo_is_the_compiled_po(language: str) -> None:
    compiled = cat.compile_catalogue(cat.read_catalogue(language))
    assert cat.mo_path(language).read_bytes() == compiled, "run `make i18n`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_po_is_in_its_merge_friendly_form(language: str) -> None:
    # Sorted, without locations, fixed dates: what `make i18n` writes, so branches merge.
    text = cat.po_path(language).read_bytes()
    assert cat.render_po(cat.read_catalogue(language)) == text, "run `make i18n`"
    assert b"\n#: " not in text


def test_the_problem_finder_sees_each_kind_of_fault() -> None:
    # The checks above rely on this: a wrong catalogue gives a problem of each kind.
    bad = Catalog(locale="nl")
    bad.add("%(name)s landed", "%(naam)s geland")
    bad.add("Hello", "")
    bad.add("Fuzzy", "Wazig", flags=["fuzzy"])
    bad.add(("%(n)d day", "%(n)d days"), ("%(n)d dag", "dagen"))
    found = [line for m in bad if m.id for line in cat._message_problems("nl", m)]
    assert any("placeholders ['%(naam)s'] instead of ['%(name)s']" in f for f in found)
    assert any("'Hello' has no translation" in f for f in found)
    assert any("fuzzy" in f for f in found)
    assert any("form 1: placeholders []" in f for f in found)
    assert not cat._message_problems("nl", Message("{title}: %(n)s%%", "{title}: %(n)s %%"))


def test_placeholders_are_recognised() -> None:
    assert cat.placeholders("%(b)s and %(a)d, %s, {title} {0} 100%% {x:>3}") == sorted(
        ["%(b)s", "%(a)d", "%s", "{title}", "{0}", "{x:>3}"]
    )
