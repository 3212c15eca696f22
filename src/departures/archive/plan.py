"""The file plan: which data files of an archive are read, in what order, and how big.

Only the whitelisted public files are ever opened (tweets, long posts, the account and
profile, followers, followings, blocks, mutes, likes, lists, screen-name changes); direct
messages, IP logs, device tokens, e-mail changes... never are. The files are found through
``data/manifest.js`` when there is one (with a warning for each listed file that is missing
and each unlisted one that is read anyway), else by file name; a lone data file is
recognised by its name or its ``window.YTD.<name>`` prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from departures.archive.report import ImportReport
from departures.archive.source import ArchiveSource
from departures.errors import ArchiveError

# The files we read, by file-name stem (``tweets-part1.js`` -> ``tweets``). Everything else
# is never opened: that is how private files stay out of the workspace.
READ_STEMS = {
    "account": "account",
    "profile": "profile",
    "tweets": "tweets",
    "tweet": "tweets",  # before mid-2022
    "deleted-tweets": "deleted_tweets",
    "community-tweet": "community_tweets",
    "note-tweet": "notes",
    "follower": "followers",
    "following": "following",
    "block": "blocks",
    "mute": "mutes",
    "like": "likes",
    "lists-created": "lists",
    "lists-member": "lists",
    "lists-subscribed": "lists",
    "screen-name-change": "screen_name_changes",
}
# The same, keyed by the ``window.YTD.<global>`` name, for a lone file under another name.
GLOBAL_STEMS = {stem.replace("-", "_"): stem for stem in READ_STEMS}

# Files X puts in archives that we deliberately skip (private or useless for publishing).
# Listed so that an archive without a manifest does not warn about each of them.
KNOWN_SKIPPED = frozenset(
    {
        "account-creation-ip",
        "account-label",
        "account-suspension",
        "account-timezone",
        "ad-engagements",
        "ad-impressions",
        "ad-mobile-conversions-attributed",
        "ad-mobile-conversions-unattributed",
        "ad-online-conversions-attributed",
        "ad-online-conversions-unattributed",
        "ads-revenue-sharing",
        "ageinfo",
        "app",
        "article",
        "article-metadata",
        "audio-video-calls-in-dm",
        "audio-video-calls-in-dm-recipient-sessions",
        "branch-links",
        "catalog-item",
        "commerce-catalog",
        "community-note",
        "community-note-api-test-note",
        "community-note-batsignal",
        "community-note-rating",
        "community-note-tombstone",
        "community-tweet-headers",
        "connected-application",
        "contact",
        "deleted-note-tweet",
        "deleted-tweet-headers",
        "device-token",
        "direct-message-group-headers",
        "direct-message-headers",
        "direct-message-mute",
        "direct-messages",
        "direct-messages-group",
        "email-address-change",
        "expanded-profile",
        "grok-chat-item",
        "ip-audit",
        "key-registry",
        "manifest",
        "message-event",
        "mobile",
        "moment",
        "ni-devices",
        "periscope-account-information",
        "periscope-ban-information",
        "periscope-broadcast-metadata",
        "periscope-comments-made-by-user",
        "periscope-expired-broadcasts",
        "periscope-followers",
        "periscope-profile-description",
        "personalization",
        "phone-number",
        "product-drop",
        "product-set",
        "professional-data",
        "protected-history",
        "reply-prompt",
        "saved-search",
        "shop-module",
        "shopify-account",
        "smartblock",
        "spaces-metadata",
        "sso",
        "tweet-headers",
        "tweetdeck",
        "twitter-circle",
        "twitter-circle-member",
        "twitter-circle-tweet",
        "twitter-shop",
        "user-link-clicks",
        "verified",
        "verified-organization",
    }
)

_PART = re.compile(r"-part(\d+)$")
# The reading order: the account first (tweets need its id), long posts after the tweets
# they restore; the rest (followers, likes...) after these.
ORDER = ["account", "profile", "tweets", "deleted_tweets", "community_tweets", "notes"]


@dataclass
class DataFile:
    """One data file to read: its member name, what it holds, its part number, its size."""

    member: str
    kind: str
    part: int
    expected: int | None = None  # the manifest's count of items, when it gives one
    size: int = 0  # bytes (inflated, for a zip member)


def stem_and_part(member: str) -> tuple[str, int]:
    """``tweets-part1.js`` -> ``("tweets", 1)``; ``like.js`` -> ``("like", 0)``."""
    name = PurePosixPath(member).name
    stem = name[:-3] if name.endswith(".js") else name
    match = _PART.search(stem)
    if match:
        return stem[: match.start()], int(match.group(1))
    return stem, 0


def _read_manifest(
    source: ArchiveSource, member: str, report: ImportReport
) -> dict[str, Any] | None:
    data = source.read(member)
    equals = data.find(b"=")
    try:
        value = orjson.loads(data[equals + 1 :] if equals >= 0 else data)
    except orjson.JSONDecodeError:
        report.warn(member, "the manifest is not valid JSON; the data files are found by name")
        return None
    return value if isinstance(value, dict) else None


def plan_files(
    source: ArchiveSource, root: str, report: ImportReport
) -> tuple[list[DataFile], dict[str, Any] | None]:
    """The data files to read, in reading order, and the manifest (if any)."""
    names = source.names()
    if source.kind == "file":
        lone = _lone_file(source, names[0])
        lone.size = source.size(lone.member)
        return [lone], None
    data_prefix = root + "data/"
    manifest_member = data_prefix + "manifest.js"
    manifest = (
        _read_manifest(source, manifest_member, report) if source.exists(manifest_member) else None
    )
    files: list[DataFile] = []
    listed: set[str] = set()
    if manifest is not None:
        data_types = manifest.get("dataTypes")
        for entry in (data_types or {}).values() if isinstance(data_types, dict) else ():
            for info in entry.get("files") or () if isinstance(entry, dict) else ():
                if not isinstance(info, dict) or not isinstance(info.get("fileName"), str):
                    continue
                member = root + info["fileName"]
                listed.add(member)
                stem, part = stem_and_part(member)
                kind = READ_STEMS.get(stem)
                if kind is None:
                    continue
                if not source.exists(member):
                    report.warn(
                        member,
                        "named in the manifest but missing from the archive; its data is "
                        "skipped (re-download the archive if you need it)",
                    )
                    continue
                try:
                    expected = int(info.get("count", ""))
                except (TypeError, ValueError):
                    expected = None
                files.append(DataFile(member, kind, part, expected))
    for member in sorted(names):
        if not member.startswith(data_prefix) or not member.endswith(".js"):
            continue
        if "/" in member[len(data_prefix) :] or member in listed or member == manifest_member:
            continue
        stem, part = stem_and_part(member)
        if stem in READ_STEMS:
            files.append(DataFile(member, READ_STEMS[stem], part))
            if manifest is not None:
                report.warn(member, "not listed in the manifest; read anyway")
        elif manifest is not None or stem not in KNOWN_SKIPPED:
            report.warn(
                member,
                "unknown file, not read (if it holds your tweets, rename it as X names them, "
                "e.g. tweets-part1.js)",
            )
    files.sort(key=lambda f: (ORDER.index(f.kind) if f.kind in ORDER else 99, f.part, f.member))
    for data_file in files:
        data_file.size = source.size(data_file.member)
    return files, manifest


def _lone_file(source: ArchiveSource, name: str) -> DataFile:
    stem, part = stem_and_part(name)
    if stem in READ_STEMS:
        return DataFile(name, READ_STEMS[stem], part)
    head = source.read(name)[:200]
    match = re.match(rb"\s*window\.YTD\.(\w+)\.part(\d+)\s*=", head)
    if match and match.group(1).decode() in GLOBAL_STEMS:
        stem = GLOBAL_STEMS[match.group(1).decode()]
        return DataFile(name, READ_STEMS[stem], int(match.group(2)))
    raise ArchiveError(
        f"{source.display} is not a data file departures reads",
        "Pass the whole archive (zip or folder), or one of tweets.js, following.js, "
        "follower.js, like.js",
    )


def no_data_error(path: Path, source: ArchiveSource) -> ArchiveError:
    """The error for a path that holds no archive data, saying what to pass instead."""
    if any(n.rsplit("/", 1)[-1] in ("manifest.js", "tweets.js", "tweet.js")
           for n in source.names() if "/" not in n):  # fmt: skip
        return ArchiveError(
            f"{path} looks like the data/ folder of an archive",
            "Pass the folder that contains it (the one with 'Your archive.html')",
        )
    return ArchiveError(
        f"{path} holds no X archive data (no data/manifest.js, tweets.js, follower.js...)",
        "Pass the zip X sent you, its unzipped folder, or one data .js file",
    )
