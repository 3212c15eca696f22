"""Sample X archives written exactly the way X writes them (for the demo, tests, benchmarks).

The benchmarks need archives of any size (300,000 and 1,000,000 tweets), the tests need small
archives that exercise every quirk of the format, and ``make demo`` needs the believable
archive of a fictional organisation. None of that may come from a real person's archive, so
this module fabricates them:

* ``profile="bulk"``: random multilingual posts in bulk, with every quirk that
  ``docs/x-archive-format.md`` lists (escapes with indices on the escaped text, astral emoji,
  t.co links, mentions with id ``-1``, up to four photos, videos with an HLS variant, GIFs,
  retweets cut with ``…``, quotes, self-reply threads, replies, long posts in
  ``note-tweet.js``, edits, withheld tweets, pseudo language codes, missing media files).
* ``profile="demo"``: the campaign account of the fictional NGO "Fair Harvest Collective",
  in English with some Dutch and French, with generated banner images.

Files are written part by part (``tweets.js``, ``tweets-part1.js``, ...) so the generator's
memory does not grow with the archive. Output is deterministic for a given seed.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import orjson

__all__ = ["PROFILES", "SyntheticArchive", "generate", "generate_archive"]

PROFILES: tuple[str, ...] = ("bulk", "demo")

# Twitter's snowflake epoch (ms) and the moment the synthetic timeline ends.
_TWEPOCH_MS = 1288834974657
_END_MS = 1772294400000  # 2026-02-28T16:00:00Z
_GENERATED_AT_MS = _END_MS + 6 * 86_400_000 + 4_567_891
_YEAR_MS = 365 * 86_400_000
# The zip's entries carry this fixed time so a zip is byte-identical for a seed.
_ZIP_TIME = (2026, 3, 6, 13, 15, 30)

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_MEDIA_KEY_CHARS = _ALNUM + "-_"
# The moment x.com replaced twitter.com in links X generates (approximately).
_X_COM_FROM_MS = 1715000000000
_HTTPS_TCO_FROM_MS = 1388534400000  # 2014: older tweets carry http://t.co links

_SOURCES = (
    '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
    '<a href="http://twitter.com/download/iphone" rel="nofollow">Twitter for iPhone</a>',
    '<a href="http://twitter.com/download/android" rel="nofollow">Twitter for Android</a>',
    '<a href="https://about.twitter.com/products/tweetdeck" rel="nofollow">TweetDeck</a>',
    '<a href="https://www.hootsuite.com" rel="nofollow">Hootsuite Inc.</a>',
    '<a href="https://buffer.com" rel="nofollow">Buffer</a>',
)

# A fake, unplayable but recognisable MP4: an ftyp box and an empty mdat box.
_MP4_BLOB = (
    b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    + b"\x00\x00\x00\x08free"
    + b"\x00\x00\x04\x08mdat"
    + bytes(range(256)) * 4
)


@dataclass
class SyntheticArchive:
    """What :func:`generate` wrote: the path and the counts a faithful importer must find."""

    path: Path
    tweet_entries: int = 0
    originals: int = 0
    self_replies: int = 0
    replies_to_others: int = 0
    mentions_not_replies: int = 0
    retweets: int = 0
    quotes: int = 0
    long_posts: int = 0
    edited_tweets: int = 0
    edit_versions_dropped: int = 0
    media_items: int = 0
    media_files_written: int = 0
    media_files_missing: int = 0
    followers: int = 0
    following: int = 0
    likes: int = 0
    blocks: int = 0
    mutes: int = 0
    deleted_tweets: int = 0
    community_tweets: int = 0
    tweet_parts: int = 0
    files: dict[str, int] = field(default_factory=dict)

    @property
    def tweets_after_edit_collapse(self) -> int:
        """Distinct tweets once every edit chain is collapsed to its last version."""
        return self.tweet_entries - self.edit_versions_dropped


# ---------------------------------------------------------------------------------------------
# Small pure helpers


def _escape(text: str) -> str:
    """X's escaping of ``full_text``: exactly ``& < >``, quotes stay raw."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def snowflake(ms: int, sequence: int) -> int:
    """A snowflake id for the millisecond ``ms``; ``sequence`` keeps ids unique within it."""
    return ((ms - _TWEPOCH_MS) << 22) | ((sequence >> 12) & 0x3FF) << 12 | (sequence & 0xFFF)


def snowflake_ms(snowflake_id: int) -> int:
    """The creation time (ms since the Unix epoch) encoded in a snowflake id."""
    return (snowflake_id >> 22) + _TWEPOCH_MS


