"""Alt text the user writes, since the X archive has none: a CSV out, the same CSV back in.

The CSV is UTF-8 with a byte-order mark, so Excel and LibreOffice open it with accents and
emoji intact, separated the way the user's Excel expects (``;`` where the decimal mark is a
comma, as in Belgium, the Netherlands, France and Germany; ``,`` elsewhere); import reads
all three separators, with Excel's quoting (a quote inside a cell doubled). Columns:
``tweet_id``, ``media_file``, ``alt`` (the only column read back besides the two keys), and
for context ``type``, ``date``, ``url`` and ``text``. A row is matched by its media file
name, whose first part is the tweet id: a spreadsheet that turned the long ``tweet_id``
into ``1.72455E+18`` loses nothing.

Import is all or nothing: a file that is not such a CSV changes nothing and says why in one
line; rows that name no known media, or alt text over the limit, are reported line by line
and skipped. An emptied ``alt`` cell removes the stored alt text. Planned posts not yet
published pick the new alt texts up at once, warnings included.
"""

from __future__ import annotations

import csv
import io
import locale
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

from departures.errors import DeparturesError
from departures.i18n import _
from departures.migrate.convert import MISSING_ALT
from departures.migrate.media import IMAGE_ALT_MAX_GRAPHEMES, VIDEO_ALT_MAX_GRAPHEMES
from departures.migrate.plan import published_keys
from departures.migrate.richtext import grapheme_count
from departures.workspace.db import Workspace

__all__ = [
    "AltTextError",
    "ImportResult",
    "MediaItem",
    "MediaPage",
    "default_separator",
    "export_alt_texts",
    "import_alt_texts",
    "media_member",
    "media_to_describe",
    "separator_for_locale",
    "set_alt_text",
]

COLUMNS = ["tweet_id", "media_file", "alt", "type", "date", "url", "text"]
_SNIPPET = 120
_KEYS = ("tweet_id", "media_file", "alt")
SEPARATORS = (",", ";", "\t")

# Excel splits a "CSV" on the list separator of the system's regional settings, which is ";"
# wherever the decimal mark is a comma. Languages and countries where that is so:
_SEMICOLON_LANGUAGES = frozenset(
    ("nl", "fr", "de", "es", "it", "pt", "da", "sv", "fi", "nb", "nn", "no", "is", "pl", "cs",
     "sk", "sl", "hu", "ro", "bg", "hr", "sr", "ru", "uk", "el", "tr", "et", "lv", "lt", "ca",
     "eu", "gl", "lb")
)  # fmt: skip
_SEMICOLON_COUNTRIES = frozenset(("BE", "NL", "FR", "DE", "AT", "LU", "CH"))


def separator_for_locale(name: str | None) -> str:
    """The separator Excel expects under the locale ``name`` (``nl_BE.UTF-8``, ``fr-BE``...).

    ``;`` for a language or country whose decimal mark is a comma, ``,`` otherwise (and for
    ``C``, ``POSIX`` or an unknown name).
    """
    if not name:
        return ","
    tag = name.split(".", 1)[0].split("@", 1)[0].replace("-", "_")
    language, _, country = tag.partition("_")
    if language.lower() in _SEMICOLON_LANGUAGES or country.upper() in _SEMICOLON_COUNTRIES:
        return ";"
    return ","


def default_separator(environ: Mapping[str, str] | None = None) -> str:
    """The separator for this user: from ``LC_ALL``, ``LC_NUMERIC`` or ``LANG`` (in POSIX
    order), else the process locale (Windows has no such variables)."""
    env = os.environ if environ is None else environ
    for variable in ("LC_ALL", "LC_NUMERIC", "LANG"):
        if env.get(variable):
            return separator_for_locale(env[variable])
    if environ is not None:
        return ","
    try:
        return separator_for_locale(locale.getlocale(locale.LC_NUMERIC)[0])
    except (ValueError, TypeError):
        return ","


class AltTextError(DeparturesError):
    """An alt-text CSV cannot be read."""


@dataclass
class ImportResult:
    """What an import changed and which rows it skipped (with the reason)."""

    updated: int = 0
    cleared: int = 0
    unchanged: int = 0
    plan_rows_updated: int = 0
    warnings: list[str] = field(default_factory=list)


