"""Media preparation: images fit the blob limit without metadata; videos checked; cache."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

import pytest
from PIL import Image

from departures.migrate.media import (
    CACHE_DIR,
    MediaError,
    MediaLimits,
    check_video,
    prepare_upload,
    shrink_image,
)
from departures.workspace import Workspace


def noisy(size: tuple[int, int], mode: str = "RGB", seed: int = 1) -> Image.Image:
    """An image that compresses badly (random pixels), so size limits bite."""
    rng = random.Random(seed)
    bands = len(mode)
    data = rng.randbytes(size[0] * size[1] * bands)
    return Image.frombytes(mode, size, data)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_large_photo_shrinks_under_the_limit_keeping_its_aspect_and_losing_exif() -> None:
    exif = Image.Exif()
    exif[0x8825] = {2: (50.0, 51.0, 0.0)}  # GPS position
    exif[0x0112] = 1
    source = encoded(noisy((1500, 1000)), "JPEG", quality=95, exif=exif)
    assert len(source) > 1_000_000
    prepared = shrink_image(source, 1_000_000)
    assert prepared.mime == "image/jpeg" and len(prepared.data) <= 1_000_000
    with Image.open(io.BytesIO(prepared.data)) as out:
        assert abs(out.width / out.height - 1.5) < 0.01
        assert prepared.aspect == out.size
        assert not out.getexif() and "exif" not in out.info


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    source = encoded(Image.new("RGB", (300, 100), "red"), "JPEG", exif=exif)
    prepared = shrink_image(source, 1_000_000)
    assert prepared.aspect == (100, 300)


def test_huge_dimensions_are_capped_at_2000_pixels() -> None:
    source = encoded(Image.new("RGB", (5000, 2500), "white"), "PNG")
    prepared = shrink_image(source, 2_000_000)
    assert prepared.aspect == (2000, 1000)


def test_transparent_png_stays_png_when_it_fits() -> None:
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    image.paste((10, 200, 30, 255), (50, 50, 150, 150))
    prepared = shrink_image(encoded(image, "PNG"), 1_000_000)
    assert prepared.mime == "image/png"
    with Image.open(io.BytesIO(prepared.data)) as out:
        assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0


def test_transparent_png_too_big_is_flattened_on_white_as_jpeg() -> None:
    image = noisy((800, 800), "RGBA")
    prepared = shrink_image(encoded(image, "PNG"), 300_000)
    assert prepared.mime == "image/jpeg" and len(prepared.data) <= 300_000


def test_animated_gif_uses_its_first_frame() -> None:
    frames = [Image.new("P", (64, 32), i) for i in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    prepared = shrink_image(buffer.getvalue(), 1_000_000)
    assert prepared.aspect == (64, 32)


def test_corrupt_image_is_a_clear_media_error() -> None:
    with pytest.raises(
        MediaError, match=re.escape("media x.jpg of tweet 7 is not a readable image")
    ):
        shrink_image(b"\xff\xd8 not really a jpeg", 1_000_000, where="media x.jpg of tweet 7")


def test_check_video_names_the_limit() -> None:
    limits = MediaLimits(video_max_bytes=50_000_000, video_max_duration_ms=60_000)
    assert check_video(59_000, 1_000, limits) is None
    assert check_video(None, None, limits) is None
    assert check_video(61_000, 1_000, limits) == "video is 61 s long, over the limit of 60 s"
    assert check_video(1_000, 60_000_000, limits) == "video is 60.0 MB, over the limit of 50 MB"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    folder = tmp_path / "archive"
    (folder / "data" / "tweets_media").mkdir(parents=True)
    big = encoded(noisy((1200, 900)), "JPEG", quality=95)
    (folder / "data" / "tweets_media" / "7-a.jpg").write_bytes(big)
    (folder / "data" / "tweets_media" / "7-v.mp4").write_bytes(b"\x00" * 5000)
    ws = Workspace.open(tmp_path / "ws")
    ws.set_meta("archive_path", str(folder))
    ws.set_meta("archive_kind", "dir")
    return ws


def test_prepare_upload_caches_prepared_images(workspace: Workspace) -> None:
    item = {"kind": "image", "member": "data/tweets_media/7-a.jpg", "media_key": "7:0"}
    limits = MediaLimits(image_max_bytes=400_000)
    first = prepare_upload(workspace, item, limits)
    assert len(first.data) <= 400_000
    cached = list((workspace.path / CACHE_DIR).iterdir())
    assert len(cached) == 1
    second = prepare_upload(workspace, item, limits)
    assert second == first
    # Another limit is another cache entry.
    assert len(prepare_upload(workspace, item, MediaLimits(image_max_bytes=900_000)).data) > 0
    assert len(list((workspace.path / CACHE_DIR).iterdir())) == 2


def test_prepare_upload_video_checks_the_size(workspace: Workspace) -> None:
    item = {"kind": "video", "member": "data/tweets_media/7-v.mp4", "media_key": "7:1",
            "aspect": [16, 9]}  # fmt: skip
    prepared = prepare_upload(workspace, item)
    assert (prepared.mime, prepared.aspect, len(prepared.data)) == ("video/mp4", (16, 9), 5000)
    with pytest.raises(MediaError, match=re.escape("video is 0.0 MB, over the limit")):
        prepare_upload(workspace, item, MediaLimits(video_max_bytes=1000))


def test_prepare_upload_missing_file_names_tweet_and_file(workspace: Workspace) -> None:
    item = {"kind": "image", "member": "data/tweets_media/7-gone.jpg", "media_key": "7:2"}
    with pytest.raises(
        MediaError, match=re.escape("media data/tweets_media/7-gone.jpg of tweet 7")
    ):
        prepare_upload(workspace, item)