def _created_at(ms: int) -> str:
    """``Fri Mar 06 13:02:05 +0000 2026``, independent of the locale."""
    t = time.gmtime(ms // 1000)
    return (
        f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000 {t.tm_year}"
    )


def _iso(ms: int) -> str:
    """``2024-01-30T08:14:27.312Z``."""
    t = time.gmtime(ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )


def _display_url(url: str) -> str:
    """X's display form of a link: no scheme, no ``www.``, cut at 26 characters with ``…``."""
    shown = url.split("://", 1)[-1]
    shown = shown.removeprefix("www.")
    return shown if len(shown) <= 26 else shown[:25] + "…"


def _x_style(buf: bytes) -> bytes:
    """Turn orjson's indented output into X's: ``"key" : value`` and ``[ ]`` for empty arrays.

    Inside a JSON string a ``"`` is always escaped, so ``": `` only follows a key there; the
    second replace restores the one string case (an escaped quote followed by ``: ``).
    """
    return (
        buf.replace(b'": ', b'" : ')
        .replace(b'\\" : ', b'\\": ')
        .replace(b'" : []', b'" : [ ]')
        .replace(b'" : {}', b'" : { }')
    )


def _dump_item(item: dict[str, Any]) -> bytes:
    """One array element indented as X indents it (two spaces deeper than the array)."""
    return orjson.dumps([item], option=orjson.OPT_INDENT_2)[2:-2]


def ytd_prefix(global_name: str) -> bytes:
    """``window.YTD.tweets.part0 = `` for ``YTD.tweets.part0``."""
    return b"window." + global_name.encode() + b" = "


# ---------------------------------------------------------------------------------------------
# Text with entities: indices into the escaped text (tweets) and the raw text (notes)


@dataclass
class _Account:
    user_id: str
    screen_name: str
    name: str


class _Text:
    """A post built piece by piece, tracking entity offsets in code points.

    Tweets need indices into the HTML-escaped text; long posts (notes) need them into the raw
    text. Both are tracked as the pieces are appended; ``ops`` lets a long post be replayed
    into its truncated tweet.
    """

    def __init__(self) -> None:
        self.esc: list[str] = []
        self.raw: list[str] = []
        self.epos = 0
        self.rpos = 0
        self.hashtags: list[dict[str, Any]] = []
        self.mentions: list[dict[str, Any]] = []
        self.urls: list[dict[str, Any]] = []
        self.note_hashtags: list[dict[str, Any]] = []
        self.note_mentions: list[dict[str, Any]] = []
        self.note_urls: list[dict[str, Any]] = []
        self.ops: list[tuple[str, tuple[Any, ...]]] = []

    def _put(self, raw: str) -> tuple[int, int, int, int]:
        esc = _escape(raw)
        es, rs = self.epos, self.rpos
        self.esc.append(esc)
        self.raw.append(raw)
        self.epos += len(esc)
        self.rpos += len(raw)
        return es, self.epos, rs, self.rpos

    def add(self, text: str) -> _Text:
        self.ops.append(("add", (text,)))
        self._put(text)
        return self

    def hashtag(self, tag: str) -> _Text:
        self.ops.append(("hashtag", (tag,)))
        es, ee, rs, re_ = self._put("#" + tag)
        self.hashtags.append({"text": tag, "indices": [str(es), str(ee)]})
        self.note_hashtags.append({"text": tag, "fromIndex": str(rs), "toIndex": str(re_)})
        return self

    def mention(self, who: _Account, unknown_id: bool = False) -> _Text:
        self.ops.append(("mention", (who, unknown_id)))
        es, ee, rs, re_ = self._put("@" + who.screen_name)
        uid = "-1" if unknown_id else who.user_id
        self.mentions.append(
            {
                "name": who.name,
                "screen_name": who.screen_name,
                "indices": [str(es), str(ee)],
                "id_str": uid,
                "id": uid,
            }
        )
        self.note_mentions.append(
            {"screenName": who.screen_name, "fromIndex": str(rs), "toIndex": str(re_)}
        )
        return self

    def url(self, tco: str, expanded: str) -> _Text:
        self.ops.append(("url", (tco, expanded)))
        es, ee, rs, re_ = self._put(tco)
        display = _display_url(expanded)
        self.urls.append(
            {
                "url": tco,
                "expanded_url": expanded,
                "display_url": display,
                "indices": [str(es), str(ee)],
            }
        )
        self.note_urls.append(
            {
                "shortUrl": tco,
                "expandedUrl": expanded,
                "displayUrl": display,
                "fromIndex": str(rs),
                "toIndex": str(re_),
            }
        )
        return self

    def media_link(self, tco: str) -> tuple[int, int]:
        """Append the media t.co link (no url entity; the media entity points at it)."""
        es, ee, _, _ = self._put(tco)
        return es, ee

    @property
    def full_text(self) -> str:
        return "".join(self.esc)

    @property
    def raw_text(self) -> str:
        return "".join(self.raw)

    def truncated(self, limit: int) -> _Text:
        """The first ``limit`` raw characters (cut at a word), ending in ``…``: a note's tweet."""
        out = _Text()
        for op, args in self.ops:
            if op == "mention":
                piece = "@" + args[0].screen_name
            elif op == "hashtag":
                piece = "#" + args[0]
            else:
                piece = args[0]
            if out.rpos + len(piece) > limit:
                if op == "add":
                    room = piece[: max(0, limit - out.rpos)]
                    cut = room.rsplit(" ", 1)[0] if " " in room else ""
                    out.add(cut.rstrip())
                break
            getattr(out, op)(*args)
        out.add("…")
        return out


# ---------------------------------------------------------------------------------------------
# Content: what the posts say


def _split(words: str) -> list[str]:
    return words.split()


_BULK_WORDS = {
    "en": _split(
        "the we our people food seed farmers market today join read new report climate "
        "justice water soil community together support campaign local fair trade year "
        "workers rights land future policy open letter thanks event morning city river"
    ),
    "de": _split(
        "die wir unsere Menschen heute neue Bericht Klima Gerechtigkeit Wasser Boden "
        "gemeinsam Unterstützung Kampagne lokal fairer Handel Jahr Rechte Land Zukunft"
    ),
    "fr": _split(
        "les nous notre gens aujourd'hui nouveau rapport climat justice eau sol ensemble "
        "soutien campagne local commerce équitable année droits terre avenir politique"
    ),
    "nl": _split(
        "de wij onze mensen vandaag nieuw rapport klimaat rechtvaardigheid water bodem "
        "samen steun campagne lokaal eerlijke handel jaar rechten land toekomst beleid"
    ),
    "es": _split(
        "los nosotros nuestra gente hoy nuevo informe clima justicia agua suelo juntos "
        "apoyo campaña local comercio justo año derechos tierra futuro política"
    ),
}
_BULK_LANGS = ("en",) * 6 + ("de",) * 2 + ("fr", "nl", "es")
_EMOJI = ("🌍", "🌱", "🚜", "✊🏽", "🇧🇪", "💚", "📣", "👉", "🎉", "🙏", "☀️", "🌾", "👩🏾‍🌾", "😊")
_SPICE = (" & ", " <3 ", " -> ", " 2 > 1 ", " <b>not html</b> ", ' "quoted" ', " R&D ")
_BULK_TAGS = (
    "FoodJustice",
    "ClimateAction",
    "FairTrade",
    "Solidarity",
    "SeedSovereignty",
    "Klimaatrechtvaardigheid",
    "JusticeClimatique",
    "Agroecology",
    "COP30",
    "WorldFoodDay",
)
_BULK_DOMAINS = (
    "https://www.example.org/reports/",
    "https://example.net/news/",
    "https://blog.example.com/posts/",
    "https://www.example.org/campaign/",
)


class _Content:
    """Random material for posts; the bulk profile. The demo profile overrides it."""

    username = "synthetic_org"
    display_name = "Synthetic Org"
    bio = "A synthetic account for benchmarks & tests. Not a real organisation."
    location = "Brussels, Belgium"
    website = "https://www.example.org"
    account_created_ms = 1241136000000 + 12_345_678  # 2009-05-01, before snowflake ids
    account_id = "35420001"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.others = [self._other(i) for i in range(400)]

    def _other(self, i: int) -> _Account:
        rng = self.rng
        uid = str(rng.randrange(10**6, 10**10)) if i % 3 else str(rng.randrange(10**18, 2**61))
        first = rng.choice(("Ana", "Bram", "Chloé", "Dirk", "Eva", "Farid", "Greta", "Hugo"))
        last = rng.choice(("Peeters", "Janssens", "Dubois", "Maes", "Martin", "Claes"))
        return _Account(uid, f"{first.replace('é', 'e')}{last}{i}", f"{first} {last}")

    def lang(self) -> str:
        return self.rng.choice(_BULK_LANGS)

    def words(self, lang: str, n: int) -> str:
        rng = self.rng
        pool = _BULK_WORDS[lang]
        out = " ".join(rng.choices(pool, k=n))
        return out[0].upper() + out[1:]

    def fill(self, text: _Text, lang: str, words: int) -> None:
        """A sentence, sometimes with an escaped character or an emoji mid-text."""
        rng = self.rng
        text.add(self.words(lang, words))
        roll = rng.random()
        if roll < 0.15:
            text.add(rng.choice(_SPICE)).add(self.words(lang, rng.randint(2, 6)))
        elif roll < 0.35:
            text.add(" " + rng.choice(_EMOJI) + " ").add(self.words(lang, rng.randint(2, 5)))
        text.add(rng.choice((".", "!", "", " " + rng.choice(_EMOJI))))

    def post(self, text: _Text, lang: str) -> None:
        """An ordinary post body: sentences, hashtags, sometimes a link."""
        rng = self.rng
        self.fill(text, lang, rng.randint(4, 18))
        if rng.random() < 0.3:
            text.add(" ")
            self.fill(text, lang, rng.randint(3, 10))
        if rng.random() < 0.25:
            text.add(" ").mention(self.other(), unknown_id=rng.random() < 0.04)
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            text.add(" ").hashtag(self.tag())
        if rng.random() < 0.3:
            text.add(" ").url(self.tco(), self.link())

    def long_post(self, text: _Text, lang: str) -> None:
        """A post over 280 characters (a note): several paragraphs with entities."""
        rng = self.rng
        for i in range(rng.randint(3, 7)):
            if i:
                text.add("\n\n")
            self.fill(text, lang, rng.randint(12, 30))
            if rng.random() < 0.3:
                text.add(" ").hashtag(self.tag())
            if rng.random() < 0.2:
                text.add(" ").mention(self.other())
            if rng.random() < 0.25:
                text.add(" ").url(self.tco(), self.link())

    def reply_body(self, text: _Text, lang: str) -> None:
        self.fill(text, lang, self.rng.randint(3, 14))

    def other(self) -> _Account:
        return self.rng.choice(self.others)

    def tag(self) -> str:
        return self.rng.choice(_BULK_TAGS)

    def link(self) -> str:
        rng = self.rng
        slug = "-".join(rng.choice(_BULK_WORDS["en"]) for _ in range(rng.randint(1, 5)))
        url = rng.choice(_BULK_DOMAINS) + slug
        return url + (f"?utm_source=x&id={rng.randint(1, 999)}" if rng.random() < 0.1 else "")

    def tco(self, ms: int | None = None) -> str:
        code = "".join(self.rng.choices(_ALNUM, k=10))
        scheme = "http" if ms is not None and ms < _HTTPS_TCO_FROM_MS else "https"
        return f"{scheme}://t.co/{code}"

    def photo(self, index: int) -> tuple[bytes, str]:
        """Encoded image bytes and extension; the bulk profile reuses a few small images."""
        images = _bulk_images()
        return images[index % len(images)]

    def quote_text(self, text: _Text, lang: str) -> None:
        self.fill(text, lang, self.rng.randint(2, 12))


@lru_cache(maxsize=1)
def _bulk_images() -> tuple[tuple[bytes, str], ...]:
    """A handful of tiny real JPEG and PNG images, encoded once and reused."""
    from PIL import Image, ImageDraw

    out: list[tuple[bytes, str]] = []
    colours = ((46, 125, 50), (21, 101, 192), (239, 108, 0), (106, 27, 154), (0, 121, 107))
    for i, colour in enumerate(colours):
        img = Image.new("RGB", (96, 64), colour)
        draw = ImageDraw.Draw(img)
        draw.ellipse((8 + 10 * i, 8, 48 + 10 * i, 56), fill=(255, 255, 255))
        buf = io.BytesIO()
        if i % 3 == 2:
            img.save(buf, "PNG", optimize=True)
            out.append((buf.getvalue(), "png"))
        else:
            img.save(buf, "JPEG", quality=70)
            out.append((buf.getvalue(), "jpg"))
    return tuple(out)


# --- the demo organisation -----------------------------------------------------------------

_DEMO_PARTNERS = (
    _Account("1310000000000000001", "SeedCommonsNet", "Seed Commons Network"),
    _Account("1310000000000000002", "RiverDeltaCoop", "River Delta Cooperative"),
    _Account("1310000000000000003", "GreenLedgerNGO", "Green Ledger"),
    _Account("1310000000000000004", "SolidariteitNu", "Solidariteit Nu"),
    _Account("1310000000000000005", "TerreCommune_fr", "Terre Commune"),
    _Account("1310000000000000006", "YouthForSoil", "Youth for Soil"),
    _Account("1310000000000000007", "CoffeeGrowersUn", "Coffee Growers United"),
    _Account("1310000000000000008", "FairWagesWatch", "Fair Wages Watch"),
)
_DEMO_TAGS = {
    "en": ("FairHarvest", "FoodSovereignty", "ClimateJustice", "FairTrade", "LivingIncome"),
    "nl": ("EerlijkeOogst", "EerlijkeHandel", "Klimaatrechtvaardigheid", "FairHarvest"),
    "fr": ("RécolteÉquitable", "CommerceÉquitable", "JusticeClimatique", "FairHarvest"),
}
_DEMO_POSTS = {
    "en": (
        "Our new report on living incomes for cocoa farmers is out today",
        "Thank you to everyone who joined the Harvest Walk in Ghent this weekend",
        "Seed banks keep local varieties alive. Meet the women who run them",
        "Fair prices are not charity, they are justice",
        "Tomorrow we hand our petition to the trade committee: 48,000 signatures",
        "Coffee prices are at a record high, yet growers earn less than ever",
        "Volunteers wanted for our autumn market stalls in Antwerp & Leuven",
        "Five things your supermarket could do this year for fair supply chains",
        "We are hiring a campaigns officer (part-time, Brussels or remote)",
        "Drought in the Sahel: our partners share what works on the ground",
        "Our annual report is online: where every euro went",
        "Join our webinar on due diligence laws next Thursday at 14:00 CET",
    ),
    "nl": (
        "Ons nieuwe rapport over leefbaar inkomen voor cacaoboeren is uit",
        "Bedankt aan iedereen die meeliep met de Oogstwandeling in Gent",
        "Eerlijke prijzen zijn geen liefdadigheid maar rechtvaardigheid",
        "Vrijwilligers gezocht voor onze herfstmarkten in Antwerpen & Leuven",
    ),
    "fr": (
        "Notre nouveau rapport sur le revenu vital des producteurs de cacao est en ligne",
        "Merci à toutes celles et ceux qui ont marché avec nous à Namur",
        "Des prix justes, ce n'est pas de la charité, c'est de la justice",
        "Rejoignez notre webinaire sur le devoir de vigilance jeudi prochain",
    ),
}
_DEMO_LINKS = (
    "https://fairharvest.example.org/reports/living-income-2025",
    "https://fairharvest.example.org/petition",
    "https://fairharvest.example.org/events/harvest-walk",
    "https://fairharvest.example.org/jobs/campaigns-officer",
    "https://fairharvest.example.org/annual-report",
    "https://fairharvest.example.org/blog/seed-banks",
    "https://fairharvest.example.org/webinars/due-diligence",
    "https://news.example.org/2025/10/fair-prices-debate",
)
_DEMO_LONG = {
    "en": (
        "Why we are leaving X, and where to find us next.",
        "For fifteen years this account has been where we shared the stories of farmers, "
        "cooperatives and campaigners who feed us all. Those stories deserve a place where "
        "facts matter and hate is not amplified.",
        "Together with more than thirty partner organisations we are moving to Bluesky on the "
        "same day. Our whole archive comes with us: the reports, the photos, the threads.",
        "If you follow us here, follow us there. Nothing else changes: same people, same "
        "campaigns, same stubborn belief that a fair harvest is possible.",
    ),
    "nl": (
        "Waarom wij X verlaten, en waar je ons voortaan vindt.",
        "Vijftien jaar lang deelden we hier de verhalen van boeren, coöperaties en "
        "campagnevoerders. Die verhalen verdienen een plek waar feiten tellen.",
        "Samen met meer dan dertig partnerorganisaties verhuizen we op dezelfde dag naar "
        "Bluesky, met ons hele archief.",
    ),
    "fr": (
        "Pourquoi nous quittons X, et où nous retrouver.",
        "Depuis quinze ans, ce compte raconte les histoires des paysannes, des coopératives et "
        "des militants qui nous nourrissent. Elles méritent un lieu où les faits comptent.",
        "Avec plus de trente organisations partenaires, nous rejoignons Bluesky le même jour.",
    ),
}
_DEMO_THREAD = (
    "A thread on what a living income means for a cocoa farmer 🧵",
    "1/ A living income covers food, housing, school fees, health care and a small buffer "
    "for bad years.",
    "2/ Most cocoa farmers in our partner cooperatives earn less than half of it.",
    "3/ The gap is not a mystery: it is the price. Fair prices close it.",
    "4/ What you can do: ask your supermarket where its chocolate comes from.",
)
_DEMO_REPLIES = (
    "Thank you! We will share the recording next week.",
    "Great question. The full method is in the annex of the report.",
    "Absolutely, count us in 💚",
    "We will be there with a stall, come and say hello!",
    "Merci beaucoup, on transmet à l'équipe.",
    "Dank je! Tot zaterdag.",
)
_BANNER_COLOURS = (
    ((27, 94, 32), (165, 214, 167)),
    ((13, 71, 161), (144, 202, 249)),
    ((230, 81, 0), (255, 204, 128)),
    ((74, 20, 140), (206, 147, 216)),
    ((0, 77, 64), (128, 203, 196)),
    ((183, 28, 28), (239, 154, 154)),
)


class _DemoContent(_Content):
    """Campaign posts of the fictional NGO "Fair Harvest Collective"."""

    username = "FairHarvestCo"
    display_name = "Fair Harvest Collective"
    bio = (
        "Fair prices, living incomes & seed sovereignty for small farmers. "
        "A fictional NGO for the departures demo."
    )
    location = "Brussels · Gent · Namur"
    website = "https://fairharvest.example.org"
    account_created_ms = 1594598400000 + 42_000  # 2020-07-13
    account_id = str(snowflake(account_created_ms, 7))

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.others = list(_DEMO_PARTNERS)
        self._banner_titles: list[str] = []

    def lang(self) -> str:
        return self.rng.choice(("en",) * 7 + ("nl", "nl", "fr"))

    def fill(self, text: _Text, lang: str, words: int) -> None:
        text.add(self.rng.choice(_DEMO_POSTS[lang]))

    def post(self, text: _Text, lang: str) -> None:
        rng = self.rng
        headline = rng.choice(_DEMO_POSTS[lang])
        self._banner_titles.append(headline)
        text.add(headline + rng.choice((".", "!", " 🌱", " 📣", ":")))
        if rng.random() < 0.35:
            text.add(" With ").mention(self.other()).add(".")
        if rng.random() < 0.6:
            text.add(" ").url(self.tco(), rng.choice(_DEMO_LINKS))
        for tag in rng.sample(_DEMO_TAGS[lang], rng.choice((0, 1, 1, 2))):
            text.add(" ").hashtag(tag)

    def long_post(self, text: _Text, lang: str) -> None:
        for i, para in enumerate(_DEMO_LONG[lang]):
            if i:
                text.add("\n\n")
            text.add(para)
        text.add("\n\nPartners: ").mention(self.others[0]).add(", ").mention(self.others[3])
        text.add("\n").url(self.tco(), "https://fairharvest.example.org/moving-to-bluesky")
        text.add(" ").hashtag(_DEMO_TAGS[lang][0])

    def reply_body(self, text: _Text, lang: str) -> None:
        text.add(self.rng.choice(_DEMO_REPLIES))

    def quote_text(self, text: _Text, lang: str) -> None:
        text.add(self.rng.choice(("Worth reading 👇", "This. 👇", "Important work by partners:")))

    def tag(self) -> str:
        return self.rng.choice(_DEMO_TAGS["en"])

    def link(self) -> str:
        return self.rng.choice(_DEMO_LINKS)

    def photo(self, index: int) -> tuple[bytes, str]:
        title = self._banner_titles[-1] if self._banner_titles else "Fair Harvest Collective"
        return _banner(title, index % len(_BANNER_COLOURS)), "jpg"


@lru_cache(maxsize=64)
def _banner(title: str, palette: int) -> bytes:
    """A 800x450 campaign banner: a two-colour gradient, the title and the NGO's name."""
    from PIL import Image, ImageDraw, ImageFont

    dark, light = _BANNER_COLOURS[palette]
    width, height = 800, 450
    gradient = Image.linear_gradient("L").rotate(90).resize((width, height))
    img = Image.composite(
        Image.new("RGB", (width, height), light), Image.new("RGB", (width, height), dark), gradient
    )
    draw = ImageDraw.Draw(img)
    # A rising sun over three furrows: the collective's (fictional) logo.
    draw.ellipse((600, 150, 760, 310), fill=(255, 224, 130))
    for k in range(3):
        draw.arc(
            (520 - 60 * k, 250 + 25 * k, 860 + 60 * k, 520 + 25 * k), 200, 340, fill=light, width=10
        )
    draw.rectangle((0, height - 70, width, height), fill=(255, 255, 255))
    big = ImageFont.load_default(size=44)
    small = ImageFont.load_default(size=26)
    lines: list[str] = []
    for word in title.split():
        if lines and len(lines[-1]) + len(word) < 30:
            lines[-1] += " " + word
        else:
            lines.append(word)
    for i, line in enumerate(lines[:5]):
        draw.text((40, 50 + 56 * i), line, font=big, fill=(255, 255, 255))
    draw.text(
        (40, height - 52),
        "Fair Harvest Collective · fairharvest.example.org",
        font=small,
        fill=dark,
    )
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=82)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Tweets


