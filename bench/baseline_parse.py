"""The floor any archive importer pays: read every tweets part, strip the
``window.YTD.tweets.partN =`` prefix and orjson-parse it, nothing else.

    .venv/bin/python bench/baseline_parse.py [ARCHIVE_FOLDER] [--tweets 300000]

Without ARCHIVE_FOLDER it uses (and if needed generates) the cached synthetic archive of
--tweets tweets. Prints tweets/s with the garbage collector disabled (the floor) and, for
reference, enabled: the collector rescans the millions of fresh dicts and lists on every
generation-2 pass, which is why importers should switch it off while they parse.

The whole floor, as the issue asks, is these lines (``_util.parse_floor``)::

    for part in parts:
        raw = part.read_bytes()
        items = orjson.loads(raw[raw.index(b"=") + 1 :])
        count += len(items)
        del items, raw
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _util import cached_archive, machine, parse_floor, rate, tweet_parts, warm_cache


def main() -> None:
    parser = argparse.ArgumentParser(description="The parse floor of the tweets files.")
    parser.add_argument("archive", type=Path, nargs="?", help="an unzipped archive folder")
    parser.add_argument("--tweets", type=int, default=300_000)
    args = parser.parse_args()
    archive = args.archive or cached_archive(args.tweets)[0]
    parts = tweet_parts(archive)
    size = sum(p.stat().st_size for p in parts)
    print(f"{archive}: {len(parts)} tweets part(s), {size / 1e6:,.0f} MB; {machine()}")
    warm_cache(parts)  # so that both runs read from memory
    count, off = parse_floor(parts, gc_enabled=False)
    _, on = parse_floor(parts, gc_enabled=True)
    print(f"floor, gc disabled: {count:,} tweets in {off:.2f} s = {rate(count, off)}")
    print(f"gc enabled:         {count:,} tweets in {on:.2f} s = {rate(count, on)}")
    print(f"ratio gc on / gc off: {off / on:.2f}")


if __name__ == "__main__":
    main()
