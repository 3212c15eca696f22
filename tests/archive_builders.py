"""Builders for small hand-made X archives, written the way X writes them.

Each helper returns plain dicts in the archive's shape (every number a string, entity
indices into the HTML-escaped text) so a test states exactly the quirk it exercises.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ACCOUNT_ID = "1000"
USERNAME = "fairharvest"
TWEPOCH_MS = 1288834974657


def snowflake(ms: int, sequence: int = 0) -> str:
    """A tweet id whose embedded time is ``ms`` (Unix milliseconds)."""
    return str(((ms - TWEPOCH_MS) << 22) | sequence)


def created_at(ms: int) -> str:
    """X's ``created_at`` for a Unix-ms time: ``Fri Mar 06 13:02:05 +0000 2026``."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")


def tweet(
    tweet_id: str,
    full_text: str,
    *,
    ms: int | None = None,
    urls: list[dict[str, Any]] | None = None,
    mentions: list[dict[str, Any]] | None = None,
    hashtags: list[dict[str, Any]] | None = None,
    media: list[dict[str, Any]] | None = None,
    lang: str = "en",
    **extra: Any,
) -> dict[str, Any]:
    """A tweet object as in tweets.js (unwrapped)."""
    if ms is None:
        ms = (int(tweet_id) >> 22) + TWEPOCH_MS
    body: dict[str, Any] = {
        "edit_info": {"initial": {"editTweetIds": [tweet_id], "editsRemaining": "5"}},
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {
            "hashtags": hashtags or [],
            "symbols": [],
            "user_mentions": mentions or [],
            "urls": urls or [],
        },
        "display_text_range": ["0", str(len(full_text))],
        "favorite_count": "3",
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": "1",
        "id": tweet_id,
        "created_at": created_at(ms),
        "favorited": False,
        "full_text": full_text,
        "lang": lang,
    }
    if media:
        body["entities"]["media"] = [media[0]]
        body["extended_entities"] = {"media": media}
    body.update(extra)
    return body


def span(text: str, part: str, start_at: int = 0) -> list[str]:
    """The archive's ``indices`` of ``part`` inside ``text`` (code points, as strings)."""
    start = text.index(part, start_at)
    return [str(start), str(start + len(part))]


def url_entity(text: str, tco: str, expanded: str) -> dict[str, Any]:
    """A t.co url entity found in ``text``."""
    return {
        "url": tco,
        "expanded_url": expanded,
        "display_url": expanded.split("//", 1)[-1][:20] + "…",
        "indices": span(text, tco),
    }


def mention(text: str, screen_name: str, user_id: str) -> dict[str, Any]:
    """A user mention entity found in ``text``."""
    return {
        "name": screen_name.title(),
        "screen_name": screen_name,
        "indices": span(text, "@" + screen_name),
        "id_str": user_id,
        "id": user_id,
    }


def photo(text: str, tco: str, key: str, tweet_id: str) -> dict[str, Any]:
    """A photo media entity whose link ``tco`` stands in ``text``."""
    return {
        "expanded_url": f"https://x.com/{USERNAME}/status/{tweet_id}/photo/1",
        "indices": span(text, tco),
        "url": tco,
        "media_url_https": f"https://pbs.twimg.com/media/{key}.jpg",
        "id_str": "9" + tweet_id[-6:],
        "sizes": {"large": {"w": "2048", "h": "1365", "resize": "fit"}},
        "type": "photo",
        "display_url": "pic.x.com/" + tco.rsplit("/", 1)[-1],
    }


