"""The current language: negotiation from Accept-Language and a reader's choice, the context
variable, lazy strings, locale-aware formatting and the Jinja hook (departures/i18n.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from jinja2 import Environment

from departures import i18n
from departures.i18n import (
    _,
    current_language,
    format_datetime,
    format_number,
    lazy_gettext,
    negotiate,
    ngettext,
    use_language,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("nl-BE,nl;q=0.9,en;q=0.8", "nl"),
        ("fr-BE, fr;q=0.9", "fr"),
        ("de-DE,de;q=0.9,fr;q=0.5,nl;q=0.4", "fr"),  # the best supported one, not the first
        ("en;q=0.2, nl;q=0.8", "nl"),  # quality counts, not order
        ("nl;q=0.5, fr;q=0.5", "nl"),  # equal quality: the reader's order
        ("de, es", "en"),  # nothing supported: the default
        ("", "en"),
        (None, "en"),
        ("fr;q=0, nl;q=0.1", "nl"),  # q=0 means "not French"
        ("*", "en"),
        ("NL-be", "nl"),
        ("fr;q=abc, nl", "nl"),  # a broken quality is no preference
        (";;,,q=1;,fr-;;q=0.5", "fr"),  # garbage never fails
        ("nl;q=2", "en"),  # out of range
    ],
)
def test_negotiate_picks_the_best_supported_language(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


def test_an_explicit_choice_wins_over_the_header() -> None:
    assert negotiate("nl-BE,nl", "fr") == "fr"
    assert negotiate("nl-BE,nl", "fr-BE") == "fr"
    assert negotiate("nl", "de") == "nl"  # an unsupported choice is ignored
    assert negotiate(None, None, default="fr") == "fr"
    assert negotiate(None, None, default="xx") == "en"


def test_use_language_sets_and_restores_the_current_language() -> None:
    assert current_language() == "en"
    with use_language("nl-BE") as chosen:
        assert chosen == "nl"
        assert current_language() == "nl"
        with use_language("fr"):
            assert current_language() == "fr"
        assert current_language() == "nl"
    assert current_language() == "en"
    with use_language("klingon"):
        assert current_language() == "en"


def test_translation_follows_the_current_language() -> None:
    assert _("Sign out") == "Sign out"
    with use_language("nl"):
        assert _("Sign out") not in ("", "Sign out")
        dutch = _("Sign out")
    with use_language("fr"):
        assert _("Sign out") not in ("", "Sign out", dutch)
    with use_language("nl"):
        assert _("a text no catalogue has") == "a text no catalogue has"


def test_plural_forms_follow_each_languages_rule() -> None:
    one, many = "%(n)d minute", "%(n)d minutes"
    with use_language("fr"):
        # French uses the singular for 0 and 1.
        assert ngettext(one, many, 0) == ngettext(one, many, 1)
        assert ngettext(one, many, 2) != ngettext(one, many, 1)
    with use_language("nl"):
        assert ngettext(one, many, 0) == ngettext(one, many, 2)
        assert ngettext(one, many, 1) != ngettext(one, many, 2)


def test_each_thread_and_task_has_its_own_language() -> None:
    seen: dict[str, str] = {}

    def in_thread(name: str, language: str, ready: threading.Barrier) -> None:
        with use_language(language):
            ready.wait()  # both threads are inside their block at once
            seen[name] = _("Sign out")

    ready = threading.Barrier(2)
    threads = [
        threading.Thread(target=in_thread, args=("nl", "nl", ready)),
        threading.Thread(target=in_thread, args=("fr", "fr", ready)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with use_language("nl"):
        assert seen["nl"] == _("Sign out")
    with use_language("fr"):
        assert seen["fr"] == _("Sign out")

    async def task(language: str) -> str:
        with use_language(language):
            await asyncio.sleep(0)
            return current_language()

    async def both() -> list[str]:
        return list(await asyncio.gather(task("nl"), task("fr")))

    assert asyncio.run(both()) == ["nl", "fr"]


def test_a_lazy_string_is_translated_when_used() -> None:
    title = lazy_gettext("Sign out")
    assert str(title) == "Sign out"
    with use_language("nl"):
        assert str(title) == _("Sign out") != "Sign out"
        assert title == _("Sign out")
    placeholder = lazy_gettext("%(name)s landed on Bluesky")
    with use_language("fr"):
        assert placeholder % {"name": "X"} == _("%(name)s landed on Bluesky") % {"name": "X"}


def test_dates_and_numbers_are_formatted_for_the_reader() -> None:
    moment = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)
    brussels = ZoneInfo("Europe/Brussels")
    with use_language("nl"):
        assert format_number(1234567.5) == "1.234.567,5"
        assert format_datetime(moment, "long", tzinfo=brussels).startswith("7 december 2026")
        assert "15:05" in format_datetime(moment, tzinfo=brussels)
    with use_language("fr"):
        assert format_number(1234567.5).replace("\u202f", " ") == "1 234 567,5"
        assert format_datetime(moment, "long", tzinfo=brussels).startswith("7 décembre 2026")
    with use_language("en"):
        assert format_number(1234567.5) == "1,234,567.5"
        assert "15:05" in format_datetime(moment, tzinfo=brussels)  # 24-hour, as in Belgium


def test_one_jinja_environment_renders_every_language() -> None:
    environment = Environment(autoescape=True)
    i18n.install_jinja(environment)
    template = environment.from_string(
        '<html lang="{{ current_language() }}">{{ _("Sign out") }}|'
        '{{ _("%(name)s landed on Bluesky", name="<b>") }}|{{ 1234.5|format_number }}|'
        "{% trans %}  Sign\n     out  {% endtrans %}"
    )
    english = template.render()
    assert english == '<html lang="en">Sign out|&lt;b&gt; landed on Bluesky|1,234.5|Sign out'
    with use_language("nl"):
        dutch = template.render()
    assert dutch.startswith('<html lang="nl">')
    assert "&lt;b&gt;" in dutch  # placeholders are escaped in every language
    assert "1.234,5" in dutch
    with use_language("nl"):
        assert _("Sign out") in dutch
        assert dutch.endswith(_("Sign out"))  # `trans` blocks are trimmed, as extracted
