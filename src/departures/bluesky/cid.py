"""Record CIDs computed locally: DAG-CBOR encoding of a record and its CIDv1.

A record's CID is a content hash: CIDv1, codec dag-cbor (0x71), sha2-256 of the record's
canonical DAG-CBOR bytes. The PDS computes it from the JSON it receives after turning
``{"$link": ...}`` into links and ``{"$bytes": ...}`` into bytes; doing the same here lets a
batch hold a whole thread: a reply's strong ref to its parent needs the parent's CID before
the server has seen the parent. The writer checks every CID the server returns against the
one computed here, so a difference can never go unnoticed.

The encoding itself is ``libipld``'s (the Rust codec the ``atproto`` SDK uses); this module
only turns the AT Protocol's JSON form into what that codec takes, and guards the two places
where the codec is more lenient than the AT Protocol data model (see
``docs/bluesky-facts.md``, "Record CIDs"):

- floats are refused (the data model has none; libipld would encode them);
- libipld has no link type: it writes a byte string as a link whenever the bytes *start*
  like a binary CID. A link is therefore handed over as its raw CID bytes, and a real byte
  string that libipld would take for a link is refused rather than silently hashed as one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import libipld

__all__ = ["Link", "cid_for_record", "dag_cbor", "decode_cid", "encode_cid", "json_to_ipld"]

_DAG_CBOR = 0x71
_SHA256 = 0x12
_SHA256_SIZE = 32
#: The first byte of a CBOR tag with a one-byte number: how libipld starts a link (tag 42).
_TAG_HEAD = 0xD8


class Link:
    """A CID link inside a record (what ``{"$link": "bafy..."}`` stands for)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Link) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __repr__(self) -> str:
        return f"Link({encode_cid(self.raw)!r})"


def decode_cid(text: str) -> bytes:
    """The binary form of a base32 (``b...``) CIDv1 string; ``ValueError`` otherwise."""
    if not text.startswith("b") or len(text) < 8:
        raise ValueError(f"not a base32 CIDv1: {text!r}")
    try:
        _, raw = libipld.decode_multibase(text)
        parsed = libipld.decode_cid(raw)
    except ValueError as exc:
        raise ValueError(f"not a base32 CIDv1: {text!r}") from exc
    if parsed["version"] != 1:
        raise ValueError(f"not a CIDv1: {text!r}")
    return raw


def encode_cid(raw: bytes) -> str:
    """The base32 string of a binary CIDv1."""
    return libipld.encode_cid(raw)


def json_to_ipld(value: Any) -> Any:
    """The AT Protocol JSON form of a record turned into data-model values (links, bytes)."""
    if isinstance(value, Mapping):
        if len(value) == 1 and "$link" in value and isinstance(value["$link"], str):
            return Link(decode_cid(value["$link"]))
        if len(value) == 1 and "$bytes" in value and isinstance(value["$bytes"], str):
            return _json_bytes(value["$bytes"])
        return {str(k): json_to_ipld(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_to_ipld(v) for v in value]
    return value


def _json_bytes(encoded: str) -> bytes:
    # The AT Protocol writes ``$bytes`` as base64 without padding.
    return base64.b64decode(encoded + "=" * (-len(encoded) % 4))


def _is_link_to_libipld(raw: bytes) -> bool:
    """Whether libipld writes ``raw`` as a link (tag 42) rather than as a byte string.

    Asked of libipld itself rather than re-deriving its rule, so a change in its rule shows
    here. Byte strings are rare in records (blob refs are links), so the extra call is cheap.
    """
    return libipld.encode_dag_cbor(raw)[0] == _TAG_HEAD


def _link_bytes(raw: bytes) -> bytes:
    if not _is_link_to_libipld(raw):
        raise ValueError(f"not a binary CID: {raw[:8].hex()}...")
    return raw


def _plain_bytes(raw: bytes) -> bytes:
    if _is_link_to_libipld(raw):
        raise ValueError(
            "a byte string that begins like a CID cannot be encoded unambiguously "
            "(libipld would write it as a link)"
        )
    return raw


def _for_libipld(value: Any) -> Any:
    """A data-model value as libipld takes it: plain dicts and lists, links as CID bytes."""
    # bool before int: bool is a subclass of int and both pass through unchanged.
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("DAG-CBOR map keys must be strings")
            out[key] = _for_libipld(item)
        return out
    if isinstance(value, list | tuple):
        return [_for_libipld(item) for item in value]
    if isinstance(value, Link):
        return _link_bytes(value.raw)
    if isinstance(value, bytes | bytearray):
        return _plain_bytes(bytes(value))
    if isinstance(value, float):
        raise TypeError("the AT Protocol data model has no floats")
    raise TypeError(f"cannot encode {type(value).__name__} as DAG-CBOR")


def _json_for_libipld(value: Any) -> Any:
    """:func:`json_to_ipld` and :func:`_for_libipld` in one walk (the writer's hot path)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            if isinstance(link := value.get("$link"), str):
                return _link_bytes(decode_cid(link))
            if isinstance(data := value.get("$bytes"), str):
                return _plain_bytes(_json_bytes(data))
        return {str(k): _json_for_libipld(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_for_libipld(v) for v in value]
    return _for_libipld(value)


def _encode(value: Any) -> bytes:
    try:
        return libipld.encode_dag_cbor(value)
    except ValueError as exc:  # out-of-range integers; the rest was refused before
        raise ValueError(f"cannot encode as DAG-CBOR: {exc}") from exc


def dag_cbor(value: Any) -> bytes:
    """The canonical DAG-CBOR bytes of a data-model value (links as :class:`Link`)."""
    return _encode(_for_libipld(value))


def cid_for_record(record: Mapping[str, Any]) -> str:
    """The CID the PDS will give ``record`` (its AT Protocol JSON form)."""
    digest = hashlib.sha256(_encode(_json_for_libipld(record))).digest()
    return encode_cid(bytes([1, _DAG_CBOR, _SHA256, _SHA256_SIZE]) + digest)