def video(text: str, tco: str, tweet_id: str, *, gif: bool = False) -> dict[str, Any]:
    """A video (or GIF) media entity with several mp4 variants and an HLS one."""
    base = "https://video.twimg.com/ext_tw_video/1/pu/vid"
    variants: list[dict[str, Any]]
    if gif:
        variants = [
            {"bitrate": "0", "content_type": "video/mp4",
             "url": "https://video.twimg.com/tweet_video/GIFKEY.mp4"},
        ]  # fmt: skip
    else:
        mp4 = "video/mp4"
        variants = [
            {"bitrate": "632000", "content_type": mp4, "url": f"{base}/320x568/low.mp4?tag=12"},
            {"bitrate": "2176000", "content_type": mp4, "url": f"{base}/720x1280/best.mp4?tag=12"},
            {"content_type": "application/x-mpegURL", "url": f"{base}/pl/list.m3u8?tag=12"},
        ]
    return {
        "expanded_url": f"https://x.com/{USERNAME}/status/{tweet_id}/video/1",
        "indices": span(text, tco),
        "url": tco,
        "media_url_https": "https://pbs.twimg.com/ext_tw_video_thumb/1/pu/img/thumb.jpg",
        "id_str": "8" + tweet_id[-6:],
        "sizes": {"large": {"w": "720", "h": "1280", "resize": "fit"}},
        "type": "animated_gif" if gif else "video",
        "video_info": {
            "aspect_ratio": ["9", "16"],
            "duration_millis": "37400" if not gif else None,
            "variants": variants,
        },
        "display_url": "pic.x.com/" + tco.rsplit("/", 1)[-1],
    }


def note(note_id: str, ms: int, text: str, **core: Any) -> dict[str, Any]:
    """A ``noteTweet`` entry created at ``ms``."""
    iso = (
        datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    )
    body = {"text": text, "urls": [], "mentions": [], "hashtags": [], "cashtags": []}
    body.update(core)
    return {
        "noteTweet": {
            "noteTweetId": note_id,
            "createdAt": iso,
            "updatedAt": iso,
            "lifecycle": {"value": "published"},
            "core": body,
        }
    }


def ytd(global_name: str, items: list[Any], *, style: str = "new") -> bytes:
    """A data file: ``window.YTD.<global_name> = <JSON>``, in the 2019 or today's layout."""
    if style == "old":  # "[ {" on the first line, indented
        body = json.dumps(items, indent=2, ensure_ascii=False)
        if body.startswith("[\n  {"):
            body = "[ {" + body[len("[\n  {") :]
    else:
        body = json.dumps(items, ensure_ascii=False) if items else "[ ]"
    return f"window.YTD.{global_name} = {body}".encode()


def account_item(account_id: str = ACCOUNT_ID, username: str = USERNAME) -> dict[str, Any]:
    """The one entry of account.js."""
    return {
        "account": {
            "email": "press@example.org",
            "createdVia": "web",
            "username": username,
            "accountId": account_id,
            "createdAt": "2012-05-01T10:00:00.000Z",
            "accountDisplayName": "Fair Harvest Collective",
        }
    }


def write_archive(
    directory: Path,
    files: dict[str, bytes],
    *,
    manifest: bool = True,
    account_id: str = ACCOUNT_ID,
    username: str = USERNAME,
    extra_manifest: dict[str, str] | None = None,
) -> Path:
    """Write ``files`` (name under ``data/`` -> bytes) as an unzipped archive in ``directory``.

    With ``manifest`` a ``data/manifest.js`` lists every file (plus ``extra_manifest``:
    names listed although absent).
    """
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_bytes(content)
    if manifest:
        listed = {n: n for n in files if n.endswith(".js")}
        listed.update(extra_manifest or {})
        data_types: dict[str, Any] = {}
        for index, name in enumerate(sorted(listed)):
            stem = name[:-3]
            base = stem.split("-part")[0]
            part = stem.split("-part")[1] if "-part" in stem else "0"
            key = base.replace("-", "_") + f"_{index}"
            data_types[key] = {
                "files": [
                    {
                        "fileName": f"data/{name}",
                        "globalName": f"YTD.{base.replace('-', '_')}.part{part}",
                        "count": "1",
                    }
                ]
            }
        config = {
            "userInfo": {"accountId": account_id, "userName": username, "displayName": "FHC"},
            "archiveInfo": {
                "generationDate": "2026-03-06T13:15:31.187Z",
                "isPartialArchive": False,
            },
            "dataTypes": data_types,
        }
        (data / "manifest.js").write_text("window.__THAR_CONFIG = " + json.dumps(config, indent=2))
    return directory


