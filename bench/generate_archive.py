"""Write a synthetic, format-faithful X archive (a thin CLI over departures.samples.x_archive).

    .venv/bin/python bench/generate_archive.py OUT --tweets 300000 [--zip] [--seed 0]
        [--part-mb 100] [--no-media] [--demo]

OUT is the archive folder (or, with --zip, the .zip file). --demo writes the archive of the
fictional NGO "Fair Harvest Collective" that `make demo` uses; the default is bulk content
with every quirk of the format.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from departures.samples.x_archive import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="archive folder, or .zip file with --zip")
    parser.add_argument("--tweets", type=int, required=True, help="tweet entries to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part-mb", type=int, default=100, help="split tweets.js at this size")
    parser.add_argument("--zip", action="store_true", help="write a .zip like the one X sends")
    parser.add_argument("--no-media", action="store_true", help="reference media, write none")
    parser.add_argument("--demo", action="store_true", help="the fictional NGO's archive")
    args = parser.parse_args()
    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        parser.error(f"{args.out} already exists; pick a new path or delete it first")

    started = time.perf_counter()
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task("tweets", total=args.tweets)
        result = generate(
            args.out,
            tweets=args.tweets,
            seed=args.seed,
            part_bytes=args.part_mb * 1_000_000,
            media=not args.no_media,
            as_zip=args.zip,
            profile="demo" if args.demo else "bulk",
            progress=lambda done, _total: bar.update(task, completed=done),
        )
    seconds = time.perf_counter() - started
    print(
        f"wrote {result.path}: {result.tweet_entries:,} tweet entries in "
        f"{result.tweet_parts} part(s), {result.long_posts:,} long posts, "
        f"{result.media_items:,} media items ({result.media_files_missing:,} files left out "
        f"on purpose), {result.followers:,} followers, {result.likes:,} likes; "
        f"{seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
