"""The directory is reachable from every page: a "Directory" link in the site navigation."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from sqlalchemy import Engine

from departures.coalition.store import CoalitionStore
from departures.coalition.web import CoalitionApp
from helpers.web import coalition_app


@pytest.fixture
def app(engine: Engine) -> CoalitionApp:
    return coalition_app(CoalitionStore(engine), base_url="http://testserver")


def page(app: CoalitionApp, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return await http.get(path)

    return asyncio.run(go())


@pytest.mark.parametrize("path", ["/", "/login", "/member/sign-in", "/directory", "/nowhere"])
def test_the_site_navigation_links_the_directory(app: CoalitionApp, path: str) -> None:
    response = page(app, path)
    nav = re.search(r'<nav aria-label="Site">(.*?)</nav>', response.text, re.S)
    assert nav is not None, response.text[:500]
    assert '<a href="/directory">Directory</a>' in nav.group(1)