def zip_folder(folder: Path, target: Path, *, wrapper: str = "") -> Path:
    """Zip ``folder``'s contents into ``target``, under the folder name ``wrapper`` if given."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, wrapper + path.relative_to(folder).as_posix())
    return target


BASE_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SECRET = "TOP-SECRET-DIRECT-MESSAGE"


def _at(offset_ms: int, sequence: int = 0) -> str:
    return snowflake(BASE_MS + offset_ms, sequence)


def rich_files() -> tuple[dict[str, bytes], dict[str, str]]:
    """A small archive touching every quirk of the format doc; (files, named tweet ids)."""
    ids: dict[str, str] = {}

    def tid(name: str, offset_ms: int, sequence: int = 0) -> str:
        ids[name] = _at(offset_ms, sequence)
        return ids[name]

    long_text = (
        "This is a long post about fair trade coffee and the farmers who grow it, "
        "with a link https://t.co/note1 and " + "much more text than 280 characters allow. " * 8
    ).strip()
    note_url_at = long_text.index("https://t.co/note1")
    thread_note = "Thread about soil health, part one, which goes on and on " * 6
    part_one: list[dict[str, Any]] = []
    part_two: list[dict[str, Any]] = []

    # Long posts: one clear match; three tweets in one second; one note matching no text.
    part_one.append(tweet(tid("L1", 10_520), long_text[:120] + "…"))
    part_one.append(tweet(tid("L2a", 20_050), "Thread about soil health, part one, which…"))
    part_one.append(tweet(tid("L2b", 20_130), "Thread about soil health, part one, which…"))
    part_one.append(tweet(tid("L2c", 20_600), "Thread about soil health, part one, which…"))
    part_one.append(tweet(tid("X3", 30_230), "Completely different words here…"))
    notes = [
        note("501", BASE_MS + 10_500, long_text,
             urls=[{"shortUrl": "https://t.co/note1", "expandedUrl": "https://coffee.example/fair",
                    "displayUrl": "coffee.example/fair", "fromIndex": note_url_at,
                    "toIndex": note_url_at + len("https://t.co/note1")}]),
        note("502", BASE_MS + 20_100, thread_note.strip()),
        note("503", BASE_MS + 30_200, "A note whose tweet has other words entirely, long text"),
    ]  # fmt: skip

    # Edits: E1 edited into E2; R1 replies to the first version.
    e1, e2 = tid("E1", 40_000), tid("E2", 41_000)
    part_one.append(
        tweet(e1, "Harvest festival on Saturday",
              edit_info={"initial": {"editTweetIds": [e1, e2], "editsRemaining": "4"}})
    )  # fmt: skip
    part_one.append(
        tweet(e2, "Harvest festival on Sunday",
              edit_info={"edit": {"initialTweetId": e1,
                                  "editControlInitial": {"editTweetIds": [e1, e2]}}})
    )  # fmt: skip
    self_reply = {"in_reply_to_user_id_str": ACCOUNT_ID, "in_reply_to_screen_name": USERNAME}
    part_one.append(tweet(tid("R1", 42_000), "@fairharvest See you there!",
                          in_reply_to_status_id_str=e1, **self_reply))  # fmt: skip

    # A thread of three, in the second part.
    t1 = tid("T1", 50_000)
    part_two.append(tweet(t1, "1/ Why we leave X today"))
    part_two.append(tweet(tid("T2", 51_000), "2/ Because of the hate",
                          in_reply_to_status_id_str=t1, **self_reply))  # fmt: skip
    part_two.append(tweet(tid("T3", 52_000), "3/ See you on Bluesky",
                          in_reply_to_status_id_str=ids["T2"], **self_reply))  # fmt: skip

    # Retweet, quote, reply without screen name, @ that is not a reply.
    rt = "RT @bob: Fair trade works, and here is the proof from ten years of data in thirty…"
    part_two.append(tweet(tid("RT1", 60_000), rt, mentions=[mention(rt, "bob", "7")],
                          favorite_count="0", retweet_count="0"))  # fmt: skip
    qt = "Well said https://t.co/qt1"
    part_two.append(
        tweet(
            tid("Q1", 61_000),
            qt,
            urls=[
                url_entity(qt, "https://t.co/qt1", "https://x.com/bob/status/123456789012345678")
            ],
        )
    )
    part_two.append(
        tweet(
            tid("O1", 62_000),
            "@ghost Thank you",
            in_reply_to_status_id_str="999",
            in_reply_to_user_id_str="77",
        )
    )
    at = "@Bob thanks for visiting our farm"
    part_two.append(tweet(tid("AT1", 63_000), at, mentions=[mention(at, "Bob", "7")],
                          in_reply_to_user_id_str="7"))  # fmt: skip

    # Media: a photo present, a video present, a photo missing.
    pt = "Harvest day https://t.co/p1"
    p1 = tid("P1", 70_000)
    part_two.append(tweet(p1, pt, media=[photo(pt, "https://t.co/p1", "KEYP1", p1)]))
    vt = "Watch our film https://t.co/v1"
    v1 = tid("V1", 71_000)
    part_two.append(tweet(v1, vt, media=[video(vt, "https://t.co/v1", v1)]))
    mt = "Lost picture https://t.co/m1"
    m1 = tid("M1", 72_000)
    part_two.append(tweet(m1, mt, media=[photo(mt, "https://t.co/m1", "KEYM1", m1)]))

    # Withheld with a pseudo language; a mention with id -1; escapes and astral emoji.
    part_two.append(tweet(tid("W1", 80_000), "😀😀", lang="qme", withheld_in_countries=["DE"]))
    mn = "thanks @nobody"
    part_two.append(tweet(tid("MN1", 81_000), mn, mentions=[mention(mn, "nobody", "-1")]))
    esc = "🌍 R&amp;D &lt;3 @alice #soil https://t.co/e1"
    soil = "https://soil.example/?a=1&b=2"
    part_two.append(tweet(tid("ESC1", 82_000), esc,
                          mentions=[mention(esc, "alice", "42")],
                          hashtags=[{"text": "soil", "indices": span(esc, "#soil")}],
                          urls=[url_entity(esc, "https://t.co/e1", soil)]))  # fmt: skip

    deleted = tweet(tid("D1", 90_000), "Oops, typo", deleted_at="2026-03-01T10:00:00.000Z")
    community = tweet(tid("C1", 91_000), "Hello community", community_id_str="555",
                      scopes={"followers": False})  # fmt: skip
    follower = [{"follower": {"accountId": str(n),
                              "userLink": f"https://twitter.com/intent/user?user_id={n}"}}
                for n in (201, 202)]  # fmt: skip
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "profile.js": ytd(
            "profile.part0",
            [
                {
                    "profile": {
                        "description": {
                            "bio": "Fair trade, fair food",
                            "website": "https://t.co/w",
                            "location": "Brussels",
                        },
                        "avatarMediaUrl": "https://pbs.twimg.com/profile_images/1/a.jpg",
                    }
                }
            ],
        ),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in part_one]),
        "tweets-part1.js": ytd("tweets.part1", [{"tweet": t} for t in part_two]),
        "note-tweet.js": ytd("note_tweet.part0", notes),
        "deleted-tweets.js": ytd("deleted_tweets.part0", [{"tweet": deleted}]),
        "community-tweet.js": ytd("community_tweet.part0", [{"tweet": community}]),
        "follower.js": ytd("follower.part0", follower),
        "following.js": ytd("following.part0", [{"following": {"accountId": "301"}}]),
        "block.js": b"window.YTD.block.part0 = [ ]",
        "mute.js": b"window.YTD.mute.part0 = []",
        "like.js": ytd(
            "like.part0",
            [
                {
                    "like": {
                        "tweetId": "401",
                        "fullText": "a &amp; b",
                        "expandedUrl": "https://twitter.com/i/web/status/401",
                    }
                },
                {"like": {"tweetId": "402", "expandedUrl": "https://twitter.com/i/web/status/402"}},
            ],
        ),
        "lists-created.js": ytd(
            "lists_created.part0",
            [{"userListInfo": {"url": "https://twitter.com/fairharvest/lists/partners"}}],
        ),
        "screen-name-change.js": ytd(
            "screen_name_change.part0",
            [
                {
                    "screenNameChange": {
                        "accountId": ACCOUNT_ID,
                        "screenNameChange": {
                            "changedAt": "2020-01-01T00:00:00.000Z",
                            "changedFrom": "fairharvest_old",
                            "changedTo": USERNAME,
                        },
                    }
                }
            ],
        ),
        "direct-messages.js": ytd("direct_messages.part0", [{"dmConversation": {"text": SECRET}}]),
        f"tweets_media/{p1}-KEYP1.jpg": b"\xff\xd8jpeg",
        f"tweets_media/{v1}-best.mp4": b"mp4 bytes",
    }
    return files, ids
