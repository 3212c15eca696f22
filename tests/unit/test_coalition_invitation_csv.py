"""Reading the coordinator's CSV of organisations to invite, as spreadsheets export it, and
the invitation link's token."""

from __future__ import annotations

import pytest

from departures.coalition.errors import BadInput
from departures.coalition.invitations import (
    MAX_CSV_ROWS,
    check_invitee,
    invitation_token,
    parse_csv,
)


def test_a_belgian_spreadsheet_export_is_read() -> None:
    # Excel in nl-BE/fr-BE: a byte-order mark, semicolons, CRLF, a header in Dutch.
    data = (
        "\ufeffNaam;E-mail;Website\r\n"
        "Oxfam België;info@oxfam.example;oxfam.example\r\n"
        ";;\r\n"
        '"Ligue des droits humains; LDH";ldh@ldh.example;https://ldh.example/\r\n'
    ).encode()
    invitees = parse_csv(data)
    assert [(i.line, i.name, i.email, i.website) for i in invitees] == [
        (2, "Oxfam België", "info@oxfam.example", "https://oxfam.example"),
        (4, "Ligue des droits humains; LDH", "ldh@ldh.example", "https://ldh.example/"),
    ]


def test_columns_follow_the_header_and_commas_work_without_one() -> None:
    with_header = parse_csv(b"courriel,nom\nldh@ldh.example,LDH\n")
    assert [(i.name, i.email, i.website) for i in with_header] == [("LDH", "ldh@ldh.example", "")]
    without = parse_csv(b"Oxfam,info@oxfam.example,https://oxfam.example\n")
    assert [(i.line, i.name) for i in without] == [(1, "Oxfam")]


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (
            b"Oxfam;info@oxfam.example;\nBad;not-an-address;\n",
            "row 2: “not-an-address” is not an e-mail address",
        ),
        (b"name;email\nOxfam;info@oxfam.example\n;x@y.example\n", "row 3: the name"),
        (b"Oxfam;info@oxfam.example;a;b\n", "row 1 has 4 columns"),
        (b"Oxfam\n", "row 1 has 1 column;"),
        (
            b"Oxfam;info@oxfam.example;javascript:alert(1)\n",
            "row 1: “javascript:alert(1)” is not a web address",
        ),
        ("Caf\u00e9;cafe@example.org;\n".encode("cp1252"), "not UTF-8 text (row 1"),
        (b"\n\n", "the file has no rows"),
        (b"PK\x03\x04\x00\x00", "not a CSV text file"),
    ],
)
def test_a_bad_file_names_its_row_and_imports_nothing(data: bytes, said: str) -> None:
    with pytest.raises(BadInput) as refused:
        parse_csv(data)
    assert said in refused.value.message
    assert "nothing was imported" in (refused.value.hint or "")


def test_too_many_rows_are_refused() -> None:
    rows = "".join(f"Org {n};org{n}@example.org;\n" for n in range(MAX_CSV_ROWS + 1))
    with pytest.raises(BadInput) as refused:
        parse_csv(rows.encode())
    assert "at most 500" in refused.value.message


def test_one_organisation_from_a_form_is_checked_without_a_row_number() -> None:
    assert check_invitee(" Oxfam ", "info@oxfam.example", "").name == "Oxfam"
    with pytest.raises(BadInput) as refused:
        check_invitee("Oxfam", "", "")
    assert refused.value.message == "the e-mail address is missing"


def test_the_token_is_derived_from_the_key_and_the_nonce() -> None:
    token = invitation_token(b"key", "abc")
    assert token == invitation_token(b"key", "abc")
    assert token != invitation_token(b"other key", "abc")
    assert token != invitation_token(b"key", "abd")
    assert len(token) == 43 and "=" not in token
