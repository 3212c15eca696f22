"""The stored plan on a hand-made archive: order, keys, re-planning, alt text, CLI errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from archive_builders import (
    ACCOUNT_ID,
    USERNAME,
    account_item,
    photo,
    snowflake,
    tweet,
    url_entity,
    write_archive,
    ytd,
)
from departures.archive.importer import import_archive
from departures.migrate.alttext import AltTextError, export_alt_texts, import_alt_texts
from departures.migrate.convert import MISSING_ALT
from departures.migrate.plan import build_plan, plan_summary, published_keys
from departures.migrate.select import Selection
from departures.workspace import Workspace
from helpers.cli import run_main as run_cli

BASE_MS = 1_700_000_000_000
SELF = {"in_reply_to_user_id_str": ACCOUNT_ID, "in_reply_to_screen_name": USERNAME}


def jpeg_with_gps(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (40, 120, 60))
    exif = Image.Exif()
    exif[0x8825] = {2: (50.0, 51.0, 0.0)}  # GPSInfo: latitude
    exif[0x010F] = "PhoneMaker"
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def build_archive(root: Path) -> tuple[Path, dict[str, str]]:
    ids = {name: snowflake(BASE_MS + i * 60_000) for i, name in enumerate(
        ["O1", "T1", "T2", "T3", "Q1", "Q2", "P1", "RT1", "LONG"]
    )}  # fmt: skip
    q1 = "Read our thread https://t.co/q1"
    q2 = "Well said https://t.co/q2"
    pt = "Harvest day https://t.co/p1"
    rt = "RT @bob: Fair trade works…"
    long_text = "Fair trade coffee pays the farmers who grow it a living wage. " * 12
    tweets = [
        tweet(ids["O1"], "Hello #soil", favorite_count="5",
              hashtags=[{"text": "soil", "indices": ["6", "11"]}]),
        tweet(ids["T1"], "1/ Why we leave X"),
        tweet(ids["T2"], "2/ Because of the hate", in_reply_to_status_id_str=ids["T1"], **SELF),
        tweet(ids["T3"], "3/ See you on Bluesky", in_reply_to_status_id_str=ids["T2"], **SELF),
        tweet(ids["Q1"], q1, urls=[url_entity(
            q1, "https://t.co/q1", f"https://x.com/{USERNAME}/status/{ids['T1']}")]),
        tweet(ids["Q2"], q2, urls=[url_entity(
            q2, "https://t.co/q2", "https://x.com/bob/status/123456789012345678")]),
        tweet(ids["P1"], pt, media=[photo(pt, "https://t.co/p1", "KEYP1", ids["P1"])]),
        tweet(ids["RT1"], rt, favorite_count="0", retweet_count="0"),
        tweet(ids["LONG"], long_text.strip()),
    ]  # fmt: skip
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in tweets]),
        f"tweets_media/{ids['P1']}-KEYP1.jpg": jpeg_with_gps(),
    }
    return write_archive(root / "archive", files), ids


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Workspace, dict[str, str]]:
    folder, ids = build_archive(tmp_path)
    ws = Workspace.open(tmp_path / "ws")
    import_archive(folder, ws)
    build_plan(ws, Selection())
    return ws, ids


def rows(ws: Workspace) -> dict[str, dict[str, Any]]:
    cursor = ws.conn.execute("SELECT * FROM plan_posts ORDER BY seq")
    names = [d[0] for d in cursor.description]
    return {r[0]: dict(zip(names, r, strict=True)) for r in cursor}


def test_plan_orders_parents_and_quoted_posts_first_with_unique_rkeys(planned: Any) -> None:
    ws, ids = planned
    plan = rows(ws)
    seq = {k: r["seq"] for k, r in plan.items()}
    assert ids["RT1"] + ":0" not in plan  # retweets are off by default
    t1, t2, t3 = (ids[n] + ":0" for n in ("T1", "T2", "T3"))
    assert seq[t1] < seq[t2] < seq[t3]
    assert (plan[t2]["parent_key"], plan[t2]["root_key"]) == (t1, t1)
    assert (plan[t3]["parent_key"], plan[t3]["root_key"]) == (t2, t1)
    q1 = plan[ids["Q1"] + ":0"]
    assert q1["quote_key"] == t1 and seq[t1] < q1["seq"]
    assert orjson.loads(q1["record"])["text"] == "Read our thread"
    q2 = orjson.loads(plan[ids["Q2"] + ":0"]["record"])
    assert q2["embed"]["external"]["title"] == "Post by @bob on X"
    assert len({r["rkey"] for r in plan.values()}) == len(plan)
    long_parts = [r for r in plan.values() if r["tweet_id"] == int(ids["LONG"])]
    assert len(long_parts) == 3 and [r["part"] for r in long_parts] == [0, 1, 2]


def test_summary_counts_kinds_posts_media_and_estimates_time(planned: Any) -> None:
    ws, _ = planned
    summary = plan_summary(ws)
    assert dict(summary.tweets_by_kind) == {"original": 4, "quote": 2, "thread": 2}
    assert summary.posts == 10 and summary.split_tweets == 1
    assert summary.images == 1 and summary.media_bytes > 1000
    assert summary.warnings_by_kind[MISSING_ALT] == 1
    assert summary.estimated_seconds == 0.0  # 10 posts fit the first batch


def _publish(ws: Workspace, key: str) -> None:
    ws.conn.execute(
        "CREATE TABLE IF NOT EXISTS published (key TEXT PRIMARY KEY, uri TEXT NOT NULL, "
        "cid TEXT NOT NULL, published_at TEXT NOT NULL, verified_at TEXT, deleted_at TEXT)"
    )
    ws.conn.execute(
        "INSERT INTO published (key, uri, cid, published_at) VALUES (?, ?, ?, ?)",
        (key, f"at://did:plc:x/app.bsky.feed.post/{key}", "bafy", "2026-01-01T00:00:00Z"),
    )


def test_replanning_never_touches_published_rows(planned: Any) -> None:
    ws, ids = planned
    t1, t2 = ids["T1"] + ":0", ids["T2"] + ":0"
    long0 = ids["LONG"] + ":0"
    _publish(ws, t1)
    _publish(ws, long0)  # one part of a split tweet: all its parts stay as they were
    before = rows(ws)
    assert published_keys(ws.conn) == {t1, long0}

    build_plan(ws, Selection(exclude=frozenset({int(ids["T1"])})), footer="Moved from X")
    after = rows(ws)
    for key in (t1, long0, ids["LONG"] + ":1", ids["LONG"] + ":2"):
        assert after[key] == before[key]
    assert after[t2]["parent_key"] == t1  # still attached to the published post
    assert orjson.loads(after[ids["O1"] + ":0"]["record"])["text"].endswith("Moved from X")
    assert plan_summary(ws).published == 2


def test_replanning_drops_unpublished_rows_no_longer_selected(planned: Any) -> None:
    ws, ids = planned
    build_plan(ws, Selection(match=("hello",)))
    assert list(rows(ws)) == [ids["O1"] + ":0"]


def test_alt_text_roundtrip_updates_the_plan(planned: Any, tmp_path: Path) -> None:
    ws, ids = planned
    target = tmp_path / "alt.csv"
    assert export_alt_texts(ws, target) == 1
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    [row] = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert row["tweet_id"] == ids["P1"] and row["media_file"] == f"{ids['P1']}-KEYP1.jpg"
    assert row["url"] == f"https://x.com/{USERNAME}/status/{ids['P1']}"
    row["alt"] = "Farmers carry coffee sacks — “harvest” 🌱"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    # Spreadsheets turn long ids into floats: the media file name still says which tweet.
    writer.writerow({**row, "tweet_id": "1.70000E+18"})
    writer.writerow({**row, "tweet_id": "42", "media_file": "42-nothing.jpg", "alt": "nobody"})
    target.write_text(out.getvalue(), encoding="utf-8-sig")

    result = import_alt_texts(ws, target)
    assert (result.updated, result.plan_rows_updated) == (1, 1)
    assert result.warnings == ["line 3: no media '42-nothing.jpg' in tweet 42 in this archive; "
                               "skipped"]  # fmt: skip
    p1 = rows(ws)[ids["P1"] + ":0"]
    assert orjson.loads(p1["media"])[0]["alt"] == row["alt"]
    assert not any(w.startswith(MISSING_ALT) for w in orjson.loads(p1["warnings"]))
    build_plan(ws, Selection())  # a new plan keeps it
    assert orjson.loads(rows(ws)[ids["P1"] + ":0"]["media"])[0]["alt"] == row["alt"]


def test_alt_text_over_the_limit_is_skipped_with_a_warning(planned: Any, tmp_path: Path) -> None:
    ws, ids = planned
    target = tmp_path / "alt.csv"
    target.write_text(
        f"tweet_id,media_file,alt\n{ids['P1']},{ids['P1']}-KEYP1.jpg,{'x' * 2001}\n",
        encoding="utf-8",
    )
    result = import_alt_texts(ws, target)
    assert result.updated == 0
    assert "over the limit of 2000" in result.warnings[0]


def test_bad_alt_text_csv_changes_nothing(planned: Any, tmp_path: Path) -> None:
    ws, _ = planned
    target = tmp_path / "notes.csv"
    target.write_text("name,comment\nfoo,bar\n", encoding="utf-8")
    before = rows(ws)
    with pytest.raises(AltTextError, match="has no column tweet_id, media_file, alt"):
        import_alt_texts(ws, target)
    assert rows(ws) == before


def test_cli_plan_json_and_one_line_errors(
    planned: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = planned
    code, out, _ = run_cli(["--workspace", str(ws.path), "migrate", "plan", "--json"], capsys)
    assert code == 0
    assert orjson.loads(out)["posts"] == 10

    code, _, err = run_cli(
        ["--workspace", str(ws.path), "migrate", "plan", "--include", "not-an-id"], capsys
    )
    assert code == 1
    assert err.startswith("Error: --include: 'not-an-id' is neither a tweet id nor a tweet URL")
    assert len(err.strip().splitlines()) == 1

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01garbage")
    code, _, err = run_cli(
        ["--workspace", str(ws.path), "migrate", "alt-text", "import", str(bad)], capsys
    )
    assert code == 1 and err.startswith("Error: ") and len(err.strip().splitlines()) == 1

    code, _, err = run_cli(["--workspace", str(tmp_path / "none"), "migrate", "plan"], capsys)
    assert code == 1 and "No workspace" in err


def test_cli_include_file_takes_ids_urls_and_csv(
    planned: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, ids = planned
    listed = tmp_path / "ids.csv"
    listed.write_text(f"id,note\n{ids['RT1']},the retweet\n", encoding="utf-8")
    urls = tmp_path / "urls.txt"
    urls.write_text(f"https://x.com/{USERNAME}/status/{ids['O1']}?s=20\n", encoding="utf-8")
    code, _, _ = run_cli(
        ["--workspace", str(ws.path), "migrate", "plan", "--json", "--include-file", str(listed),
         "--exclude-file", str(urls)],
        capsys,
    )  # fmt: skip
    assert code == 0
    keys = set(rows(ws))
    assert ids["RT1"] + ":0" in keys and ids["O1"] + ":0" not in keys


def test_cli_preview_writes_the_page(
    planned: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, _ = planned
    out_file = tmp_path / "out" / "p.html"
    code, out, _ = run_cli(
        ["--workspace", str(ws.path), "migrate", "preview", "--out", str(out_file)], capsys
    )
    assert code == 0 and "Preview:" in out
    page = out_file.read_text(encoding="utf-8")
    assert "NO ALT TEXT" in page and "Archived from" in page
    thumbs = list((out_file.parent / "p-media").iterdir())
    assert len(thumbs) == 1
    assert f"p-media/{thumbs[0].name}" in page


def test_an_empty_tweet_in_a_thread_is_skipped_and_its_reply_moves_up(tmp_path: Path) -> None:
    a, b, c = (snowflake(BASE_MS + i * 1000) for i in range(3))
    bt = "https://t.co/b1"
    tweets = [
        tweet(a, "1/ start"),
        tweet(b, bt, media=[photo(bt, bt, "GONE", b)], in_reply_to_status_id_str=a, **SELF),
        tweet(c, "3/ end", in_reply_to_status_id_str=b, **SELF),
    ]
    files = {
        "account.js": ytd("account.part0", [account_item()]),
        "tweets.js": ytd("tweets.part0", [{"tweet": t} for t in tweets]),
    }
    ws = Workspace.open(tmp_path / "ws")
    import_archive(write_archive(tmp_path / "archive", files), ws)
    summary = build_plan(ws, Selection())
    assert summary.skipped["nothing left to publish"] == 1
    plan = rows(ws)
    assert list(plan) == [f"{a}:0", f"{c}:0"]
    assert plan[f"{c}:0"]["parent_key"] == f"{a}:0"


def test_format_duration() -> None:
    from departures.migrate.plan import format_duration

    assert [format_duration(s) for s in (0, 59, 600, 3600 * 3.5, 86400 * 2.1)] == [
        "0 s",
        "59 s",
        "10 min",
        "3.5 h",
        "2.1 days",
    ]


def test_preview_pages_link_each_other_and_quotes_across_pages(planned: Any) -> None:
    from departures.migrate.preview import load_posts, render_pages

    ws, ids = planned
    posts = load_posts(ws)
    pages = render_pages(posts, plan_summary(ws), username=USERNAME, name="p.html", per_page=2)
    names = [name for name, _ in pages]
    assert names[:3] == ["p.html", "p-2.html", "p-3.html"]
    assert all("<a href='p-2.html'>2</a>" in html for name, html in pages if name != "p-2.html")
    t1_page = next(p.page for p in posts if p.key == ids["T1"] + ":0")
    quoting = next(html for name, html in pages if f"id='p{ids['Q1']}:0'" in html)
    assert f"href='{t1_page}#p{ids['T1']}:0'" in quoting


def test_planning_refuses_when_posts_were_published_meanwhile(
    planned: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from departures.errors import WorkspaceError
    from departures.migrate import plan as plan_module

    ws, ids = planned
    before = rows(ws)
    real = plan_module._convert_all

    def publishing_meanwhile(*args: Any) -> Any:
        _publish(ws, ids["O1"] + ":0")
        return real(*args)

    monkeypatch.setattr(plan_module, "_convert_all", publishing_meanwhile)
    with pytest.raises(WorkspaceError, match="published while the plan was being made"):
        build_plan(ws, Selection(), footer="changed")
    assert rows(ws) == before


def test_cli_says_when_nothing_is_planned(planned: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ws, _ = planned
    code, out, _ = run_cli(
        ["--workspace", str(ws.path), "migrate", "plan", "--match", "no such words"], capsys
    )
    assert code == 0 and "Nothing is planned: loosen the filters" in out