@dataclass
class _Item:
    """One tweet entry with the media files it brings and, for a long post, its note."""

    tweet: dict[str, Any]
    files: list[tuple[str, bytes]]
    note: dict[str, Any] | None = None


class _Tweets:
    """Builds the episodes of the timeline (a post, a thread, an edit chain...), newest first."""

    def __init__(
        self,
        rng: random.Random,
        content: _Content,
        me: _Account,
        total: int,
        media: bool,
        stats: SyntheticArchive,
    ) -> None:
        self.rng = rng
        self.c = content
        self.me = me
        self.total = total
        self.media = media
        self.stats = stats
        self.seq = 0
        span = min(total * 2 * 3_600_000, 12 * _YEAR_MS)
        if isinstance(content, _DemoContent):
            span = 2 * _YEAR_MS
        self.gap_ms = max(span // max(total, 1), 60_000)
        self.cursor_ms = _END_MS

    # --- ids and times -------------------------------------------------------------------
    def _id(self, ms: int) -> int:
        self.seq += 1
        return snowflake(ms, self.seq)

    def _host(self, ms: int) -> str:
        return "x.com" if ms >= _X_COM_FROM_MS else "twitter.com"

    # --- one tweet -------------------------------------------------------------------------
    def _tweet(
        self,
        tid: int,
        ms: int,
        text: _Text,
        lang: str,
        *,
        reply_to: tuple[int, _Account] | None = None,
        reply_screen_name: bool = True,
        media: list[dict[str, Any]] | None = None,
        edit_info: dict[str, Any] | None = None,
        counts: bool = True,
    ) -> dict[str, Any]:
        rng = self.rng
        sid = str(tid)
        full = text.full_text
        entities: dict[str, Any] = {
            "hashtags": text.hashtags,
            "symbols": [],
            "user_mentions": text.mentions,
            "urls": text.urls,
        }
        if media:
            first = dict(media[0])
            first.pop("video_info", None)
            first.pop("additional_media_info", None)
            first["type"] = "photo"  # X types the entities.media copy as photo, always
            entities["media"] = [first]
        if edit_info is None:
            edit_info = {
                "initial": {
                    "editTweetIds": [sid],
                    "editableUntil": _iso(ms + 3_600_000),
                    "editsRemaining": "5",
                    "isEditEligible": rng.random() < 0.3,
                }
            }
        t: dict[str, Any] = {
            "edit_info": edit_info,
            "retweeted": False,
            "source": rng.choice(_SOURCES) if rng.random() < 0.3 else _SOURCES[0],
            "entities": entities,
            "display_text_range": ["0", str(len(full))],
            "favorite_count": str(int(rng.expovariate(0.2))) if counts else "0",
        }
        # reply_to is (status id, user); a status id of 0 marks a mention, not a reply: X
        # then gives the user id without a status id.
        replied_status = str(reply_to[0]) if reply_to is not None and reply_to[0] else None
        if replied_status:
            t["in_reply_to_status_id_str"] = replied_status
        t["id_str"] = sid
        if reply_to is not None:
            t["in_reply_to_user_id"] = reply_to[1].user_id
        t["truncated"] = False
        t["retweet_count"] = str(int(rng.expovariate(0.5))) if counts else "0"
        t["id"] = sid
        if replied_status:
            t["in_reply_to_status_id"] = replied_status
        if text.urls or media:
            t["possibly_sensitive"] = rng.random() < 0.01
        t["created_at"] = _created_at(ms)
        t["favorited"] = False
        t["full_text"] = full
        t["lang"] = lang
        if reply_to is not None:
            if reply_screen_name:
                t["in_reply_to_screen_name"] = reply_to[1].screen_name
            t["in_reply_to_user_id_str"] = reply_to[1].user_id
        if media:
            t["extended_entities"] = {"media": media}
        if rng.random() < 0.002:
            t["withheld_in_countries"] = rng.choice((["DE"], ["IN"], ["TR", "RU"]))
        return t

    # --- media -----------------------------------------------------------------------------
    def _media_key(self) -> str:
        return "".join(self.rng.choices(_MEDIA_KEY_CHARS, k=15))

    def _attach_media(
        self,
        text: _Text,
        tid: int,
        ms: int,
        owner: _Account,
        source: tuple[int, _Account] | None = None,
        kind: str | None = None,
    ) -> tuple[list[dict[str, Any]], list[tuple[str, bytes]]]:
        """Media entities for tweet ``tid`` and the files X would put in ``tweets_media/``."""
        rng = self.rng
        if kind is None:
            roll = rng.random()
            kind = "photo" if roll < 0.75 else "video" if roll < 0.9 else "animated_gif"
        count = rng.choice((1, 1, 1, 2, 3, 4)) if kind == "photo" else 1
        tco = self.c.tco(ms)
        text.add(" " if text.rpos else "")
        start, end = text.media_link(tco)
        status_id = source[0] if source else tid
        status_user = source[1] if source else owner
        pic_host = "pic.x.com" if ms >= _X_COM_FROM_MS else "pic.twitter.com"
        host = self._host(ms)
        items: list[dict[str, Any]] = []
        files: list[tuple[str, bytes]] = []
        for n in range(count):
            mid = str(self._id(ms - rng.randint(2_000, 60_000)))
            key = self._media_key()
            if kind == "photo":
                data, ext = self.c.photo(self.stats.media_items)
                media_url = f"pbs.twimg.com/media/{key}.{ext}"
                basename = f"{key}.{ext}"
                sizes = _sizes(1200, 675)
            elif kind == "video":
                media_url = f"pbs.twimg.com/ext_tw_video_thumb/{mid}/pu/img/{key}.jpg"
                sizes = _sizes(1280, 720)
                data = _MP4_BLOB
            else:
                media_url = f"pbs.twimg.com/tweet_video_thumb/{key}.jpg"
                sizes = _sizes(498, 280)
                data = _MP4_BLOB
            item: dict[str, Any] = {
                "expanded_url": (
                    f"https://{host}/{status_user.screen_name}/status/{status_id}/"
                    f"{'photo' if kind == 'photo' else 'video'}/{n + 1}"
                ),
                "indices": [str(start), str(end)],
                "url": tco,
                "media_url": "http://" + media_url,
                "id_str": mid,
                "id": mid,
                "media_url_https": "https://" + media_url,
                "sizes": sizes,
                "type": kind,
                "display_url": f"{pic_host}/{tco.rsplit('/', 1)[1]}",
            }
            if source:
                item["source_status_id"] = str(source[0])
                item["source_status_id_str"] = str(source[0])
                item["source_user_id"] = source[1].user_id
                item["source_user_id_str"] = source[1].user_id
            if kind == "video":
                vkey = self._media_key()
                variants = [
                    {
                        "bitrate": str(bitrate),
                        "content_type": "video/mp4",
                        "url": f"https://video.twimg.com/ext_tw_video/{mid}/pu/vid/avc1/{dims}/"
                        f"{vkey}{i}.mp4?tag=12",
                    }
                    for i, (bitrate, dims) in enumerate(
                        ((832000, "640x360"), (2176000, "1280x720"), (256000, "480x270"))
                    )
                ]
                variants.append(
                    {
                        "content_type": "application/x-mpegURL",
                        "url": f"https://video.twimg.com/ext_tw_video/{mid}/pu/pl/{vkey}.m3u8"
                        "?tag=12&v=5c7",
                    }
                )
                rng.shuffle(variants)
                item["additional_media_info"] = {"monetizable": False}
                item["video_info"] = {
                    "aspect_ratio": ["16", "9"],
                    "duration_millis": str(rng.randint(3_000, 140_000)),
                    "variants": variants,
                }
                basename = f"{vkey}1.mp4"  # the highest bitrate, query string dropped
            elif kind == "animated_gif":
                item["video_info"] = {
                    "aspect_ratio": ["249", "140"],
                    "variants": [
                        {
                            "bitrate": "0",
                            "content_type": "video/mp4",
                            "url": f"https://video.twimg.com/tweet_video/{key}.mp4",
                        }
                    ],
                }
                basename = f"{key}.mp4"
            items.append(item)
            self.stats.media_items += 1
            missing = rng.random() < (0.3 if source else 0.02)
            if missing or not self.media:
                self.stats.media_files_missing += 1
            else:
                files.append((f"{tid}-{basename}", data))
        return items, files

    # --- episodes --------------------------------------------------------------------------
    def items(self) -> Iterator[_Item]:
        """Every tweet entry, newest episode first, ``total`` in all."""
        left = self.total
        kinds = (
            (self._original, 40),
            (self._original_media, 8),
            (self._thread, 7),
            (self._reply_other, 18),
            (self._mention, 2),
            (self._retweet, 12),
            (self._quote, 4),
            (self._self_quote, 1),
            (self._long_post, 2),
            (self._long_thread, 1),
            (self._edit, 1),
            (self._pseudo_lang, 2),
        )
        makers = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        while left > 0:
            maker = self.rng.choices(makers, weights)[0]
            self.cursor_ms -= int(self.gap_ms * self.rng.uniform(0.2, 1.8))
            episode = maker(self.cursor_ms, left)
            if len(episode) > left:
                episode = self._original(self.cursor_ms, left)
            left -= len(episode)
            # Episodes are built oldest first; X lists the newest first.
            yield from reversed(episode)

    def _original(self, ms: int, left: int) -> list[_Item]:
        lang = self.c.lang()
        text = _Text()
        self.c.post(text, lang)
        self.stats.originals += 1
        return [_Item(self._tweet(self._id(ms), ms, text, lang), [])]

    def _original_media(self, ms: int, left: int) -> list[_Item]:
        lang = self.c.lang()
        text = _Text()
        self.c.post(text, lang)
        tid = self._id(ms)
        media, files = self._attach_media(text, tid, ms, self.me)
        self.stats.originals += 1
        return [_Item(self._tweet(tid, ms, text, lang, media=media), files)]

    def _thread(self, ms: int, left: int) -> list[_Item]:
        size = min(self.rng.randint(2, 6), left)
        out: list[_Item] = []
        parent = 0
        lang = self.c.lang()
        for i in range(size):
            text = _Text()
            if isinstance(self.c, _DemoContent) and size <= len(_DEMO_THREAD):
                text.add(_DEMO_THREAD[i])
            else:
                if i:
                    text.add(f"{i + 1}/ ")
                self.c.post(text, lang)
            tid = self._id(ms)
            files: list[tuple[str, bytes]] = []
            media = None
            if self.rng.random() < 0.15:
                media, files = self._attach_media(text, tid, ms, self.me)
            reply = (parent, self.me) if parent else None
            out.append(_Item(self._tweet(tid, ms, text, lang, reply_to=reply, media=media), files))
            if parent:
                self.stats.self_replies += 1
            else:
                self.stats.originals += 1
            parent = tid
            ms += self.rng.randint(20_000, 300_000)
        return out

    def _reply_other(self, ms: int, left: int) -> list[_Item]:
        lang = self.c.lang()
        who = self.c.other()
        text = _Text().mention(who).add(" ")
        if self.rng.random() < 0.15:
            text.mention(self.c.other()).add(" ")
        self.c.reply_body(text, lang)
        their_status = snowflake(
            ms - self.rng.randint(60_000, 86_400_000), self.rng.randrange(4096)
        )
        tweet = self._tweet(
            self._id(ms),
            ms,
            text,
            lang,
            reply_to=(their_status, who),
            reply_screen_name=self.rng.random() > 0.05,
        )
        self.stats.replies_to_others += 1
        return [_Item(tweet, [])]

    def _mention(self, ms: int, left: int) -> list[_Item]:
        """A tweet starting with ``@name`` that has a user id but no status id: not a reply."""
        lang = self.c.lang()
        who = self.c.other()
        text = _Text().mention(who).add(" ")
        self.c.reply_body(text, lang)
        tweet = self._tweet(self._id(ms), ms, text, lang, reply_to=(0, who))
        self.stats.mentions_not_replies += 1
        return [_Item(tweet, [])]

    def _retweet(self, ms: int, left: int) -> list[_Item]:
        rng = self.rng
        lang = self.c.lang()
        author = self.c.other()
        original = _Text()
        self.c.post(original, lang)
        if rng.random() < 0.5:
            original.add(" ")
            self.c.fill(original, lang, rng.randint(8, 20))
        text = _Text().add("RT ").mention(author).add(": ")
        for op, args in original.ops:
            getattr(text, op)(*args)
        tid = self._id(ms)
        media: list[dict[str, Any]] | None = None
        files: list[tuple[str, bytes]] = []
        src_status = snowflake(ms - rng.randint(60_000, 3 * 86_400_000), rng.randrange(4096))
        if text.rpos > 140:
            # X cuts the retweet at ~140 characters and ends it with "…"; any media link
            # past the cut is lost with it.
            text = text.truncated(139)
        elif rng.random() < 0.25:
            media, files = self._attach_media(text, tid, ms, author, source=(src_status, author))
        tweet = self._tweet(tid, ms, text, lang, media=media, counts=False)
        self.stats.retweets += 1
        return [_Item(tweet, files)]

    def _quote_of(self, ms: int, status: int, who: _Account, lang: str) -> _Item:
        text = _Text()
        self.c.quote_text(text, lang)
        text.add(" ").url(
            self.c.tco(ms), f"https://{self._host(ms)}/{who.screen_name}/status/{status}"
        )
        self.stats.quotes += 1
        return _Item(self._tweet(self._id(ms), ms, text, lang), [])

    def _quote(self, ms: int, left: int) -> list[_Item]:
        who = self.c.other()
        status = snowflake(ms - self.rng.randint(60_000, 86_400_000), self.rng.randrange(4096))
        return [self._quote_of(ms, status, who, self.c.lang())]

    def _self_quote(self, ms: int, left: int) -> list[_Item]:
        if left < 2:
            return self._original(ms, left)
        first = self._original(ms, left)
        later = ms + self.rng.randint(3_600_000, 5 * 86_400_000)
        quoted = int(first[0].tweet["id_str"])
        return [*first, self._quote_of(later, quoted, self.me, first[0].tweet["lang"])]

    def _note_pair(self, ms: int, lang: str, reply_to: int = 0) -> _Item:
        """A long post: the note with the full text and its tweet, truncated, same second."""
        rng = self.rng
        text = _Text()
        self.c.long_post(text, lang)
        while text.rpos <= 300:
            text.add(" ")
            self.c.fill(text, lang, 20)
        note_ms = ms - rng.randint(13, 41)
        note_id = self._id(note_ms)
        short = text.truncated(rng.randint(240, 275))
        tid = self._id(ms)
        reply = (reply_to, self.me) if reply_to else None
        tweet = self._tweet(tid, ms, short, lang, reply_to=reply)
        note = {
            "noteTweet": {
                "noteTweetId": str(note_id),
                "updatedAt": _iso(note_ms),
                "lifecycle": {
                    "value": "0",
                    "name": "Published",
                    "originalName": "Published",
                    "annotations": {},
                },
                "createdAt": _iso(note_ms),
                "core": {
                    "styletags": [],
                    "urls": text.note_urls,
                    "text": text.raw_text,
                    "mentions": text.note_mentions,
                    "cashtags": [],
                    "hashtags": text.note_hashtags,
                },
            }
        }
        self.stats.long_posts += 1
        return _Item(tweet, [], note)

    def _long_post(self, ms: int, left: int) -> list[_Item]:
        ms = ms - ms % 1000 + self.rng.randint(60, 900)
        self.stats.originals += 1
        return [self._note_pair(ms, self.c.lang())]

    def _long_thread(self, ms: int, left: int) -> list[_Item]:
        """A thread posted at once: a long post and its replies share one creation second."""
        if left < 2:
            return self._original(ms, left)
        ms = ms - ms % 1000 + self.rng.randint(60, 300)
        lang = self.c.lang()
        first = self._note_pair(ms, lang)
        self.stats.originals += 1
        out = [first]
        parent = int(first.tweet["id_str"])
        for _ in range(min(self.rng.randint(1, 3), left - 1)):
            ms += self.rng.randint(40, 200)
            if self.rng.random() < 0.5:
                item = self._note_pair(ms, lang, reply_to=parent)
            else:
                text = _Text()
                self.c.post(text, lang)
                tweet = self._tweet(self._id(ms), ms, text, lang, reply_to=(parent, self.me))
                item = _Item(tweet, [])
            self.stats.self_replies += 1
            out.append(item)
            parent = int(item.tweet["id_str"])
        return out

    def _edit(self, ms: int, left: int) -> list[_Item]:
        """An edit chain: every version is its own entry; the importer keeps the last one."""
        versions = min(self.rng.choice((2, 2, 3)), left)
        if versions < 2:
            return self._original(ms, left)
        lang = self.c.lang()
        times = [ms + i * self.rng.randint(30_000, 1_500_000) for i in range(versions)]
        ids = [self._id(t) for t in times]
        sids = [str(i) for i in ids]
        control = {
            "editTweetIds": sids,
            "editableUntil": _iso(ms + 3_600_000),
            "editsRemaining": str(6 - versions),
            "isEditEligible": True,
        }
        base = _Text()
        self.c.post(base, lang)
        out: list[_Item] = []
        for n, (tid, t) in enumerate(zip(ids, times, strict=True)):
            text = _Text()
            for op, args in base.ops:
                getattr(text, op)(*args)
            if n:
                text.add(f" (edit {n})" if n > 1 else " [edited: typo fixed]")
            info: dict[str, Any] = (
                {"initial": control}
                if n == 0
                else {"edit": {"initialTweetId": sids[0], "editControlInitial": control}}
            )
            out.append(_Item(self._tweet(tid, t, text, lang, edit_info=info), []))
        self.stats.originals += 1
        self.stats.edited_tweets += 1
        self.stats.edit_versions_dropped += versions - 1
        return out

    def _pseudo_lang(self, ms: int, left: int) -> list[_Item]:
        """Posts X labels with pseudo language codes: only media, a link, emoji, hashtags."""
        rng = self.rng
        text = _Text()
        tid = self._id(ms)
        media = None
        files: list[tuple[str, bytes]] = []
        code = rng.choice(("zxx", "qme", "art", "qht", "und", "qst"))
        if code == "zxx":
            media, files = self._attach_media(text, tid, ms, self.me, kind="photo")
        elif code == "qme":
            text.url(self.c.tco(ms), self.c.link())
        elif code == "art":
            text.add("".join(rng.choice(_EMOJI) for _ in range(rng.randint(1, 4))))
        elif code == "qht":
            text.hashtag(self.c.tag()).add(" ").hashtag(self.c.tag())
        elif code == "und":
            text.add("hmm… ¯\\_(ツ)_/¯")
        else:
            text.add(rng.choice(("Yes!", "Ok", "Thx", "Wow")))
        self.stats.originals += 1
        return [_Item(self._tweet(tid, ms, text, code, media=media), files)]


def _sizes(w: int, h: int) -> dict[str, dict[str, str]]:
    def fit(limit: int) -> dict[str, str]:
        scale = min(1.0, limit / max(w, h))
        return {"w": str(int(w * scale)), "h": str(int(h * scale)), "resize": "fit"}

    return {
        "small": fit(680),
        "large": fit(2048),
        "medium": fit(1200),
        "thumb": {"w": "150", "h": "150", "resize": "crop"},
    }


# ---------------------------------------------------------------------------------------------
# Writing the files


class _YtdWriter:
    """Writes one data type (``tweets.js``, ``tweets-part1.js``, ...) split at ``part_bytes``."""

    FLUSH_BYTES = 1 << 20

    def __init__(self, data_dir: Path, base: str, global_base: str, part_bytes: int) -> None:
        self.data_dir = data_dir
        self.base = base
        self.global_base = global_base
        self.part_bytes = part_bytes
        self.parts: list[tuple[str, str, int, int]] = []  # file, global name, count, bytes
        self._fh: BinaryIO | None = None
        self._buf: list[bytes] = []
        self._buf_bytes = 0
        self._part_size = 0
        self._count = 0

    def _open(self) -> None:
        n = len(self.parts)
        name = f"{self.base}.js" if n == 0 else f"{self.base}-part{n}.js"
        self._name = name
        self._global = f"YTD.{self.global_base}.part{n}"
        self._fh = (self.data_dir / name).open("wb")
        self._fh.write(ytd_prefix(self._global) + b"[")
        self._part_size = self._fh.tell()
        self._count = 0

    def _flush(self) -> None:
        if self._buf and self._fh is not None:
            self._fh.write(b"".join(self._buf))
        self._buf.clear()
        self._buf_bytes = 0

    def add(self, item: dict[str, Any]) -> None:
        """Append ``item``; start the next part first if it would overflow this one."""
        body = _x_style(_dump_item(item))
        if (
            self._fh is not None
            and self._count
            and self._part_size + len(body) + 4 > self.part_bytes
        ):
            self._close_part()
        if self._fh is None:
            self._open()
        data = (b",\n" if self._count else b"\n") + body
        self._buf.append(data)
        self._buf_bytes += len(data)
        self._part_size += len(data)
        self._count += 1
        if self._buf_bytes >= self.FLUSH_BYTES:
            self._flush()

    def _close_part(self) -> None:
        self._flush()
        assert self._fh is not None
        self._fh.write(b"\n]" if self._count else b" ]")
        size = self._fh.tell()
        self._fh.close()
        self._fh = None
        self.parts.append((self._name, self._global, self._count, size))

    def close(self) -> list[tuple[str, str, int, int]]:
        if self._fh is None and not self.parts:
            self._open()  # an empty data type is still a file: `... = [ ]`
        if self._fh is not None:
            self._close_part()
        return self.parts


def _write_single(
    data_dir: Path, base: str, global_base: str, items: list[dict[str, Any]]
) -> list[tuple[str, str, int, int]]:
    writer = _YtdWriter(data_dir, base, global_base, 1 << 62)
    for item in items:
        writer.add(item)
    return writer.close()


_ARCHIVE_HTML = (
    '<!doctype html><html><head><meta name="viewport" content="width=device-width,'
    'initial-scale=1" charset="utf-8"><title>Your Twitter Data</title></head><body>'
    '<div id="root"></div><script src="./data/manifest.js"></script>'
    "<!-- synthetic archive written by departures.samples.x_archive; the viewer's assets/ "
    "are not included --></body></html>"
)
_README = (
    "Synthetic Twitter archive written by departures.samples.x_archive.\n"
    "It imitates the layout of the archive X lets you download; no real account's data.\n"
)


def _ids(rng: random.Random, n: int) -> list[str]:
    out: list[str] = []
    for i in range(n):
        if i % 4 == 0:
            out.append(str(rng.randrange(10**6, 10**10)))
        else:
            out.append(str(rng.randrange(7 * 10**17, 2 * 10**18)))
    return out


def _scaled(n: int, fraction: float, floor: int, cap: int) -> int:
    return max(floor, min(cap, int(n * fraction)))


def generate(
    out: Path,
    *,
    tweets: int,
    seed: int = 0,
    part_bytes: int = 100_000_000,
    media: bool = True,
    as_zip: bool = False,
    profile: str = "bulk",
    progress: Callable[[int, int], None] | None = None,
) -> SyntheticArchive:
    """Write a synthetic archive to ``out`` and return it with the counts it holds.

    ``out`` is the archive folder (created; must not exist or be empty), or with ``as_zip``
    the ``.zip`` file. ``tweets`` is the number of entries in the tweets files (edit versions
    included). ``progress(done, total)`` is called now and then while tweets are written.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, not {profile!r}")
    if tweets < 0:
        raise ValueError("tweets must be >= 0")
    out = Path(out)
    if as_zip:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = out.with_name(out.name + ".staging")
        shutil.rmtree(staging, ignore_errors=True)
        result = generate(
            staging,
            tweets=tweets,
            seed=seed,
            part_bytes=part_bytes,
            media=media,
            profile=profile,
            progress=progress,
        )
        _zip_folder(staging, out)
        shutil.rmtree(staging)
        result.path = out
        return result

    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    data = out / "data"
    (data / "tweets_media").mkdir(parents=True, exist_ok=True)
    (data / "profile_media").mkdir(exist_ok=True)
    rng = random.Random(f"departures-synthetic-{seed}-{profile}")
    content: _Content = _DemoContent(rng) if profile == "demo" else _Content(rng)
    me = _Account(content.account_id, content.username, content.display_name)
    stats = SyntheticArchive(path=out)
    (out / "Your archive.html").write_text(_ARCHIVE_HTML, encoding="utf-8")
    (data / "README.txt").write_text(_README, encoding="utf-8")

    written: dict[str, list[tuple[str, str, int, int]]] = {}
    tweets_out = _YtdWriter(data, "tweets", "tweets", part_bytes)
    notes_out = _YtdWriter(data, "note-tweet", "note_tweet", part_bytes)
    media_dir = data / "tweets_media"
    first_copy: dict[bytes, Path] = {}
    maker = _Tweets(rng, content, me, tweets, media, stats)
    for done, item in enumerate(maker.items(), 1):
        tweets_out.add({"tweet": item.tweet})
        if item.note is not None:
            notes_out.add(item.note)
        for name, blob in item.files:
            _write_media(media_dir / name, blob, first_copy)
            stats.media_files_written += 1
        if progress is not None and done % 10_000 == 0:
            progress(done, tweets)
    stats.tweet_entries = tweets
    written["tweets"] = tweets_out.close()
    written["noteTweet"] = notes_out.close()
    stats.tweet_parts = len(written["tweets"])
    if progress is not None:
        progress(tweets, tweets)

    written.update(_write_recent_extras(data, maker, content, stats, tweets))
    written.update(_write_people(data, rng, content, me, stats, tweets))
    avatar = f"{me.user_id}-avatar{seed}.jpg"
    (data / "profile_media" / avatar).write_bytes(content.photo(0)[0])
    written["profile"] = _write_single(
        data,
        "profile",
        "profile",
        [
            {
                "profile": {
                    "description": {
                        "bio": content.bio,
                        "website": "https://t.co/" + "".join(rng.choices(_ALNUM, k=10)),
                        "location": content.location,
                    },
                    "avatarMediaUrl": f"https://pbs.twimg.com/profile_images/{me.user_id}/avatar{seed}.jpg",
                }
            }
        ],
    )
    written["account"] = _write_single(
        data,
        "account",
        "account",
        [
            {
                "account": {
                    "email": f"{me.screen_name.lower()}@example.org",
                    "createdVia": "web",
                    "username": me.screen_name,
                    "accountId": me.user_id,
                    "createdAt": _iso(content.account_created_ms),
                    "accountDisplayName": me.name,
                }
            }
        ],
    )
    # Private files a real archive holds; an importer must never read them.
    written["directMessages"] = _write_single(
        data,
        "direct-messages",
        "direct_messages",
        [
            {
                "dmConversation": {
                    "conversationId": f"{me.user_id}-1",
                    "messages": [
                        {
                            "messageCreate": {
                                "recipientId": "1",
                                "text": "PRIVATE direct message: must never be imported",
                                "senderId": me.user_id,
                                "id": "1",
                                "createdAt": _iso(_END_MS),
                            }
                        }
                    ],
                }
            }
        ],
    )
    written["ipAudit"] = _write_single(data, "ip-audit", "ip_audit", [])
    for parts in written.values():
        for name, _g, _c, size in parts:
            stats.files[name] = size
    _write_manifest(data, me, written, stats)
    return stats


def _write_recent_extras(
    data: Path, maker: _Tweets, content: _Content, stats: SyntheticArchive, tweets: int
) -> dict[str, list[tuple[str, str, int, int]]]:
    """Tweets deleted in the last days (``deleted-tweets.js``) and community tweets.

    They come after the timeline (X keeps deleted tweets ~14 days) and must be kept apart
    by an importer: never published by default.
    """
    stats.deleted_tweets = min(5, max(1, tweets // 1000)) if tweets else 0
    stats.community_tweets = 2 if tweets else 0
    deleted = _YtdWriter(data, "deleted-tweets", "deleted_tweets", 1 << 62)
    community = _YtdWriter(data, "community-tweet", "community_tweet", 1 << 62)
    community_id = str(snowflake(_END_MS - 90 * 86_400_000, 1))
    for i in range(stats.deleted_tweets + stats.community_tweets):
        ms = _END_MS + (i + 1) * 20_000_000 + 1234
        lang = content.lang()
        text = _Text()
        content.post(text, lang)
        tweet = maker._tweet(maker._id(ms), ms, text, lang)
        if i < stats.deleted_tweets:
            tweet["deleted_at"] = _created_at(ms + maker.rng.randint(60_000, 7_200_000))
            deleted.add({"tweet": tweet})
        else:
            del tweet["edit_info"]
            tweet["scopes"] = {"followers": False}
            tweet["community_id"] = community_id
            tweet["community_id_str"] = community_id
            community.add({"tweet": tweet})
    return {"deletedTweets": deleted.close(), "communityTweet": community.close()}


def _write_media(path: Path, blob: bytes, first_copy: dict[bytes, Path]) -> None:
    """Write a media file; identical bytes become hard links to the first copy where possible.

    The bulk profile reuses a few images across tens of thousands of files; linking them
    spares the disk and the file system (creating files is most of the generator's time).
    """
    source = first_copy.get(blob)
    if source is not None:
        try:
            os.link(source, path)
            return
        except OSError:
            pass
    path.write_bytes(blob)
    first_copy.setdefault(blob, path)


def _write_people(
    data: Path,
    rng: random.Random,
    content: _Content,
    me: _Account,
    stats: SyntheticArchive,
    tweets: int,
) -> dict[str, list[tuple[str, str, int, int]]]:
    demo = isinstance(content, _DemoContent)
    stats.followers = 240 if demo else _scaled(tweets, 0.05, 20, 60_000)
    stats.following = 130 if demo else _scaled(tweets, 0.01, 10, 5_000)
    stats.blocks = 12 if demo else _scaled(tweets, 0.002, 2, 2_000)
    stats.mutes = 3 if demo else _scaled(tweets, 0.0005, 1, 500)
    stats.likes = 180 if demo else _scaled(tweets, 0.3, 10, 100_000)
    out: dict[str, list[tuple[str, str, int, int]]] = {}
    partner_ids = [p.user_id for p in _DEMO_PARTNERS] if demo else []
    for key, base, wrapper, n in (
        ("follower", "follower", "follower", stats.followers),
        ("following", "following", "following", stats.following),
        ("block", "block", "blocking", stats.blocks),
        ("mute", "mute", "muting", stats.mutes),
    ):
        writer = _YtdWriter(data, base, base, 100_000_000)
        ids = (partner_ids if key in ("follower", "following") else []) + _ids(rng, n)
        for uid in ids[:n]:
            writer.add(
                {
                    wrapper: {
                        "accountId": uid,
                        "userLink": f"https://twitter.com/intent/user?user_id={uid}",
                    }
                }
            )
        out[key] = writer.close()
    writer = _YtdWriter(data, "like", "like", 100_000_000)
    for _ in range(stats.likes):
        tid = snowflake(_END_MS - rng.randrange(8 * _YEAR_MS), rng.randrange(4096))
        like: dict[str, Any] = {"tweetId": str(tid)}
        if rng.random() < 0.95:
            text = _Text()
            content.post(text, content.lang())
            like["fullText"] = text.full_text
        like["expandedUrl"] = f"https://twitter.com/i/web/status/{tid}"
        writer.add({"like": like})
    out["like"] = writer.close()
    return out


def _write_manifest(
    data: Path,
    me: _Account,
    written: dict[str, list[tuple[str, str, int, int]]],
    stats: SyntheticArchive,
) -> None:
    media_dirs = {"tweets": "data/tweets_media", "profile": "data/profile_media"}
    data_types: dict[str, Any] = {}
    for key in sorted(written):
        entry: dict[str, Any] = {}
        if key in media_dirs:
            entry["mediaDirectory"] = media_dirs[key]
        entry["files"] = [
            {"fileName": f"data/{name}", "globalName": glob, "count": str(count)}
            for name, glob, count, _size in written[key]
        ]
        data_types[key] = entry
    data_types["tweetsMedia"] = {"mediaDirectory": "data/tweets_media"}
    data_types["profileMedia"] = {"mediaDirectory": "data/profile_media"}
    data_types = dict(sorted(data_types.items()))
    size = sum(stats.files.values()) + stats.media_files_written * 1500
    manifest = {
        "userInfo": {"accountId": me.user_id, "userName": me.screen_name, "displayName": me.name},
        "archiveInfo": {
            "sizeBytes": str(size),
            "generationDate": _iso(_GENERATED_AT_MS),
            "isPartialArchive": False,
            "maxPartSizeBytes": "53687091200",
        },
        "readmeInfo": {"fileName": "data/README.txt", "directory": "data/", "name": "README.txt"},
        "dataTypes": data_types,
    }
    body = _x_style(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    (data / "manifest.js").write_bytes(b"window.__THAR_CONFIG = " + body)


def _zip_folder(folder: Path, zip_path: Path) -> None:
    """Zip ``folder``'s contents with no wrapper folder, like X; media stored, text deflated."""
    tmp = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                arc = path.relative_to(folder).as_posix()
                info = zipfile.ZipInfo(arc, date_time=_ZIP_TIME)
                text = name.endswith((".js", ".html", ".txt"))
                info.compress_type = zipfile.ZIP_DEFLATED if text else zipfile.ZIP_STORED
                with path.open("rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
    tmp.replace(zip_path)


def generate_archive(
    out: Path,
    *,
    tweets: int,
    seed: int = 0,
    part_bytes: int = 100_000_000,
    media: bool = True,
    as_zip: bool = False,
    profile: str = "bulk",
) -> Path:
    """Write a format-faithful synthetic X archive of ``tweets`` tweet entries; return its path.

    See :func:`generate` for the parameters; this is the same without the counts.
    """
    return generate(
        out,
        tweets=tweets,
        seed=seed,
        part_bytes=part_bytes,
        media=media,
        as_zip=as_zip,
        profile=profile,
    ).path
