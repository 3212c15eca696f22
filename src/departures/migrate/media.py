"""Media of migrated posts: what fits Bluesky, and the bytes to upload.

The planner decides per media item whether it can go (:func:`check_video`, file sizes read
from the archive without reading the files); the publisher asks :func:`prepare_upload` for
the bytes of each upload, passing the limits the server announced, so both agree.

Images are always re-encoded: that strips EXIF and every other metadata block (a phone
photo's GPS position must not be published by accident), applies the EXIF orientation first,
and shrinks the image (quality first, then size) until it fits the blob limit. A transparent
image stays PNG when it fits, else it is flattened on white and becomes JPEG. Prepared images
are cached in ``<workspace>/media-cache/`` keyed by a hash of the source bytes and the limit,
so preview and publish never redo the work.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from departures.archive.media import read_media
from departures.bluesky.limits import MediaLimits
from departures.errors import ArchiveError, DeparturesError
from departures.workspace.db import Workspace

__all__ = [
    "DEFAULT_LIMITS",
    "IMAGE_ALT_MAX_GRAPHEMES",
    "VIDEO_ALT_MAX_GRAPHEMES",
    "MediaError",
    "MediaLimits",
    "PreparedMedia",
    "archive_member_sizes",
    "check_video",
    "prepare_upload",
    "shrink_image",
]

#: The official app's limit for an image's alt text (the lexicon sets none).
IMAGE_ALT_MAX_GRAPHEMES = 2000
#: ``app.bsky.embed.video#main.alt`` maxGraphemes.
VIDEO_ALT_MAX_GRAPHEMES = 1000
#: The official app never uploads an image larger than this on its longest side.
MAX_IMAGE_SIDE = 2000
CACHE_DIR = "media-cache"
# Bump when the encoding changes, so old cache entries are not reused.
_CACHE_VERSION = 1


class MediaError(DeparturesError):
    """A media file cannot be prepared for upload (missing, corrupt, too large)."""


#: Safe defaults: the pre-2026 image limit (an older PDS enforces it), the PDS's blob cap for a
#: video, and the app's 3-minute video length.
DEFAULT_LIMITS = MediaLimits()


@dataclass(frozen=True)
class PreparedMedia:
    """Bytes ready to upload, their MIME type and aspect ratio (width, height)."""

    data: bytes
    mime: str
    aspect: tuple[int, int] | None


def check_video(
    duration_ms: int | None, size: int | None, limits: MediaLimits = DEFAULT_LIMITS
) -> str | None:
    """Why a video cannot be uploaded under ``limits`` (a sentence), or None if it can.

    Unknown duration or size pass: the upload checks again.
    """
    if duration_ms is not None and duration_ms > limits.video_max_duration_ms:
        return (
            f"video is {duration_ms / 1000:.0f} s long, over the limit of "
            f"{limits.video_max_duration_ms / 1000:.0f} s"
        )
    if size is not None and size > limits.video_max_bytes:
        return (
            f"video is {size / 1e6:.1f} MB, over the limit of {limits.video_max_bytes / 1e6:.0f} MB"
        )
    return None


def archive_member_sizes(workspace: Workspace) -> dict[str, int]:
    """Size in bytes of every media file the archive holds, by member path (no file read).

    Empty when the archive is not where it was imported from.
    """
    archive = workspace.get_meta("archive_path")
    kind = workspace.get_meta("archive_kind")
    if archive is None or kind is None:
        return {}
    sizes: dict[str, int] = {}
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    sizes[info.filename] = info.file_size
            return sizes
        base = Path(archive) if kind == "dir" else Path(archive).parent
        rows = workspace.conn.execute(
            "SELECT DISTINCT file_path FROM media WHERE file_path IS NOT NULL AND missing = 0"
        )
        for (member,) in rows:
            try:
                sizes[member] = (base / member).stat().st_size
            except OSError:
                continue
    except (OSError, zipfile.BadZipFile):
        return {}
    return sizes


def prepare_upload(
    workspace: Workspace, item: dict[str, Any], limits: MediaLimits = DEFAULT_LIMITS
) -> PreparedMedia:
    """The bytes to upload for one entry of a plan row's ``media`` list.

    Images are re-encoded to fit ``limits.image_max_bytes`` (cached); videos are returned as
    they are after a size check. Raises :class:`MediaError` naming the tweet and file when the
    file is missing, corrupt, or cannot be made to fit.
    """
    member = str(item.get("member") or "")
    kind = item.get("kind")
    where = f"media {member or '?'} of tweet {str(item.get('media_key', '?')).split(':')[0]}"
    if not member:
        raise MediaError(f"The {where} has no file in the archive", "Re-plan without it")
    try:
        source = read_media(workspace, member)
    except ArchiveError as exc:
        raise MediaError(f"The {where} cannot be read: {exc.message}", exc.hint) from exc
    if kind == "video":
        reason = check_video(None, len(source), limits)
        if reason:
            raise MediaError(
                f"The {where} cannot be uploaded: {reason}",
                "Re-plan (it becomes a link card), or raise the server's video limit",
            )
        aspect = item.get("aspect")
        return PreparedMedia(source, "video/mp4", _aspect(aspect))
    return _cached_image(workspace, source, limits.image_max_bytes, where)


def _aspect(value: Any) -> tuple[int, int] | None:
    try:
        w, h = int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def _cached_image(workspace: Workspace, source: bytes, max_bytes: int, where: str) -> PreparedMedia:
    digest = hashlib.sha256(source).hexdigest()[:32]
    stem = f"{digest}-{max_bytes}-v{_CACHE_VERSION}"
    cache = workspace.path / CACHE_DIR
    for hit in sorted(cache.glob(stem + "-*")) if cache.is_dir() else ():
        try:
            size, ext = hit.name[len(stem) + 1 :].split(".", 1)
            w, h = (int(n) for n in size.split("x"))
            data = hit.read_bytes()
        except (ValueError, OSError):
            continue
        if data and len(data) <= max_bytes:
            return PreparedMedia(data, "image/png" if ext == "png" else "image/jpeg", (w, h))
    prepared = shrink_image(source, max_bytes, where=where)
    assert prepared.aspect is not None
    ext = "png" if prepared.mime == "image/png" else "jpg"
    w, h = prepared.aspect
    try:
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / f"{stem}-{w}x{h}.{ext}"
        # Write then rename: a crash never leaves a truncated image that a later run trusts.
        partial = target.with_suffix(".partial")
        partial.write_bytes(prepared.data)
        partial.replace(target)
    except OSError:
        pass  # the cache is an optimisation; a read-only workspace still publishes
    return prepared


def shrink_image(source: bytes, max_bytes: int, *, where: str = "image") -> PreparedMedia:
    """Re-encode ``source`` without metadata so that it fits ``max_bytes``; keep its aspect.

    Raises :class:`MediaError` for data Pillow cannot read (``where`` names it).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source)) as opened:
            opened.seek(0)  # an animated GIF or WebP: its first frame
            image = ImageOps.exif_transpose(opened.copy())
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError(
            f"The {where} is not a readable image ({exc})",
            "Replace the file in the archive or exclude the tweet with --exclude",
        ) from exc
    if image.width > MAX_IMAGE_SIDE or image.height > MAX_IMAGE_SIDE:
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        extrema: Any = rgba.getchannel("A").getextrema()  # (min, max) of one band
        if extrema[0] < 255:  # really transparent somewhere
            png = _encode(rgba, "PNG")
            if len(png) <= max_bytes:
                return PreparedMedia(png, "image/png", rgba.size)
            flat = Image.new("RGB", rgba.size, "white")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            image = flat
    rgb = image.convert("RGB")
    while True:
        for quality in (90, 82, 75, 65):
            data = _encode(rgb, "JPEG", quality=quality)
            if len(data) <= max_bytes:
                return PreparedMedia(data, "image/jpeg", rgb.size)
        if rgb.width <= 16 or rgb.height <= 16:
            raise MediaError(
                f"The {where} cannot be made smaller than {max_bytes} bytes",
                "Replace the file in the archive or exclude the tweet with --exclude",
            )
        # Three quarters per side per step: bytes roughly follow the area.
        rgb = rgb.resize(
            (max(1, int(rgb.width * 0.75)), max(1, int(rgb.height * 0.75))),
            Image.Resampling.LANCZOS,
        )


def _encode(image: Any, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    # No exif=, no icc_profile=, no pnginfo=: Pillow then writes no metadata at all.
    if fmt == "JPEG":
        image.save(buffer, "JPEG", optimize=True, progressive=True, **options)
    else:
        image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()
