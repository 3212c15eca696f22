"""DAG-CBOR through libipld: byte for byte what the hand-written encoder it replaced produced.

The reference below is the project's former encoder (``bluesky/cid.py`` before libipld),
kept here only as the yardstick. Every record kind the project writes is encoded both ways
and must give the same bytes and the same CID; the CIDs are also pinned as literals, so
the test still means something if the reference is ever dropped.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

import libipld
import pytest
from hypothesis import given
from hypothesis import strategies as st

from departures.bluesky.cid import (
    Link,
    cid_for_record,
    dag_cbor,
    decode_cid,
    encode_cid,
    json_to_ipld,
)

# --- the former encoder, the reference -------------------------------------------------


class _RefLink:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def _ref_decode_cid(text: str) -> bytes:
    body = text[1:].upper()
    raw = base64.b32decode(body + "=" * (-len(body) % 8))
    assert raw[0] == 1
    return raw


def _ref_json_to_ipld(value: Any) -> Any:
    if isinstance(value, Mapping):
        if len(value) == 1 and "$link" in value and isinstance(value["$link"], str):
            return _RefLink(_ref_decode_cid(value["$link"]))
        if len(value) == 1 and "$bytes" in value and isinstance(value["$bytes"], str):
            encoded = value["$bytes"]
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4))
        return {str(k): _ref_json_to_ipld(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_ref_json_to_ipld(v) for v in value]
    return value


def _ref_head(major: int, length: int) -> bytes:
    if length < 24:
        return bytes([major << 5 | length])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if length < 1 << (8 * size):
            return bytes([major << 5 | extra]) + length.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def _ref_encode(value: Any, out: bytearray) -> None:
    if value is None:
        out.append(0xF6)
    elif value is True:
        out.append(0xF5)
    elif value is False:
        out.append(0xF4)
    elif isinstance(value, int):
        out += _ref_head(0, value) if value >= 0 else _ref_head(1, -1 - value)
    elif isinstance(value, str):
        data = value.encode("utf-8")
        out += _ref_head(3, len(data)) + data
    elif isinstance(value, bytes | bytearray):
        out += _ref_head(2, len(value)) + bytes(value)
    elif isinstance(value, _RefLink):
        payload = b"\x00" + value.raw
        out += _ref_head(6, 42) + _ref_head(2, len(payload)) + payload
    elif isinstance(value, list | tuple):
        out += _ref_head(4, len(value))
        for item in value:
            _ref_encode(item, out)
    elif isinstance(value, Mapping):
        keys = sorted(((k.encode("utf-8"), k) for k in value), key=lambda k: (len(k[0]), k[0]))
        out += _ref_head(5, len(keys))
        for encoded, key in keys:
            out += _ref_head(3, len(encoded)) + encoded
            _ref_encode(value[key], out)
    else:
        raise TypeError(type(value).__name__)


def _ref_dag_cbor(value: Any) -> bytes:
    out = bytearray()
    _ref_encode(value, out)
    return bytes(out)


def _ref_cid(record: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(_ref_dag_cbor(_ref_json_to_ipld(record))).digest()
    raw = bytes([1, 0x71, 0x12, 32]) + digest
    return "b" + base64.b32encode(raw).decode("ascii").rstrip("=").lower()


# --- the records -------------------------------------------------------------------------

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
ROOT = {
    "uri": f"at://{DID}/app.bsky.feed.post/3l3qo2vutsw2b",
    "cid": "bafyreiffotn7fon43o77eh3r6ik2bs27znub5nt22a6hpvfy7gk3c6js2u",
}
PARENT = {
    "uri": f"at://{DID}/app.bsky.feed.post/3l3qo2vuxyz2c",
    "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvactxdizbzmsmsbxe",
}
BLOB = {
    "$type": "blob",
    "ref": {"$link": "bafkreifryiegdqmu7vyrzhccpudw6bq6frvlffywy4fzhzn6vyjppmr3ii"},
    "mimeType": "image/jpeg",
    "size": 637,
}
BIG_BLOB = {
    "$type": "blob",
    "ref": {"$link": "bafkreibme22gw2h7y2h7tg2fhqotaqjucnbc24deqo72b6mkl2egezxhvy"},
    "mimeType": "image/png",
    "size": 1_999_999,
}
CREATED = "2019-01-02T03:04:05.000Z"

RECORDS: dict[str, dict[str, Any]] = {
    "plain, ascii": {"$type": "app.bsky.feed.post", "text": "hello", "createdAt": CREATED},
    "non-ascii text and langs": {
        "$type": "app.bsky.feed.post",
        "text": "Solidarité ✊ — Ökologie, ‘ciao’ 日本語 👩🏽‍🌾 🇧🇪\n\n#départ",
        "createdAt": CREATED,
        "langs": ["fr", "de", "ja"],
    },
    "facets: link, mention, tag, byte offsets past multibyte text": {
        "$type": "app.bsky.feed.post",
        "text": "Für @ngo.example → https://example.org/ärger #Klima",
        "createdAt": CREATED,
        "facets": [
            {
                "index": {"byteStart": 5, "byteEnd": 17},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": DID}],
            },
            {
                "index": {"byteStart": 22, "byteEnd": 49},
                "features": [
                    {
                        "$type": "app.bsky.richtext.facet#link",
                        "uri": "https://example.org/%C3%A4rger",
                    }
                ],
            },
            {
                "index": {"byteStart": 50, "byteEnd": 56},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "Klima"}],
            },
        ],
    },
    "reply in a thread": {
        "$type": "app.bsky.feed.post",
        "text": "2/ and the answer",
        "createdAt": CREATED,
        "reply": {"root": ROOT, "parent": PARENT},
    },
    "images with blob refs, alt text and aspect ratios": {
        "$type": "app.bsky.feed.post",
        "text": "",
        "createdAt": CREATED,
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [
                {"alt": "rouge", "image": BLOB, "aspectRatio": {"width": 20, "height": 10}},
                {"alt": "", "image": BIG_BLOB, "aspectRatio": {"width": 4032, "height": 3024}},
            ],
        },
    },
    "external link card with thumbnail": {
        "$type": "app.bsky.feed.post",
        "text": "Read this",
        "createdAt": CREATED,
        "embed": {
            "$type": "app.bsky.embed.external",
            "external": {
                "uri": "https://example.org/report",
                "title": "Rapport annuel 2024 — résumé",
                "description": "x" * 300,
                "thumb": BLOB,
            },
        },
    },
    "quote (record embed)": {
        "$type": "app.bsky.feed.post",
        "text": "Quoting ourselves",
        "createdAt": CREATED,
        "embed": {"$type": "app.bsky.embed.record", "record": ROOT},
    },
    "quote with media (recordWithMedia), as a reply, with facets": {
        "$type": "app.bsky.feed.post",
        "text": "Voir https://example.org",
        "createdAt": CREATED,
        "langs": ["fr"],
        "reply": {"root": ROOT, "parent": ROOT},
        "facets": [
            {
                "index": {"byteStart": 5, "byteEnd": 24},
                "features": [
                    {"$type": "app.bsky.richtext.facet#link", "uri": "https://example.org"}
                ],
            }
        ],
        "embed": {
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": PARENT},
            "media": {
                "$type": "app.bsky.embed.images",
                "images": [{"alt": "photo", "image": BLOB}],
            },
        },
    },
    "follow": {"$type": "app.bsky.graph.follow", "subject": DID, "createdAt": CREATED},
    "key order: length first, then bytes, in UTF-8 not in characters": {
        # "é" is one character but two bytes: it sorts with the two-byte keys, after "z";
        # "B" < "a" bytewise; "aa" after every one-byte key however they compare as text.
        "é": 1,
        "z": 2,
        "aa": 3,
        "a": 4,
        "B": 5,
        "": 6,
        "zz": {"b": [], "a": {}, "ab": None, "A": True, "$type": False},
        "\U0001f600": "four bytes",
        "abcd": "four too",
    },
    "integers at the CBOR size boundaries": {
        "n": [0, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1],
        "negative": [-1, -24, -25, -256, -257, -(2**32), -(2**63)],
        "long text": "é" * 40_000,
        "bytes": {"$bytes": "aGVsbG8gd29ybGQ"},
        "flags": [True, False, None],
    },
}

# The CIDs the former encoder gave these records (captured before it was replaced).
GOLDEN_CIDS = {
    "plain, ascii": "bafyreid7lycmlady7u6qe2vqu45ewr7kgjix7zqtcjvaixaffrajxnjlnm",
    "non-ascii text and langs": "bafyreihvsui2qyn3nvvear46vhysofvif3u7cbsv7seefmgc6ju2m375qa",
    "facets: link, mention, tag, byte offsets past multibyte text": (
        "bafyreic5agivzz7ycr4yupdbvysz2zsds3l2k3hb2fyg2dkxzfbv3uwbmi"
    ),
    "reply in a thread": "bafyreiaqeavmwzdo6ojrcn2nahvod5hh3uhorhp233frnecbai6fe6nika",
    "images with blob refs, alt text and aspect ratios": (
        "bafyreie6j7yo4phh5hbib4j45l3u2ea5t6qpey2ilyxbwuivriylp6zbny"
    ),
    "external link card with thumbnail": (
        "bafyreibahess33lp7j7re5votsaizzjwsadnf5s2wdpq6ic3w2r24yo3py"
    ),
    "quote (record embed)": "bafyreibak4owrh6h7kpwsyaeiqleqv7djcapl4y6mspxahzjgnzldn334m",
    "quote with media (recordWithMedia), as a reply, with facets": (
        "bafyreiag46ibwpy2i4mh6pjf2iofwucz4wvtwf53x7xo22r73pqeike47u"
    ),
    "follow": "bafyreieknwirfsphprzycptdznklg7dpcpyclhjjvnmjq64jna32auh3cm",
    "key order: length first, then bytes, in UTF-8 not in characters": (
        "bafyreiclwmyitn2xkxsjklalbpsnnelho43hkacya3jfkjfelya5vdqwwi"
    ),
    "integers at the CBOR size boundaries": (
        "bafyreieizdohdh3oll452ys4nwflkkdgtp4qkfp5qajyyozprprki2mp4i"
    ),
}

# A record whose CID the sandbox's PDS (0.5.35) answered in applyWrites, and the exact bytes
# the former encoder wrote for it.
PDS_RECORD = {
    "$type": "app.bsky.feed.post",
    "text": "Héllo 🇧🇪 world https://x.com #tag",
    "createdAt": CREATED,
    "langs": ["nl", "fr"],
    "facets": [
        {
            "index": {"byteStart": 0, "byteEnd": 6},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://x.com"}],
        }
    ],
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [{"alt": "red", "image": BLOB, "aspectRatio": {"width": 20, "height": 10}}],
    },
}
PDS_CID = "bafyreiffotn7fon43o77eh3r6ik2bs27znub5nt22a6hpvfy7gk3c6js2u"
GOLDEN_PDS_RECORD_HEX = (
    "a66474657874782848c3a96c6c6f20f09f87a7f09f87aa20776f726c642068747470733a2f2f782e636f"
    "6d2023746167652474797065726170702e62736b792e666565642e706f737465656d626564a265247479"
    "7065756170702e62736b792e656d6265642e696d6167657366696d6167657381a363616c746372656465"
    "696d616765a463726566d82a58250001551220b1c20861c194fd711c9c427d076f061e2c6ab29716c70b"
    "93e5beae12f7b23b426473697a6519027d65247479706564626c6f62686d696d65547970656a696d6167"
    "652f6a7065676b617370656374526174696fa265776964746814666865696768740a656c616e67738262"
    "6e6c6266726666616365747381a265696e646578a26762797465456e6406696279746553746172740068"
    "666561747572657381a2637572696d68747470733a2f2f782e636f6d652474797065781c6170702e6273"
    "6b792e72696368746578742e6661636574236c696e6b696372656174656441747818323031392d30312d"
    "30325430333a30343a30352e3030305a"
)


@pytest.mark.parametrize("name", list(RECORDS))
def test_libipld_writes_the_same_bytes_as_the_former_encoder(name: str) -> None:
    record = RECORDS[name]
    assert dag_cbor(json_to_ipld(record)) == _ref_dag_cbor(_ref_json_to_ipld(record))


@pytest.mark.parametrize("name", list(RECORDS))
def test_libipld_gives_the_same_cid_as_the_former_encoder(name: str) -> None:
    record = RECORDS[name]
    assert cid_for_record(record) == _ref_cid(record) == GOLDEN_CIDS[name]


@pytest.mark.parametrize("name", list(RECORDS))
def test_the_cid_does_not_depend_on_the_order_keys_were_inserted(name: str) -> None:
    def reversed_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reversed_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(v) for v in value]
        return value

    assert cid_for_record(reversed_keys(RECORDS[name])) == cid_for_record(RECORDS[name])


def test_the_record_the_pds_hashed_encodes_to_the_captured_bytes() -> None:
    assert dag_cbor(json_to_ipld(PDS_RECORD)).hex() == GOLDEN_PDS_RECORD_HEX
    assert cid_for_record(PDS_RECORD) == PDS_CID


def test_cid_strings_round_trip_through_libipld() -> None:
    text = BLOB["ref"]["$link"]  # type: ignore[index]
    raw = decode_cid(text)
    assert raw[:4] == bytes([1, 0x55, 0x12, 32])  # CIDv1, raw codec, sha2-256, 32 bytes
    assert encode_cid(raw) == text
    assert libipld.decode_cid(cid_for_record(RECORDS["follow"]))["codec"] == 0x71


@pytest.mark.parametrize(
    "text", ["", "b", "bafy!!!!!!!!", "QmUGhP2X8xo9dsj45vqx1H6i5WqPqLqmLQsHTTxd3ke8mp"]
)
def test_what_is_not_a_base32_cidv1_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="CIDv1"):
        decode_cid(text)


def test_a_byte_string_libipld_would_take_for_a_link_is_refused() -> None:
    # libipld has no link type: bytes that begin like a binary CID are written as a link,
    # which would hash to a CID the PDS never computes.
    looks_like_a_cid = bytes([1, 0x71, 0x12, 0x00])
    assert libipld.encode_dag_cbor(looks_like_a_cid)[0] == 0xD8  # the reason for the guard
    with pytest.raises(ValueError, match="begins like a CID"):
        dag_cbor({"data": looks_like_a_cid})
    with pytest.raises(ValueError, match="begins like a CID"):
        cid_for_record({"data": {"$bytes": base64.b64encode(looks_like_a_cid).decode()}})


def test_a_link_that_is_not_a_cid_is_refused() -> None:
    with pytest.raises(ValueError, match="not a binary CID"):
        dag_cbor({"ref": Link(b"\x02nonsense")})


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"a": 1.5}, TypeError),
        ({1: "a"}, TypeError),
        ({"a": object()}, TypeError),
        ({"a": 2**64}, ValueError),
        ({"a": -(2**64) - 1}, ValueError),
    ],
)
def test_what_the_data_model_cannot_hold_is_refused(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        dag_cbor(value)


def _not_cid_like(value: Any) -> bool:
    if isinstance(value, bytes):
        return libipld.encode_dag_cbor(value)[0] != 0xD8
    if isinstance(value, dict):
        return all(_not_cid_like(v) for v in value.values())
    if isinstance(value, list):
        return all(_not_cid_like(v) for v in value)
    return True


values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64 - 1)
    | st.text()
    | st.binary().filter(_not_cid_like),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_any_data_model_value_encodes_as_the_former_encoder_did(value: Any) -> None:
    assert dag_cbor(value) == _ref_dag_cbor(value)


@given(st.binary(min_size=32, max_size=32), st.sampled_from([0x55, 0x71]))
def test_any_link_encodes_as_the_former_encoder_did(digest: bytes, codec: int) -> None:
    raw = bytes([1, codec, 0x12, 32]) + digest
    assert dag_cbor({"ref": Link(raw)}) == _ref_dag_cbor({"ref": _RefLink(raw)})
