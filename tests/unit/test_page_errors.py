"""Library errors on pages: in the reader's language, with something to do on a page instead
of a command, while the CLI's one line stays the English it was."""

from __future__ import annotations

import json

import pytest

from departures.bluesky.identity import unreachable
from departures.bluesky.session import expired
from departures.desk.rendering import note
from departures.errors import ArchiveError, BlueskyError, DeparturesError, WorkspaceError
from departures.i18n import _, lazy_gettext, use_language
from departures.page_errors import for_page, in_reader_language, record, recorded
from helpers.sweep import english_left


def test_an_expired_session_says_where_to_connect_again_not_which_command() -> None:
    error = expired("natuurpunt.bsky.social")
    # The CLI is unchanged.
    assert error.one_line() == (
        "The session of natuurpunt.bsky.social has expired or was revoked. "
        "Log in again with: departures login --handle natuurpunt.bsky.social."
    )
    with use_language("nl"):
        desk = for_page(error, "desk")
        coalition = for_page(error, "coalition")
    assert desk.message == "De Bluesky-sessie van natuurpunt.bsky.social is verlopen of ingetrokken"
    assert desk.hint is not None and "Publiceren" in desk.hint
    assert coalition.hint is not None and "ledenpagina" in coalition.hint
    for shown in (desk, coalition):
        assert "departures" not in (shown.hint or "")
    with use_language("en"):
        english = for_page(error, "coalition")
    assert english.hint == "Connect your Bluesky account again on your member page"


def test_a_library_message_in_english_goes_inside_a_translated_sentence() -> None:
    error = ArchiveError(
        "data/tweets.js is not valid JSON (line 3)",
        "Run 'departures archive import PATH' again with the archive as X gave it",
    )
    with use_language("fr"):
        shown = for_page(error, "desk")
    assert (
        shown.message
        == "L'archive ne peut pas être lue (data/tweets.js is not valid JSON (line 3))"
    )
    assert shown.detail == "data/tweets.js is not valid JSON (line 3)"
    assert shown.hint == (
        "Choisissez le zip de votre archive X tel que X l'a fourni, ou téléchargez-le à "
        "nouveau depuis X"
    )
    # In English the message is fine as it is; only the command goes.
    with use_language("en"):
        english = for_page(error, "desk")
    assert english.message == error.message
    assert english.hint is not None and "departures" not in english.hint


@pytest.mark.parametrize(
    ("error", "surface", "expected"),
    [
        (
            WorkspaceError("the workspace is locked", "pass another --workspace DIR"),
            "desk",
            "Sluit het bureau en start het opnieuw; helpt dat niet, importeer het archief dan "
            "opnieuw",
        ),
        (BlueskyError("Upstream failure"), "coalition", None),
        (
            DeparturesError("something odd", "try --force"),
            "coalition",
            "Probeer het opnieuw; blijft het gebeuren, vraag dan hulp en toon deze tekst",
        ),
    ],
)
def test_each_kind_of_error_gets_a_page_hint(
    error: DeparturesError, surface: str, expected: str | None
) -> None:
    with use_language("nl"):
        shown = for_page(error, surface)  # type: ignore[arg-type]
    assert shown.hint == expected
    assert error.message in shown.message and shown.message != error.message


def test_a_page_s_own_translated_error_is_left_as_it_is() -> None:
    with use_language("nl"):
        own = BlueskyError(
            _("%(typed)s is not a server address") % {"typed": "bsky"},
            _("Write it like https://bsky.social"),
        )
        shown = for_page(own, "desk")
        assert in_reader_language(own.message)
        assert not in_reader_language("Cannot reach the Bluesky server at https://x")
    assert (shown.message, shown.hint) == (own.message, own.hint)


@pytest.mark.parametrize("language", ["nl", "fr"])
def test_a_server_that_does_not_answer_is_said_in_the_reader_language(language: str) -> None:
    error = unreachable("https://pds.example", OSError("refused"))
    with use_language(language):
        shown = for_page(error, "coalition")
    assert "--service" not in (shown.hint or "") and "pds.example" not in shown.message
    page = f'<html lang="{language}"><p>{shown.message}</p><p>{shown.hint}</p></html>'
    assert english_left(page, language) == (language, [])
    with use_language("en"):
        english = for_page(error, "coalition")
    # The sweep would see these left in English on a Dutch or French page.
    assert english_left(f"<p>{english.message}</p>", language)[1]


def test_a_background_job_s_error_comes_back_from_its_status_file_as_it_was() -> None:
    error = expired("natuurpunt.test")
    again = recorded(json.loads(json.dumps(record(error))))
    assert type(again) is BlueskyError
    assert (again.message, again.hint, again.kind, again.values) == (
        error.message,
        error.hint,
        error.kind,
        error.values,
    )
    # A status file from before errors were kept: its English line, in a translated sentence.
    with use_language("nl"):
        old = for_page(recorded(None, "Publishing stopped"), "desk")
    assert old.message == "Dat is niet gelukt (Publishing stopped)"


def test_a_job_s_progress_note_is_translated_or_left_out() -> None:
    with use_language("fr"):
        assert note("starting the sandbox") == "démarrage du réseau de répétition"
        # A library's English line has no translation: the progress bar says enough.
        assert note("batch 3 of 7 sent (200 writes)") == ""
    with use_language("en"):
        assert note("batch 3 of 7 sent (200 writes)") == "batch 3 of 7 sent (200 writes)"


def test_a_lazy_hint_is_shown_in_the_reader_language() -> None:
    error = DeparturesError(
        "this upload is larger than 51 MB", lazy_gettext("Try again in a few minutes")
    )
    with use_language("nl"):
        shown = for_page(error, "coalition")
    assert shown.hint == "Probeer het over enkele minuten opnieuw"
