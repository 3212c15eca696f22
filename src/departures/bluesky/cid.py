"""Record CIDs computed locally: DAG-CBOR encoding of a record and its CIDv1.

A record's CID is a content hash: CIDv1, codec dag-cbor (0x71), sha2-256 of the record's
canonical DAG-CBOR bytes. The PDS computes it from the JSON it receives after turning
``{"$link": ...}`` into links and ``{"$bytes": ...}`` into bytes; doing the same here lets a
batch hold a whole thread: a reply's strong ref to its parent needs the parent's CID before
the server has seen the parent. The writer checks every CID the server returns against the
one computed here, so a difference can never go unnoticed.

Only what the AT Protocol data model allows is encoded: maps with string keys, lists,
strings, integers, booleans, null, bytes and links. Floats are refused (the data model has
none).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = ["Link", "cid_for_record", "dag_cbor", "decode_cid", "json_to_ipld"]

_DAG_CBOR = 0x71
_SHA256 = 0x12


class Link:
    """A CID link inside a record (what ``{"$link": "bafy..."}`` stands for)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Link) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)


def decode_cid(text: str) -> bytes:
    """The binary form of a base32 (``b...``) CIDv1 string; ``ValueError`` otherwise."""
    if not text.startswith("b") or len(text) < 8:
        raise ValueError(f"not a base32 CIDv1: {text!r}")
    body = text[1:].upper()
    padded = body + "=" * (-len(body) % 8)
    try:
        raw = base64.b32decode(padded)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a base32 CIDv1: {text!r}") from exc
    if raw[0] != 1:
        raise ValueError(f"not a CIDv1: {text!r}")
    return raw


def encode_cid(raw: bytes) -> str:
    """The base32 string of a binary CIDv1."""
    return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def json_to_ipld(value: Any) -> Any:
    """The AT Protocol JSON form of a record turned into data-model values (links, bytes)."""
    if isinstance(value, Mapping):
        if len(value) == 1 and "$link" in value and isinstance(value["$link"], str):
            return Link(decode_cid(value["$link"]))
        if len(value) == 1 and "$bytes" in value and isinstance(value["$bytes"], str):
            encoded = value["$bytes"]
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        return {str(k): json_to_ipld(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_to_ipld(v) for v in value]
    return value


def _head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def _encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        out += _head(0, value) if value >= 0 else _head(1, -1 - value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += _head(3, len(data)) + data
    elif isinstance(value, bytes | bytearray):
        out += _head(2, len(value)) + bytes(value)
    elif isinstance(value, Link):
        payload = b"\x00" + value.raw  # the identity-multibase prefix DAG-CBOR requires
        out += _head(6, 42) + _head(2, len(payload)) + payload
    elif isinstance(value, list | tuple):
        out += _head(4, len(value))
        for item in value:
            _encode(item, out)
    elif isinstance(value, Mapping):
        keys = []
        for key in value:
            if not isinstance(key, str):
                raise TypeError("DAG-CBOR map keys must be strings")
            keys.append((key.encode("utf-8"), key))
        # Canonical order: shorter keys first, then bytewise.
        keys.sort(key=lambda k: (len(k[0]), k[0]))
        out += _head(5, len(keys))
        for encoded, key in keys:
            out += _head(3, len(encoded)) + encoded
            _encode(value[key], out)
    elif isinstance(value, float):
        raise TypeError("the AT Protocol data model has no floats")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as DAG-CBOR")


def dag_cbor(value: Any) -> bytes:
    """The canonical DAG-CBOR bytes of a data-model value."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def cid_for_record(record: Mapping[str, Any]) -> str:
    """The CID the PDS will give ``record`` (its AT Protocol JSON form)."""
    digest = hashlib.sha256(dag_cbor(json_to_ipld(record))).digest()
    return encode_cid(bytes([1, _DAG_CBOR, _SHA256, len(digest)]) + digest)