def export_alt_texts(
    workspace: Workspace,
    target: Path,
    *,
    everything: bool = False,
    separator: str = ",",
) -> int:
    """Write the alt-text CSV to ``target``; return the number of media rows written.

    The media of planned posts by default (all media of the archive's own tweets when there
    is no plan yet, or with ``everything``), with any alt text already stored. ``separator``
    is one of ``,``, ``;`` or a tab (see :func:`default_separator`).
    """
    if separator not in SEPARATORS:
        raise AltTextError(f"Cannot separate columns by {separator!r}", "Use ',', ';' or a tab")
    conn = workspace.conn
    username_row = conn.execute("SELECT username FROM account LIMIT 1").fetchone()
    username = str(username_row[0]) if username_row and username_row[0] else "i"
    where = _scope(workspace, everything)
    rows = conn.execute(
        "SELECT m.tweet_id, m.file_path, COALESCE(a.alt, ''), m.type, t.created_at, t.text "
        "FROM media m JOIN tweets t ON t.id = m.tweet_id "
        "LEFT JOIN alt_texts a ON a.tweet_id = m.tweet_id AND a.position = m.position "
        f"WHERE m.missing = 0 AND m.file_path IS NOT NULL AND {where} "
        "ORDER BY t.created_at, m.tweet_id, m.position"
    ).fetchall()
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator)
    writer.writerow(COLUMNS)
    for tweet_id, file_path, alt, kind, created_at, text in rows:
        snippet = " ".join(str(text).split())
        if len(snippet) > _SNIPPET:
            snippet = snippet[: _SNIPPET - 1] + "…"
        writer.writerow(
            [
                str(tweet_id),
                str(file_path).rsplit("/", 1)[-1],
                alt,
                "image" if kind == "photo" else "video",
                (created_at or "")[:10],
                f"https://x.com/{username}/status/{tweet_id}",
                snippet,
            ]
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buffer.getvalue(), encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise AltTextError(
            f"Cannot write {target}: {exc.strerror or exc}", "Choose another path"
        ) from exc
    return len(rows)


def _scope(workspace: Workspace, everything: bool) -> str:
    """The media to describe, as a condition on the tweets ``t``: those of planned posts
    (all of the archive's own when there is no plan yet, or with ``everything``)."""
    planned = workspace.conn.execute("SELECT COUNT(*) FROM plan_posts").fetchone()[0]
    if planned and not everything:
        # Retweets in the plan are link cards: their pictures are not uploaded.
        return "t.kind != 'retweet' AND t.id IN (SELECT tweet_id FROM plan_posts WHERE part = 0)"
    return "t.kind != 'retweet' AND t.is_deleted = 0 AND t.is_community = 0"


@dataclass(frozen=True)
class MediaItem:
    """One image or video to describe, with its alt text so far and its tweet for context."""

    tweet_id: int
    position: int
    member: str
    kind: str  # "image" or "video"
    alt: str
    created_at: str
    text: str

    @property
    def limit(self) -> int:
        """The most graphemes Bluesky takes as its alt text."""
        return IMAGE_ALT_MAX_GRAPHEMES if self.kind == "image" else VIDEO_ALT_MAX_GRAPHEMES


@dataclass(frozen=True)
class MediaPage:
    """A page of media to describe and the counts of the whole list."""

    items: list[MediaItem]
    total: int
    described: int


def media_to_describe(
    workspace: Workspace, *, offset: int = 0, limit: int = 20, missing_only: bool = False
) -> MediaPage:
    """The media the alt-text CSV lists (same order), a page at a time, with how many of all
    of them have alt text: the desk's "38 of 112 images described"."""
    conn = workspace.conn
    base = (
        "FROM media m JOIN tweets t ON t.id = m.tweet_id "
        "LEFT JOIN alt_texts a ON a.tweet_id = m.tweet_id AND a.position = m.position "
        f"WHERE m.missing = 0 AND m.file_path IS NOT NULL AND {_scope(workspace, False)}"
    )
    total, described = conn.execute(f"SELECT COUNT(*), COUNT(a.alt) {base}").fetchone()
    only = " AND a.alt IS NULL" if missing_only else ""
    rows = conn.execute(
        "SELECT m.tweet_id, m.position, m.file_path, m.type, COALESCE(a.alt, ''), "
        f"t.created_at, t.text {base}{only} ORDER BY t.created_at, m.tweet_id, m.position "
        "LIMIT ? OFFSET ?",
        (limit, offset),
    ).fetchall()
    items = [
        MediaItem(
            tweet_id=int(r[0]),
            position=int(r[1]),
            member=str(r[2]),
            kind="image" if r[3] == "photo" else "video",
            alt=str(r[4]),
            created_at=str(r[5] or ""),
            text=str(r[6]),
        )
        for r in rows
    ]
    return MediaPage(items, int(total), int(described or 0))


def media_member(workspace: Workspace, tweet_id: int, position: int) -> str | None:
    """The archive member of a tweet's media item, or None."""
    row = workspace.conn.execute(
        "SELECT file_path FROM media WHERE tweet_id = ? AND position = ? AND missing = 0",
        (tweet_id, position),
    ).fetchone()
    return str(row[0]) if row and row[0] else None


def set_alt_text(workspace: Workspace, tweet_id: int, position: int, alt: str) -> bool:
    """Store (or, empty, remove) the alt text of one media item, as a CSV import would, and
    put it into the unpublished plan rows of that tweet. Returns whether anything changed.

    :class:`AltTextError` for an unknown media item or a text over Bluesky's limit.
    """
    conn = workspace.conn
    row = conn.execute(
        "SELECT type FROM media WHERE tweet_id = ? AND position = ? AND file_path IS NOT NULL",
        (tweet_id, position),
    ).fetchone()
    if row is None:
        raise AltTextError(
            _("Tweet %(tweet)s has no media item %(n)s in this archive")
            % {"tweet": tweet_id, "n": position + 1},
            _("Reload the page: the archive may have been imported again"),
        )
    alt = alt.replace("\r\n", "\n").strip()
    limit = IMAGE_ALT_MAX_GRAPHEMES if row[0] == "photo" else VIDEO_ALT_MAX_GRAPHEMES
    if grapheme_count(alt) > limit:
        raise AltTextError(
            _("This alt text is %(length)s characters long, over Bluesky's limit of %(limit)s")
            % {"length": grapheme_count(alt), "limit": limit},
            _("Shorten it: say what matters in the picture for someone who cannot see it"),
        )
    before = conn.execute(
        "SELECT alt FROM alt_texts WHERE tweet_id = ? AND position = ?", (tweet_id, position)
    ).fetchone()
    if (before[0] if before else "") == alt:
        return False
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with workspace.transaction():
        if alt:
            conn.execute(
                "INSERT INTO alt_texts (tweet_id, position, alt, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(tweet_id, position) DO UPDATE SET "
                "alt = excluded.alt, updated_at = excluded.updated_at",
                (tweet_id, position, alt, now),
            )
        else:
            conn.execute(
                "DELETE FROM alt_texts WHERE tweet_id = ? AND position = ?", (tweet_id, position)
            )
        refresh_plan_alt_texts(workspace, tweet_id=tweet_id)
    return True


def import_alt_texts(workspace: Workspace, source: Path) -> ImportResult:
    """Read alt texts from the CSV at ``source`` into the workspace (see the module doc)."""
    rows = _read_csv(source)
    conn = workspace.conn
    media = {
        (int(t), str(f).rsplit("/", 1)[-1]): (int(p), str(kind))
        for t, f, p, kind in conn.execute(
            "SELECT tweet_id, file_path, position, type FROM media WHERE file_path IS NOT NULL"
        )
    }
    stored = {
        (int(t), int(p)): str(a)
        for t, p, a in conn.execute("SELECT tweet_id, position, alt FROM alt_texts")
    }
    result = ImportResult()
    changes: dict[tuple[int, int], str] = {}
    for line, row in rows:
        raw_id = (row.get("tweet_id") or "").strip()
        name = (row.get("media_file") or "").strip().rsplit("/", 1)[-1]
        # A cell edited on Windows may hold CRLF line breaks: alt text keeps plain newlines.
        alt = (row.get("alt") or "").replace("\r\n", "\n").strip()
        candidates = []
        if raw_id.isdigit():
            candidates.append(int(raw_id))
        # Spreadsheets turn long ids into 1.72455E+18; the file name starts with the id.
        prefix = name.split("-", 1)[0]
        if prefix.isdigit():
            candidates.append(int(prefix))
        found = next(
            ((tweet_id, media[(tweet_id, name)]) for tweet_id in candidates
             if (tweet_id, name) in media),
            None,
        )  # fmt: skip
        if found is None:
            result.warnings.append(
                f"line {line}: no media {name!r} in tweet {raw_id or '?'} in this archive; skipped"
            )
            continue
        tweet_id, (position, kind) = found
        limit = IMAGE_ALT_MAX_GRAPHEMES if kind == "photo" else VIDEO_ALT_MAX_GRAPHEMES
        if grapheme_count(alt) > limit:
            result.warnings.append(
                f"line {line}: alt text of {name} is {grapheme_count(alt)} characters, over the "
                f"limit of {limit}; skipped (shorten it and import again)"
            )
            continue
        changes[(tweet_id, position)] = alt
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with workspace.transaction():
        for (tweet_id, position), alt in changes.items():
            before = stored.get((tweet_id, position))
            if alt == (before or ""):
                result.unchanged += 1
            elif not alt:
                conn.execute(
                    "DELETE FROM alt_texts WHERE tweet_id = ? AND position = ?",
                    (tweet_id, position),
                )
                result.cleared += 1
            else:
                conn.execute(
                    "INSERT INTO alt_texts (tweet_id, position, alt, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT(tweet_id, position) DO UPDATE SET "
                    "alt = excluded.alt, updated_at = excluded.updated_at",
                    (tweet_id, position, alt, now),
                )
                result.updated += 1
        result.plan_rows_updated = refresh_plan_alt_texts(workspace)
    return result


def refresh_plan_alt_texts(workspace: Workspace, *, tweet_id: int | None = None) -> int:
    """Put the stored alt texts into unpublished plan rows (of ``tweet_id`` only, if given);
    return the rows changed.

    Runs inside the caller's transaction.
    """
    conn = workspace.conn
    published = published_keys(conn)
    only = "" if tweet_id is None else f" AND tweet_id = {int(tweet_id)}"
    alts = {
        f"{t}:{p}": str(a)
        for t, p, a in conn.execute(f"SELECT tweet_id, position, alt FROM alt_texts WHERE 1{only}")
    }
    changed = 0
    for key, media_json, warnings_json in conn.execute(
        f"SELECT key, media, warnings FROM plan_posts WHERE media != '[]'{only}"
    ).fetchall():
        if key in published:
            continue
        media = orjson.loads(media_json)
        warnings = [w for w in orjson.loads(warnings_json) if not str(w).startswith(MISSING_ALT)]
        for item in media:
            item["alt"] = alts.get(str(item.get("media_key")), "")
            if not item["alt"]:
                position = int(str(item["media_key"]).split(":")[1]) + 1
                name = str(item.get("member", "")).rsplit("/", 1)[-1]
                warnings.append(f"{MISSING_ALT}: {item.get('kind', 'image')} {position} ({name})")
        new_media, new_warnings = orjson.dumps(media).decode(), orjson.dumps(warnings).decode()
        if new_media != media_json or new_warnings != warnings_json:
            conn.execute(
                "UPDATE plan_posts SET media = ?, warnings = ? WHERE key = ?",
                (new_media, new_warnings, key),
            )
            changed += 1
    return changed


def _read_csv(source: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of every data row; :class:`AltTextError` for a file that is not ours."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise AltTextError(
            f"Cannot read {source}: {exc.strerror or exc}",
            "Pass the CSV written by 'departures migrate alt-text export'",
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            # Excel on Windows saves "CSV" in the ANSI code page unless told otherwise.
            text = raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise AltTextError(
                f"{source} is not a text file in UTF-8",
                "Save it as 'CSV UTF-8' and import again",
            ) from exc
    # Only the separator varies (Excel's list separator); quoting is always Excel's: a quote
    # inside a quoted cell is doubled. (csv.Sniffer, asked for a dialect, also guesses the
    # quoting from the header line, which has no quotes, and then cuts alt text at a quote.)
    reader = csv.DictReader(
        io.StringIO(text, newline=""), dialect=csv.excel, delimiter=_separator_of(text)
    )
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    missing = [c for c in _KEYS if c not in fields]
    if missing:
        raise AltTextError(
            f"{source} has no column {', '.join(missing)} in its first line",
            "Start from the file 'departures migrate alt-text export' writes",
        )
    reader.fieldnames = fields
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            rows.append((reader.line_num, {k: v for k, v in row.items() if isinstance(k, str)}))
    except csv.Error as exc:
        raise AltTextError(
            f"{source} is not a valid CSV file (line {reader.line_num}: {exc})",
            "Fix that line or export again",
        ) from exc
    return rows


def _separator_of(text: str) -> str:
    """The separator that splits the header line into our key columns (``,`` when none does)."""
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    best, best_found = ",", 0
    for separator in SEPARATORS:
        cells = {c.strip().lower() for c in next(csv.reader([header], delimiter=separator), [])}
        found = sum(key in cells for key in _KEYS)
        if found > best_found:
            best, best_found = separator, found
    return best
