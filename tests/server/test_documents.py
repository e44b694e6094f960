"""LSP positions to offsets in every encoding clients negotiate, and bad positions that must not raise."""

from __future__ import annotations

import pytest
from lsprotocol import types

from server.documents import (
    MAX_SNIPPET_DOCUMENT_CHARS,
    MAX_SNIPPET_DOCUMENTS,
    chars_in_units,
    encoding_name,
    offset_at,
    other_documents,
    position_at,
)

TEXT = "def f():\n    s = 'a😀é'\r\n    return s\n"


@pytest.mark.parametrize(("encoding", "character", "expected_char"), [
    ("utf-16", 10, "😀"), ("utf-16", 12, "é"), ("utf-16", 11, "😀"),  # 11 is half of the surrogate pair
    ("utf-8", 10, "😀"), ("utf-8", 14, "é"), ("utf-8", 12, "😀"),  # 12 is inside the emoji's 4 bytes
    ("utf-32", 10, "😀"), ("utf-32", 11, "é"),
])
def test_characters_are_counted_in_the_negotiated_encoding(encoding: str, character: int, expected_char: str) -> None:
    assert TEXT[offset_at(TEXT, 1, character, encoding)] == expected_char


def test_positions_past_the_end_clamp_to_what_exists() -> None:
    line_end = TEXT.index("\r\n")
    assert offset_at(TEXT, 1, 999) == line_end  # past the line: its end, before CRLF
    assert offset_at(TEXT, 40, 0) == len(TEXT)  # past the document: its end
    assert offset_at(TEXT, -3, -7) == 0
    assert offset_at("", 5, 5) == 0
    assert offset_at("no newline", 0, 99) == len("no newline")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_position_at_is_the_inverse_of_offset_at(encoding: str) -> None:
    for offset in range(len(TEXT) + 1):
        if TEXT[offset - 1:offset] == "\r":
            continue  # inside a CRLF: no LSP position points there
        line, character = position_at(TEXT, offset, encoding)
        assert offset_at(TEXT, line, character, encoding) == offset


def test_accepted_length_in_utf16_units_becomes_characters() -> None:
    assert chars_in_units("a😀b", 3) == 2
    assert chars_in_units("a😀b", 2) == 1  # half an emoji is not a character
    assert chars_in_units("abc", 99) == 3


def test_other_documents_skip_the_current_one_empty_and_huge_ones_and_are_capped() -> None:
    docs = [("file:///cur.py", "cur.py", "x = 1\n"), ("file:///empty.py", "empty.py", "  \n"),
            ("file:///huge.py", "huge.py", "x" * (MAX_SNIPPET_DOCUMENT_CHARS + 1))]
    docs += [(f"file:///m{i}.py", f"m{i}.py", f"v{i} = {i}\n") for i in range(MAX_SNIPPET_DOCUMENTS + 5)]
    chosen = other_documents("file:///cur.py", docs)
    assert [path for path, _ in chosen] == [f"m{i}.py" for i in range(MAX_SNIPPET_DOCUMENTS)]


def test_the_negotiated_encoding_is_read_from_the_lsp_enum_or_a_string() -> None:
    assert encoding_name(types.PositionEncodingKind.Utf8) == "utf-8"  # str() of this enum is not its value
    assert encoding_name(types.PositionEncodingKind.Utf32) == "utf-32"
    assert encoding_name("utf-16") == "utf-16"
    assert encoding_name(None) == "utf-16"
    assert encoding_name("ebcdic") == "utf-16"
