"""Where a Bluesky sign-in returns (the appeal form's hidden ``next``): a campaign page of this
service, never another site — a hostile ``next`` returns to the directory."""

from __future__ import annotations

import pytest

from departures.coalition.web.guards import sign_in_return


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns/leave-x/moderation#appeal",
        "/campaigns/leave-x/moderation",
    ],
)
def test_a_campaign_page_of_this_service_is_where_it_returns(path: str) -> None:
    assert sign_in_return(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "https://evil.example/campaigns/leave-x/moderation",
        "http://evil.example",
        "//evil.example/campaigns/x",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/campaigns/..\\..\\evil.example",
        "/campaigns//evil.example",
        "/campaigns/x#//evil.example",
        "/campaigns/x/\\/evil.example",
        "javascript:alert(1)",
        "/member",
        "/oauth/start",
        "campaigns/leave-x/moderation",
        " /campaigns/leave-x/moderation",
        "",
    ],
)
def test_a_hostile_next_returns_to_the_directory(path: str) -> None:
    assert sign_in_return(path) == "/directory"
