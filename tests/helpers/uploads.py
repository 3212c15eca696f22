"""The small X archive files people upload to the coalition's pages (account.js, the
following list, a zip of them), made by hand for the upload tests."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any


def ytd_file(global_name: str, items: list[Any]) -> bytes:
    """A data file as X writes it: ``window.YTD.<global_name>.part0 = <JSON>``."""
    return f"window.YTD.{global_name}.part0 = ".encode() + json.dumps(items).encode()


def account_js(x_id: str, username: str, **fields: str) -> bytes:
    """account.js of one X account (``fields``: more keys of its entry, e-mail for one)."""
    return ytd_file("account", [{"account": {"accountId": x_id, "username": username, **fields}}])


def following_js(*ids: str, links: bool = False) -> bytes:
    """following.js of the X accounts ``ids`` (with their ``userLink`` when ``links``)."""
    entries: list[dict[str, str]] = [
        {"accountId": x_id, "userLink": f"https://x.com/i/{x_id}"} if links else {"accountId": x_id}
        for x_id in ids
    ]
    return ytd_file("following", [{"following": entry} for entry in entries])


def archive_zip(files: dict[str, bytes]) -> bytes:
    """A zip (deflated) holding ``files`` by name."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()
