"""The preview: every planned post as it will look, in one static HTML page.

A communications team reviews the migration here before anything is written: threads
grouped, split posts numbered, links, mentions and hashtags as the app shows them, images as
small thumbnails (files next to the page, loaded lazily, so 5,000 posts stay light), link
cards and quotes, and every warning in plain sight — above all images without alt text.

Everything taken from a tweet is HTML-escaped, link targets are limited to http(s), and a
Content-Security-Policy forbids scripts outright: a tweet holding ``<script>`` shows as text.
The page needs no JavaScript (the "only posts with warnings" switch is CSS).
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from departures.archive.media import read_media
from departures.errors import DeparturesError
from departures.migrate.convert import MISSING_ALT
from departures.migrate.plan import (
    PlanSummary,
    format_duration,
    plan_summary,
    published_keys,
    warning_kind,
)
from departures.workspace.db import Workspace

__all__ = [
    "PreviewPost",
    "PreviewResult",
    "load_posts_page",
    "page_starts",
    "plan_warnings",
    "render_pages",
    "render_text",
    "thumbnail",
    "write_preview",
]

THUMB_SIDE = 320
#: Threads per HTML page: a 30,000-tweet archive becomes ~30 light pages, not one 25 MB page.
THREADS_PER_PAGE = 1000
Progress = Callable[[int, int], None]


@dataclass
class PreviewPost:
    """One plan row, decoded."""

    key: str
    tweet_id: int
    part: int
    parts: int
    seq: int
    kind: str
    root_key: str | None
    parent_key: str | None
    quote_key: str | None
    record: dict[str, Any]
    media: list[dict[str, Any]]
    warnings: list[str]
    published: bool = False
    thumbs: list[str | None] = field(default_factory=list)  # relative URL per media item
    page: str = ""  # file name of the preview page that shows it


@dataclass
class PreviewResult:
    """Where the page went and what it shows."""

    path: Path
    posts: int
    threads: int
    summary: PlanSummary
    pages: int = 1


_POST_COLUMNS = (
    "key, tweet_id, part, parts, seq, kind, root_key, parent_key, quote_key, record, media, "
    "warnings"
)


def _post(row: Sequence[Any], published: bool) -> PreviewPost:
    return PreviewPost(
        key=str(row[0]),
        tweet_id=int(row[1]),
        part=int(row[2]),
        parts=int(row[3]),
        seq=int(row[4]),
        kind=str(row[5]),
        root_key=row[6],
        parent_key=row[7],
        quote_key=row[8],
        record=orjson.loads(row[9]),
        media=orjson.loads(row[10]),
        warnings=[str(w) for w in orjson.loads(row[11])],
        published=published,
    )


def load_posts(workspace: Workspace) -> list[PreviewPost]:
    """The plan rows in publish order."""
    published = published_keys(workspace.conn)
    return [
        _post(row, str(row[0]) in published)
        for row in workspace.conn.execute(
            f"SELECT {_POST_COLUMNS} FROM plan_posts ORDER BY seq, key"
        )
    ]


def page_starts(workspace: Workspace, per_page: int) -> list[int]:
    """The ``seq`` of the first post of each page of the plan (publish order, ``per_page``
    posts a page): one pass over the ``seq`` index, kept by the caller while the plan stays
    the same, so that any page is then read by :func:`load_posts_page` from the index."""
    seqs = [
        int(seq) for (seq,) in workspace.conn.execute("SELECT seq FROM plan_posts ORDER BY seq")
    ]
    return seqs[::per_page]


def load_posts_page(
    workspace: Workspace,
    *,
    offset: int = 0,
    limit: int,
    warned: bool = False,
    start_seq: int | None = None,
) -> tuple[list[PreviewPost], int]:
    """One page of the plan rows in publish order, and how many rows there are in all.

    The page starts at ``start_seq`` (from :func:`page_starts`; the count is then not
    computed and comes back as -1) or else at ``offset``. ``warned``: only the rows with
    warnings. Reads only the page's rows (the desk's paged list of a plan of hundreds of
    thousands of posts).
    """
    conn = workspace.conn
    total = -1
    if start_seq is not None:
        rows = conn.execute(
            f"SELECT {_POST_COLUMNS} FROM plan_posts WHERE seq >= ? ORDER BY seq LIMIT ?",
            (start_seq, limit),
        ).fetchall()
    elif warned:
        where = "WHERE warnings != '[]'"
        total = int(conn.execute(f"SELECT COUNT(*) FROM plan_posts {where}").fetchone()[0])
        rows = conn.execute(
            f"SELECT {_POST_COLUMNS} FROM plan_posts {where} ORDER BY seq LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
    else:
        total = int(conn.execute("SELECT COUNT(*) FROM plan_posts").fetchone()[0])
        # ``seq`` is unique and indexed: the page's first ``seq`` is found in the index alone
        # (no row read for the posts before the page), then only the page's rows are read.
        rows = conn.execute(
            f"SELECT {_POST_COLUMNS} FROM plan_posts WHERE seq >= "
            "(SELECT seq FROM plan_posts ORDER BY seq LIMIT 1 OFFSET ?) ORDER BY seq LIMIT ?",
            (offset, limit),
        ).fetchall()
    keys = [str(row[0]) for row in rows]
    published: set[str] = set()
    if (
        keys
        and conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'published'"
        ).fetchone()
    ):
        published = {
            str(k)
            for (k,) in conn.execute(
                "SELECT key FROM published WHERE deleted_at IS NULL AND key IN "
                "(SELECT value FROM json_each(?))",
                (orjson.dumps(keys).decode(),),
            )
        }
    return [_post(row, str(row[0]) in published) for row in rows], total


def plan_warnings(workspace: Workspace) -> dict[str, int]:
    """The plan's warnings by kind (missing media, missing alt text, long videos...), most
    frequent first: the desk's to-do list."""
    counts: Counter[str] = Counter()
    for (warnings,) in workspace.conn.execute(
        "SELECT warnings FROM plan_posts WHERE warnings != '[]'"
    ):
        for warning in orjson.loads(warnings):
            counts[warning_kind(str(warning))] += 1
    return dict(counts.most_common())


