"""Documents as the server sees them: LSP positions to offsets, and the other open files used as context.

Positions come from clients in the negotiated encoding (UTF-16 by default, UTF-8 for Neovim 0.11,
UTF-32). Every conversion here is total: a line past the end means the end of the document, a character
past the end of its line means the end of the line, and an offset inside a multi-unit character (half a
surrogate pair, a byte inside a UTF-8 sequence) falls back to the start of that character. A bad
position therefore never raises; it completes at the nearest place that exists.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_SNIPPET_DOCUMENT_CHARS = 500_000
"""Other open documents larger than this are not searched for snippets (mining skips such files too)."""

MAX_SNIPPET_DOCUMENTS = 10
"""Search at most this many other open documents, the most recently used first (bounds the work a keystroke costs)."""


def encoding_name(kind: object) -> str:
    """'utf-8', 'utf-16' or 'utf-32' for a negotiated `PositionEncodingKind` (or its string); UTF-16 by default."""
    name = str(getattr(kind, "value", kind) or "utf-16").lower()
    return name if name in ("utf-8", "utf-16", "utf-32") else "utf-16"


def units(ch: str, encoding: str) -> int:
    """Code units one character takes in `encoding` ('utf-8', 'utf-16' or 'utf-32')."""
    cp = ord(ch)
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    if encoding == "utf-32":
        return 1
    return 2 if cp >= 0x10000 else 1


def chars_in_units(text: str, count: int, encoding: str = "utf-16") -> int:
    """How many characters of `text` fit in its first `count` code units (a partial character is not counted)."""
    if encoding == "utf-32":
        return max(0, min(count, len(text)))
    used = 0
    for i, ch in enumerate(text):
        used += units(ch, encoding)
        if used > count:
            return i
    return len(text)


def units_in(text: str, encoding: str = "utf-16") -> int:
    """Length of `text` in code units of `encoding`."""
    if encoding == "utf-32":
        return len(text)
    return sum(units(ch, encoding) for ch in text)


def offset_at(text: str, line: int, character: int, encoding: str = "utf-16") -> int:
    """Code-point offset in `text` of an LSP position (0-based line and character in `encoding` units)."""
    if line < 0:
        return 0
    start = 0
    for _ in range(line):
        newline = text.find("\n", start)
        if newline < 0:
            return len(text)  # the line does not exist: the end of the document
        start = newline + 1
    end = text.find("\n", start)
    if end < 0:
        end = len(text)
    if end > start and text[end - 1] == "\r":
        end -= 1  # CRLF: the \r belongs to the line break, not the line
    return start + chars_in_units(text[start:end], max(0, character), encoding)


def position_at(text: str, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
    """The LSP position (line, character in `encoding` units) of code-point `offset` in `text`."""
    offset = max(0, min(offset, len(text)))
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, units_in(text[start:offset], encoding)


def other_documents(current: str, documents: Iterable[tuple[str, str, str]]) -> tuple[tuple[str, str], ...]:
    """(path, text) of open documents worth searching for snippets: not `current`, not huge, at most a few.

    `documents` holds (uri, path, text), most recently used first.
    """
    out: list[tuple[str, str]] = []
    for uri, path, text in documents:
        if uri == current or not text.strip() or len(text) > MAX_SNIPPET_DOCUMENT_CHARS:
            continue
        out.append((path, text))
        if len(out) == MAX_SNIPPET_DOCUMENTS:
            break
    return tuple(out)
