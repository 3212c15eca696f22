"""Languages in the coalition store, on SQLite and PostgreSQL: a member's language and a
campaign's languages are stored, read back, checked, and a campaign's change bumps its
board version (so no cached board outlives it)."""

from __future__ import annotations

import pytest

from departures.coalition.errors import BadInput, NotFound
from departures.coalition.store import CoalitionStore
from departures.coalition.store import languages as stored
from helpers.coalition import join, open_campaign
from helpers.stores import ON_BOTH_STORES

pytestmark = ON_BOTH_STORES


def test_new_rows_are_english_until_chosen(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    org, _key = join(store, campaign.slug, coordinator, "Amnesty")
    assert org.language == "en"
    assert store.campaign(campaign.slug).languages == ("en",)
    version = store.board_version(campaign.slug)
    assert version is not None and version.languages == ("en",)


def test_a_members_language_is_stored_and_checked(store: CoalitionStore) -> None:
    coordinator, campaign = open_campaign(store)
    org, _key = join(store, campaign.slug, coordinator, "Natuurpunt")
    assert stored.set_organisation_language(store.engine, org.id, "nl-BE") == "nl"
    assert store.organisation(org.id).language == "nl"
    assert [o.language for o in store.organisations(campaign.id)] == ["nl"]
    with pytest.raises(BadInput, match="is not a language of this service"):
        stored.set_organisation_language(store.engine, org.id, "de")
    assert store.organisation(org.id).language == "nl"
    with pytest.raises(NotFound):
        stored.set_organisation_language(store.engine, org.id + 99, "fr")


def test_a_campaigns_languages_keep_their_order_and_bump_the_board(
    store: CoalitionStore,
) -> None:
    _coordinator, campaign = open_campaign(store)
    before = store.board_version(campaign.slug)
    assert before is not None
    chosen = stored.set_campaign_languages(
        store.engine, campaign.id, ["fr", "nl", "fr"], store.clock()
    )
    assert chosen == ("fr", "nl")
    assert store.campaign(campaign.slug).languages == ("fr", "nl")
    after = store.board_version(campaign.slug)
    assert after is not None
    assert after.version == before.version + 1 and after.languages == ("fr", "nl")
    with pytest.raises(BadInput, match="at least one language"):
        stored.set_campaign_languages(store.engine, campaign.id, [], store.clock())
    with pytest.raises(BadInput):
        stored.set_campaign_languages(store.engine, campaign.id, ["nl", "xx"], store.clock())
    assert store.campaign(campaign.slug).languages == ("fr", "nl")