def thumbnail(workspace: Workspace, member: str, side: int = THUMB_SIDE) -> bytes | None:
    """A JPEG thumbnail (at most ``side`` pixels) of the archive's media file ``member``, or
    None when it cannot be read."""
    from PIL import Image, ImageOps

    try:
        data = read_media(workspace, member)
        with Image.open(io.BytesIO(data)) as opened:
            # JPEG decodes straight at a fraction of its size: much faster thumbnails.
            opened.draft("RGB", (side * 2, side * 2))
            image = ImageOps.exif_transpose(opened.copy()).convert("RGB")
        image.thumbnail((side, side))
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=70)
    except (DeparturesError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()


def write_preview(
    workspace: Workspace, out: Path | None = None, *, progress: Progress | None = None
) -> PreviewResult:
    """Render the stored plan to ``out`` (default ``<workspace>/preview.html``)."""
    posts = load_posts(workspace)
    if not posts:
        raise DeparturesError("There is no plan to preview", "Run 'departures migrate plan' first")
    out = (out or workspace.path / "preview.html").resolve()
    thumbs_dir = out.parent / (out.stem + "-media")
    try:
        thumbs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DeparturesError(
            f"Cannot write to {thumbs_dir}: {exc}", "Pass another --out FILE"
        ) from exc
    _make_thumbs(workspace, posts, thumbs_dir, out.parent, progress)
    summary = plan_summary(workspace)
    username_row = workspace.conn.execute("SELECT username FROM account LIMIT 1").fetchone()
    username = str(username_row[0]) if username_row and username_row[0] else "i"
    pages = render_pages(posts, summary, username=username, name=out.name)
    # Pages of an earlier, longer preview would be stale: remove them (only our own names).
    stale = re.compile(re.escape(out.stem) + r"-\d+\.html")
    try:
        for old in out.parent.glob(out.stem + "-*.html"):
            if stale.fullmatch(old.name):
                old.unlink()
        for name, page in pages:
            (out.parent / name).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise DeparturesError(f"Cannot write {out}: {exc}", "Pass another --out FILE") from exc
    return PreviewResult(out, len(posts), len(_threads(posts)), summary, len(pages))


def _make_thumbs(
    workspace: Workspace,
    posts: Sequence[PreviewPost],
    thumbs_dir: Path,
    page_dir: Path,
    progress: Progress | None,
) -> None:
    images = [(p, i) for p in posts for i in range(len(p.media))]
    for post in posts:
        post.thumbs = [None] * len(post.media)
    for done, (post, index) in enumerate(images, 1):
        item = post.media[index]
        if item.get("kind") != "image":
            continue
        member = str(item.get("member") or "")
        name = hashlib.sha256(member.encode()).hexdigest()[:24] + ".jpg"
        target = thumbs_dir / name
        if not target.exists():
            picture = thumbnail(workspace, member)
            if picture is None:
                continue  # the page shows "not readable" instead
            target.write_bytes(picture)
        post.thumbs[index] = Path(os.path.relpath(target, page_dir)).as_posix()
        if progress is not None and (done % 50 == 0 or done == len(images)):
            progress(done, len(images))


def _threads(posts: Sequence[PreviewPost]) -> list[list[PreviewPost]]:
    """Posts grouped by the thread they belong to, threads in the order of their first post."""
    groups: dict[str, list[PreviewPost]] = {}
    for post in posts:
        groups.setdefault(post.root_key or post.key, []).append(post)
    return list(groups.values())


# --- HTML ----------------------------------------------------------------------------------

_e = html.escape


def render_pages(
    posts: Sequence[PreviewPost],
    summary: PlanSummary,
    *,
    username: str,
    name: str = "preview.html",
    per_page: int = THREADS_PER_PAGE,
) -> list[tuple[str, str]]:
    """The preview as ``(file name, HTML)`` pages (pure: plan rows and summary in).

    The first page is ``name``, the next ones ``<stem>-2.html``, ...; each shows the counts.
    """
    stem = name[:-5] if name.endswith(".html") else name
    threads = _threads(posts)
    chunks = [threads[i : i + per_page] for i in range(0, len(threads), per_page)] or [[]]
    names = [name] + [f"{stem}-{n}.html" for n in range(2, len(chunks) + 1)]
    for page_name, chunk in zip(names, chunks, strict=True):
        for thread in chunk:
            for post in thread:
                post.page = page_name
    by_key = {p.key: p for p in posts}
    missing_alt = summary.warnings_by_kind.get(MISSING_ALT, 0)
    in_threads = sum(1 for thread in threads if len(thread) > 1)
    head = _summary_html(summary, len(threads) - in_threads, in_threads, missing_alt)
    pages = []
    for number, (page_name, chunk) in enumerate(zip(names, chunks, strict=True), 1):
        nav = _nav(names, number)
        body = "\n".join(_thread_html(t, by_key, username) for t in chunk)
        title = f"Migration preview for @{username}"
        if len(names) > 1:
            title += f" (page {number} of {len(names)})"
        pages.append(
            (
                page_name,
                _PAGE.format(css=_CSS, title=_e(title), summary=head, nav=nav, body=body),
            )
        )
    return pages


def _nav(names: Sequence[str], current: int) -> str:
    if len(names) == 1:
        return ""
    links = [
        f"<b>{n}</b>" if n == current else f"<a href='{_e(name)}'>{n}</a>"
        for n, name in enumerate(names, 1)
    ]
    return f"<nav class='pages'>Pages: {' '.join(links)}</nav>"


def _summary_html(summary: PlanSummary, standalone: int, in_threads: int, missing_alt: int) -> str:
    kinds = ", ".join(f"{n} {_e(kind)}" for kind, n in sorted(summary.tweets_by_kind.items()) if n)
    tweets = sum(summary.tweets_by_kind.values())
    media = summary.images + summary.videos
    seconds = summary.estimated_seconds
    duration = "under a minute" if seconds < 60 else format_duration(seconds)
    items = [
        f"<li><b>{tweets}</b> {_plural(tweets, 'tweet')} ({kinds or 'none'})</li>",
        # Stand-alone posts and threads apart: "28 posts in 20 threads" said that 20 posts
        # were threads when most of them stand alone.
        f"<li><b>{summary.posts}</b> Bluesky {_plural(summary.posts, 'post')}: "
        f"<b>{standalone}</b> stand-alone, <b>{in_threads}</b> "
        f"{_plural(in_threads, 'thread')} ({summary.split_tweets} long "
        f"{_plural(summary.split_tweets, 'tweet')} split; {summary.published} already "
        "published)</li>",
        f"<li><b>{media}</b> media: {summary.images} {_plural(summary.images, 'image')}, "
        f"{summary.videos} {_plural(summary.videos, 'video')} "
        f"({summary.media_bytes / 1e6:.1f} MB in the archive)</li>",
        f"<li>About <b>{duration}</b> of publishing (Bluesky allows about 1,600 posts an "
        "hour and 11,600 a day)</li>",
        f"<li class='{'bad' if summary.warnings else ''}'><b>{summary.warnings}</b> "
        f"{_plural(summary.warnings, 'warning')}"
        + "".join(f"; {n} {_e(kind)}" for kind, n in sorted(summary.warnings_by_kind.items()))
        + "</li>",
    ]
    alt_note = ""
    if missing_alt:
        alt_note = (
            f"<p class='alt-alarm'>{missing_alt} {_plural(missing_alt, 'image or video')} "
            f"{'has' if missing_alt == 1 else 'have'} no alt text. "
            "People who use screen readers cannot see them. Write it with "
            "<code>departures migrate alt-text export</code>, edit the CSV, then "
            "<code>departures migrate alt-text import</code>.</p>"
        )
    return f"<ul class='counts'>{''.join(items)}</ul>{alt_note}"


def _plural(n: int, word: str) -> str:
    if n == 1:
        return word
    return "images or videos" if word == "image or video" else word + "s"


def _thread_html(thread: list[PreviewPost], by_key: dict[str, PreviewPost], username: str) -> str:
    warned = any(p.warnings for p in thread)
    classes = "thread has-warning" if warned else "thread"
    posts = "\n".join(_post_html(p, i, by_key, username) for i, p in enumerate(thread))
    label = f"thread of {len(thread)} posts" if len(thread) > 1 else "post"
    return f"<section class='{classes}' aria-label='{label}'>{posts}</section>"


def _post_html(post: PreviewPost, index: int, by_key: dict[str, PreviewPost], username: str) -> str:
    created = str(post.record.get("createdAt", ""))
    when = _when(created)
    tweet_url = f"https://x.com/{username}/status/{post.tweet_id}"
    badges = [f"<span class='badge kind-{_e(post.kind)}'>{_e(post.kind)}</span>"]
    if post.parts > 1:
        badges.append(f"<span class='badge'>part {post.part + 1}/{post.parts}</span>")
    if post.published:
        badges.append("<span class='badge ok'>published</span>")
    langs = post.record.get("langs") or []
    if langs:
        badges.append(f"<span class='badge'>{_e(', '.join(map(str, langs)))}</span>")
    text = render_text(str(post.record.get("text", "")), post.record.get("facets") or [])
    media = _media_html(post)
    embed = _embed_html(post, by_key)
    warnings = "".join(
        f"<li class='{'alt' if w.startswith(MISSING_ALT) else ''}'>{_e(w)}</li>"
        for w in post.warnings
    )
    reply = " reply" if index > 0 else ""
    return (
        f"<article class='post{reply}' id='p{_e(post.key)}'>"
        f"<header><span class='who'>@{_e(username)}</span> "
        f"<time datetime='{_e(created)}'>{_e(when)}</time> {''.join(badges)} "
        f"<a class='src' href='{_e(tweet_url)}' rel='noopener noreferrer'>on X</a></header>"
        f"<div class='text'>{text}</div>{media}{embed}"
        + (f"<ul class='warnings'>{warnings}</ul>" if warnings else "")
        + "</article>"
    )


def _when(created: str) -> str:
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    return moment.strftime("%d %b %Y %H:%M UTC")


def render_text(text: str, facets: Sequence[dict[str, Any]]) -> str:
    """Post text as HTML: facets as links or tags, everything escaped, line breaks kept."""
    data = text.encode("utf-8")
    out: list[str] = []
    cursor = 0
    spans = sorted(
        (
            (int(f["index"]["byteStart"]), int(f["index"]["byteEnd"]), f["features"][0])
            for f in facets
            if isinstance(f, dict) and f.get("features")
        ),
        key=lambda s: s[0],
    )
    for start, end, feature in spans:
        if start < cursor or end > len(data):
            continue
        out.append(_e(data[cursor:start].decode("utf-8", "replace")))
        label = _e(data[start:end].decode("utf-8", "replace"))
        kind = str(feature.get("$type", ""))
        if kind.endswith("#link") and _safe_url(str(feature.get("uri", ""))):
            href = _e(str(feature["uri"]))
            out.append(f"<a href='{href}' title='{href}' rel='noopener noreferrer'>{label}</a>")
        elif kind.endswith("#mention"):
            did = _e(str(feature.get("did", "")))
            out.append(f"<a class='mention' href='https://bsky.app/profile/{did}'>{label}</a>")
        elif kind.endswith("#tag"):
            out.append(f"<span class='tag'>{label}</span>")
        else:
            out.append(label)
        cursor = end
    out.append(_e(data[cursor:].decode("utf-8", "replace")))
    return "".join(out)


def _safe_url(url: str) -> bool:
    return url.lower().startswith(("https://", "http://"))


def _media_html(post: PreviewPost) -> str:
    if not post.media:
        return ""
    figures = []
    for index, item in enumerate(post.media):
        alt = str(item.get("alt") or "")
        name = _e(str(item.get("member", "")).rsplit("/", 1)[-1])
        thumb = post.thumbs[index] if index < len(post.thumbs) else None
        if item.get("kind") == "video":
            picture = f"<div class='video'>▶ video<br><small>{name}</small></div>"
        elif thumb:
            picture = (
                f"<img src='{_e(thumb)}' alt='{_e(alt)}' loading='lazy' decoding='async' "
                f"width='160' height='160'>"
            )
        else:
            picture = f"<div class='video'>image not readable<br><small>{name}</small></div>"
        caption = (
            f"<figcaption>ALT: {_e(alt)}</figcaption>"
            if alt
            else "<figcaption class='no-alt'>NO ALT TEXT</figcaption>"
        )
        figures.append(f"<figure>{picture}{caption}</figure>")
    return f"<div class='media n{len(figures)}'>{''.join(figures)}</div>"


def _embed_html(post: PreviewPost, by_key: dict[str, PreviewPost]) -> str:
    parts = []
    if post.quote_key:
        quoted = by_key.get(post.quote_key)
        if quoted is not None:
            text = render_text(
                str(quoted.record.get("text", "")), quoted.record.get("facets") or []
            )
            when = _when(str(quoted.record.get("createdAt", "")))
            parts.append(
                f"<blockquote class='quote'><a href='{_e(quoted.page)}#p{_e(quoted.key)}'>"
                f"Quoted post</a> "
                f"<small>{_e(when)}</small><div>{text}</div></blockquote>"
            )
        else:
            parts.append(
                "<blockquote class='quote'>Quotes an already published post "
                f"({_e(post.quote_key)})</blockquote>"
            )
    embed = post.record.get("embed") or {}
    if embed.get("$type") == "app.bsky.embed.external":
        card = embed.get("external") or {}
        uri = str(card.get("uri", ""))
        href = _e(uri) if _safe_url(uri) else "#"
        parts.append(
            f"<a class='card' href='{href}' rel='noopener noreferrer'>"
            f"<b>{_e(str(card.get('title', '')))}</b>"
            f"<span>{_e(str(card.get('description', '')))}</span>"
            f"<small>{_e(uri)}</small></a>"
        )
    return "".join(parts)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<input type="checkbox" id="only-warnings">
<header class="top">
<h1>{title}</h1>
{summary}
<p class="note">Bluesky shows <b>"Archived from &lt;date&gt;"</b> on imported posts: they keep
their original date, and nobody's timeline is flooded with them.</p>
<label for="only-warnings" class="switch">Show only posts with warnings</label>
{nav}
</header>
<main>
{body}
</main>
<footer class="bottom">{nav}</footer>
</body>
</html>
"""

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f1f3f5;color:#0b0f14}
.top{background:#fff;border-bottom:1px solid #d8dde3;padding:16px 24px}
h1{font-size:20px;margin:0 0 8px}
.counts{margin:0;padding-left:18px}
.bad{color:#b3261e}
.alt-alarm{background:#fdecea;border:2px solid #b3261e;color:#7a1a14;padding:8px 12px;
border-radius:8px;font-weight:600}
.note{color:#42576c;font-size:13px}
#only-warnings{position:absolute;left:-999px}
.switch{display:inline-block;cursor:pointer;border:1px solid #1083fe;color:#1083fe;
border-radius:16px;padding:4px 12px;font-size:13px}
#only-warnings:checked ~ .top .switch{background:#1083fe;color:#fff}
#only-warnings:checked ~ main .thread:not(.has-warning){display:none}
main{max-width:640px;margin:16px auto;padding:0 12px}
.thread{background:#fff;border:1px solid #d8dde3;border-radius:10px;margin:0 0 14px;
content-visibility:auto;contain-intrinsic-size:auto 220px}
.thread.has-warning{border-left:4px solid #e8a317}
.post{padding:12px 16px}
.post.reply{border-top:1px solid #eef0f2;margin-left:22px;border-left:2px solid #d8dde3}
.post header{font-size:13px;color:#42576c;margin-bottom:4px}
.who{font-weight:600;color:#0b0f14}
.badge{display:inline-block;background:#eef3f8;border-radius:4px;padding:0 6px;
margin-left:4px;font-size:12px}
.badge.ok{background:#d8f5dd;color:#0f5c1e}
.src{float:right;color:#6b7b8c;font-size:12px}
.text{white-space:pre-wrap;overflow-wrap:anywhere}
.text a,.card{color:#1083fe;text-decoration:none}
.tag{color:#1083fe}
.media{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
figure{margin:0;width:160px}
figure img{width:160px;height:160px;object-fit:contain;border-radius:8px;display:block;
background:#dde3e9}
.video{width:160px;height:160px;border-radius:8px;background:#1b2733;color:#fff;
display:flex;flex-direction:column;align-items:center;justify-content:center;text-align:center;
font-size:13px;overflow:hidden}
figcaption{font-size:11px;color:#42576c;max-height:3.2em;overflow:hidden}
figcaption.no-alt{background:#b3261e;color:#fff;font-weight:700;text-align:center;
border-radius:4px;margin-top:3px;padding:1px 0}
.card{display:block;border:1px solid #d8dde3;border-radius:8px;padding:8px 12px;margin-top:8px}
.card b{display:block;color:#0b0f14}
.card span{display:block;color:#42576c;font-size:13px;white-space:pre-wrap}
.card small{color:#6b7b8c}
.quote{border:1px solid #d8dde3;border-radius:8px;padding:8px 12px;margin:8px 0 0}
.quote div{white-space:pre-wrap;overflow-wrap:anywhere}
.warnings{margin:8px 0 0;padding:6px 10px 6px 26px;background:#fff7e0;border-radius:6px;
font-size:13px;color:#6a4b00}
.warnings li.alt{color:#b3261e;font-weight:700}
.pages{margin-top:10px;font-size:14px}
.pages a{color:#1083fe;margin:0 2px}
.bottom{max-width:640px;margin:0 auto 24px;padding:0 12px}
"""
