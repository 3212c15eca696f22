"""Bench: ``migrate plan`` and ``migrate preview`` on a synthetic archive.

    .venv/bin/python bench/bench_plan.py [--tweets 5000] [--profile demo|bulk]

Generates a synthetic archive (in a temporary folder), imports it, then times planning
everything (replies and retweets included) and writing the preview page (thumbnails
included, first run and cached re-run). Prints tweets/s, posts/s, the page's size and the
share of the page per post, so a regression in either shows up as a ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from departures.archive.importer import import_archive
from departures.migrate.plan import build_plan
from departures.migrate.preview import write_preview
from departures.migrate.select import Selection
from departures.samples.x_archive import generate
from departures.workspace import Workspace


def main() -> None:
    parser = argparse.ArgumentParser(description="Plan and preview speed.")
    parser.add_argument("--tweets", type=int, default=5000)
    parser.add_argument("--profile", default="demo", choices=["demo", "bulk"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        generated = generate(root / "archive", tweets=args.tweets, seed=7, profile=args.profile)
        print(
            f"archive: {generated.tweet_entries:,} tweets, {generated.media_items:,} media "
            f"({time.perf_counter() - started:.1f} s to generate)"
        )
        ws = Workspace.open(root / "ws")
        import_archive(generated.path, ws)

        started = time.perf_counter()
        summary = build_plan(ws, Selection(replies=True, retweets=True), footer="via X")
        plan_s = time.perf_counter() - started
        tweets = sum(summary.tweets_by_kind.values())
        print(
            f"plan: {tweets:,} tweets -> {summary.posts:,} posts in {plan_s:.2f} s "
            f"({tweets / plan_s:,.0f} tweets/s); {summary.images:,} images, "
            f"{summary.videos:,} videos, {summary.warnings:,} warnings"
        )

        for label in ("preview (first)", "preview (cached)"):
            started = time.perf_counter()
            result = write_preview(ws, root / "preview.html")
            seconds = time.perf_counter() - started
            size = sum(f.stat().st_size for f in root.glob("preview*.html"))
            thumbs = sum(f.stat().st_size for f in (root / "preview-media").iterdir())
            print(
                f"{label}: {result.posts:,} posts in {seconds:.2f} s "
                f"({result.posts / seconds:,.0f} posts/s); {result.pages} pages, "
                f"{size / 1e6:.2f} MB "
                f"({size / result.posts:,.0f} B/post), thumbnails {thumbs / 1e6:.1f} MB"
            )
        ws.close()


if __name__ == "__main__":
    main()
