"""Local record CIDs: the same bytes and hash the PDS computes."""

from __future__ import annotations

import libipld
import pytest
from hypothesis import given
from hypothesis import strategies as st

from departures.bluesky.cid import cid_for_record, dag_cbor, json_to_ipld

# A record and the CID the sandbox's PDS (0.5.35) answered for it in applyWrites: text with
# emoji, a facet, langs, and an image blob (a link inside the record).
RECORD = {
    "$type": "app.bsky.feed.post",
    "text": "Héllo 🇧🇪 world https://x.com #tag",
    "createdAt": "2019-01-02T03:04:05.000Z",
    "langs": ["nl", "fr"],
    "facets": [
        {
            "index": {"byteStart": 0, "byteEnd": 6},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://x.com"}],
        }
    ],
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "red",
                "image": {
                    "$type": "blob",
                    "ref": {"$link": "bafkreifryiegdqmu7vyrzhccpudw6bq6frvlffywy4fzhzn6vyjppmr3ii"},
                    "mimeType": "image/jpeg",
                    "size": 637,
                },
                "aspectRatio": {"width": 20, "height": 10},
            }
        ],
    },
}


def test_the_cid_of_a_record_is_the_one_the_pds_computed() -> None:
    assert cid_for_record(RECORD) == "bafyreiffotn7fon43o77eh3r6ik2bs27znub5nt22a6hpvfy7gk3c6js2u"


def test_key_order_does_not_change_the_cid() -> None:
    reordered = dict(reversed(list(RECORD.items())))
    assert cid_for_record(reordered) == cid_for_record(RECORD)


def test_a_different_text_gives_a_different_cid() -> None:
    assert cid_for_record({**RECORD, "text": "other"}) != cid_for_record(RECORD)


def test_links_decode_back_to_the_same_cid() -> None:
    decoded = libipld.decode_dag_cbor(dag_cbor(json_to_ipld(RECORD)))
    ref = decoded["embed"]["images"][0]["image"]["ref"]
    assert libipld.encode_cid(ref) == RECORD["embed"]["images"][0]["image"]["ref"]["$link"]


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="floats"):
        dag_cbor({"a": 1.5})


values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text() | st.binary(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_encoding_matches_the_reference_dag_cbor_codec(value: object) -> None:
    assert dag_cbor(value) == libipld.encode_dag_cbor(value)
