"""What the account's server accepts for media: learnt from the server, with safe fallbacks.

* Images: 2,000,000 bytes in the 2026 lexicons, 1,000,000 before. A PDS enforces the
  lexicon it was built with, and only its version (``/xrpc/_health``) tells which: 0.5.35
  (the sandbox's) is verified to take 2 MB images; anything older or unknown gets the
  1,000,000 that every PDS accepts. ``$DEPARTURES_IMAGE_MAX_BYTES`` overrides.
* Video: ``app.bsky.video.getUploadLimits`` where the server has a video service;
  otherwise the mp4 goes up as a plain blob, capped by the PDS's ``blobUploadLimit``
  (``describeServer``) and never above the 50 MB every PDS caps blobs at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["MediaLimits", "media_limits"]

IMAGE_ENV = "DEPARTURES_IMAGE_MAX_BYTES"
IMAGE_MAX_OLD = 1_000_000
IMAGE_MAX_NEW = 2_000_000
PLAIN_BLOB_CAP = 50_000_000
#: The oldest PDS version seen enforcing the 2 MB image lexicon.
FIRST_2MB_PDS = (0, 5, 35)


@dataclass(frozen=True)
class MediaLimits:
    """What the server accepts: blob size of an image, size and length of a video."""

    image_max_bytes: int = 1_000_000
    video_max_bytes: int = 50_000_000
    video_max_duration_ms: int = 180_000


def _version(text: Any) -> tuple[int, ...] | None:
    if not isinstance(text, str):
        return None
    try:
        return tuple(int(part) for part in text.split("-")[0].split("."))
    except ValueError:
        return None


def media_limits(server_info: dict[str, Any], video_limits: dict[str, Any] | None) -> MediaLimits:
    """The limits from ``describeServer``/``_health`` answers and ``getUploadLimits``."""
    override = os.environ.get(IMAGE_ENV)
    version = _version(server_info.get("version"))
    if override and override.isdigit():
        image = int(override)
    elif version is not None and version >= FIRST_2MB_PDS:
        image = IMAGE_MAX_NEW
    else:
        image = IMAGE_MAX_OLD
    blob_cap = server_info.get("blobUploadLimit")
    video = (
        min(PLAIN_BLOB_CAP, blob_cap)
        if isinstance(blob_cap, int) and blob_cap > 0
        else (PLAIN_BLOB_CAP)
    )
    duration = MediaLimits().video_max_duration_ms
    if video_limits and video_limits.get("canUpload") is False:
        video = 0
    return MediaLimits(image_max_bytes=image, video_max_bytes=video, video_max_duration_ms=duration)
