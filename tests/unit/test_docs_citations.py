"""Every ``docs/...`` page the code cites exists, and so does every heading it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("src", "tests", "bench", "scripts")
# ``docs/name.md``, optionally followed by ``#anchor`` or by `, "Heading"` (the citation
# style of the code: the page, then the heading in quotes).
CITATION = re.compile(r'docs/([\w.-]+\.md)(?:#([\w-]+)|[`\'"]*,?\s*"([^"\n]+)")?')


def _slug(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading (GitHub's rule, ASCII headings)."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return kept.replace(" ", "-")


def _headings(page: Path) -> set[str]:
    return {
        line.lstrip("#").strip()
        for line in page.read_text(encoding="utf-8").splitlines()
        if line.startswith("#")
    }


def _citations() -> list[tuple[str, str, str | None, str | None]]:
    found = []
    paths = [ROOT / "README.md"]
    for folder in SCANNED:
        paths += sorted((ROOT / folder).rglob("*"))
    for path in paths:
        if path.suffix not in {".py", ".md", ".txt", ".html"} or not path.is_file():
            continue
        if path == Path(__file__).resolve():  # its own examples are not citations
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in CITATION.finditer(text):
            where = f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
            found.append((where, match[1], match[2], match[3]))
    return found


CITATIONS = _citations()


def test_the_code_cites_the_docs_at_all() -> None:
    # The scan itself must find something, or the tests below prove nothing.
    pages = {page for _, page, _, _ in CITATIONS}
    assert {"x-archive-format.md", "bluesky-facts.md"} <= pages


@pytest.mark.parametrize(("where", "page", "anchor", "heading"), CITATIONS)
def test_a_cited_page_and_heading_exist(
    where: str, page: str, anchor: str | None, heading: str | None
) -> None:
    path = ROOT / "docs" / page
    assert path.is_file(), f"{where} cites docs/{page}, which does not exist"
    headings = _headings(path)
    if heading is not None:
        assert heading in headings, f"{where}: no heading {heading!r} in docs/{page}"
    if anchor is not None:
        assert anchor in {_slug(h) for h in headings}, f"{where}: no #{anchor} in docs/{page}"


def test_the_links_inside_the_docs_point_at_their_own_headings() -> None:
    for path in sorted((ROOT / "docs").glob("*.md")):
        slugs = {_slug(h) for h in _headings(path)}
        for anchor in re.findall(r"\]\(#([\w-]+)\)", path.read_text(encoding="utf-8")):
            assert anchor in slugs, f"{path.name}: no heading for #{anchor}"
