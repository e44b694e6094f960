"""Snippets for many examples of one commit, ranked exactly as `assistant.snippets.rank_snippets` ranks them.

The server ranks windows of the other open files once per request. The miner asks the same question once
per example, against the same few files of a commit, for thousands of commits: calling `rank_snippets`
each time would cut the same windows and collect the same identifiers again and again, the largest cost
of mining. This index cuts a commit's windows once, collects identifiers per line (remembered across
versions of a file, which share most lines) and joins a window's text only when it is picked. The
windows, the identifiers, the score (Jaccard) and the order (best score, then path; one window per file;
`min_score`) are those of `assistant.snippets`; the test suite checks that `rank` returns what
`rank_snippets` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import reduce
from itertools import repeat
from operator import add, or_, sub, truediv

from assistant.prompt import Snippet
from assistant.snippets import identifiers

LINES_REMEMBERED = 200_000
"""Lines whose identifiers are kept, over all files (emptied when full)."""


class _LineIds(dict[str, frozenset[str]]):
    """Identifiers per line, computed on first lookup and remembered."""

    def __missing__(self, line: str) -> frozenset[str]:
        ids = self[line] = identifiers(line)
        return ids


class _FileBits(dict[str, int]):
    """The identifiers of one file's lines as bits of an int, one bit per identifier of its history.

    A window's identifier set is then the OR of its lines' masks and |q & W| the bit count of an AND:
    one operation in C each, where sets would hash every identifier again.
    """

    def __init__(self) -> None:
        super().__init__()
        self.bit: dict[str, int] = {}

    def __missing__(self, line: str) -> int:
        mask = 0
        for ident in _line_ids[line]:
            bit = self.bit.get(ident)
            if bit is None:
                bit = self.bit[ident] = 1 << len(self.bit)
            mask |= bit
        self[line] = mask
        return mask

    def query(self, q: frozenset[str]) -> int:
        """`q` as a mask of this file's bits (identifiers the file never had match no window)."""
        return sum(filter(None, map(self.bit.get, q)))  # distinct powers of two: the sum is the OR


_line_ids = _LineIds()
_files: dict[str, _FileBits] = {}


def _bits_of(path: str) -> _FileBits:
    if len(_line_ids) >= LINES_REMEMBERED:
        _line_ids.clear()
        _files.clear()
    bits = _files.get(path)
    if bits is None:
        bits = _files[path] = _FileBits()
    return bits


WINDOW = 20
STRIDE = 10
QUERY_LINES = 20
"""`rank_snippets`' and `query_of`'s defaults: windows of 20 lines every 10 lines (each one two blocks of 10
lines), and the last 20 lines of the prefix as the query."""


def _tail(text: str, newlines: int) -> str:
    """The end of `text` from its `newlines`-th last "\\n" (or all of it): it holds at least the last
    `newlines - 1` lines however `str.splitlines` cuts them (other line breaks only make lines shorter),
    so `query_of` gives the same query for it as for the whole prefix, without splitting 4,000 characters."""
    pos = len(text)
    for _ in range(newlines):
        pos = text.rfind("\n", 0, pos)
        if pos < 0:
            return text
    return text[pos + 1:]


def query_ids(prefix: str) -> frozenset[str]:
    """`identifiers(query_of(prefix))`, from the remembered identifiers of each line."""
    lines = _tail(prefix, QUERY_LINES + 1).splitlines()[-QUERY_LINES:]
    return frozenset().union(*map(_line_ids.__getitem__, lines))


_ASCII_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"
"""The line breaks of `str.splitlines` besides "\\n" below 128 (the others, \\x85 and \\u2028-9, are not ASCII)."""


def lines_of(text: str, split: list[str] | None = None) -> list[str]:
    """`text.splitlines()`; from `split` (`text.split("\\n")`) when given and no other line break occurs.

    Checked with `isascii` and single-character searches, which run at memory speed (a regex character
    class here costs more than splitting again)."""
    if split is None or not text.isascii() or any(c in text for c in _ASCII_BREAKS):
        return text.splitlines()
    return split[:-1] if split and split[-1] == "" else split


@dataclass
class _Doc:
    path: str
    text: str
    split: list[str] | None = None
    """`text.split("\\n")`, when the caller has it."""
    lines: list[str] = field(default_factory=list)
    bits: _FileBits = field(default_factory=_FileBits)
    windows: list[int] = field(default_factory=list)
    """Identifier masks of the windows starting at lines 0, 10, 20, ... as `assistant.snippets.windows` cuts
    them. All-blank windows, which `windows` leaves out, are in, with no identifiers: they score 0 and so
    can never reach a `min_score` above 0, which changes nothing."""
    sizes: list[int] = field(default_factory=list)
    built: bool = False

    def build(self) -> None:
        lines = self.lines = lines_of(self.text, self.split)
        self.bits = _bits_of(self.path)
        masks = list(map(self.bits.__getitem__, lines))
        count = 1 if len(lines) <= WINDOW else len(range(0, len(lines) - WINDOW + STRIDE, STRIDE))
        blocks = [reduce(or_, masks[b:b + STRIDE], 0) for b in range(0, (count + 1) * STRIDE, STRIDE)]
        self.windows = list(map(or_, blocks[:-1], blocks[1:]))
        self.sizes = list(map(int.bit_count, self.windows))
        self.built = True

    def best(self, q: frozenset[str]) -> tuple[float, int]:
        """(top Jaccard score of a window with non-empty `q`, start of the first window with it)."""
        common = list(map(int.bit_count, map(self.bits.query(q).__and__, self.windows)))
        # Jaccard as `assistant.snippets.jaccard` computes it, |q & W| / |q | W|, from the same integers.
        scores = list(map(truediv, common, map(sub, map(add, repeat(len(q)), self.sizes), common)))
        top = max(scores)
        return top, scores.index(top) * STRIDE


class SnippetIndex:
    """The windows of a fixed set of (path, text) documents, ready to rank against many queries.

    Identifiers are collected per line and remembered across the versions of a file, which share most
    lines; windows are masks of bits (see `_FileBits`). A document is indexed the first time a query
    needs it.
    """

    def __init__(self, documents: list[tuple[str, str]], split: list[list[str] | None] | None = None) -> None:
        """`split` may give each document's `text.split("\\n")`, when the caller has it (None where not)."""
        self._docs = [_Doc(path, text, lines) for (path, text), lines in
                      zip(documents, split if split is not None else [None] * len(documents), strict=True)]

    def rank(self, prefix: str, top_k: int, exclude: str = "", min_score: float = 0.05) -> list[Snippet]:
        """`rank_snippets(query_of(prefix), documents, top_k)` over the documents other than `exclude`."""
        if min_score <= 0:
            raise ValueError("min_score must be above 0 (blank windows score 0 and are not told apart)")
        q = query_ids(prefix)
        if not q:
            return []
        best: list[tuple[float, str, list[str], int]] = []
        for doc in self._docs:
            if doc.path == exclude:
                continue
            if not doc.built:
                doc.build()
            top, start = doc.best(q)
            if top >= min_score:  # the first window with the top score, as rank_snippets keeps it
                best.append((top, doc.path, doc.lines, start))
        best.sort(key=lambda b: (-b[0], b[1]))
        return [Snippet(path, "\n".join(lines[start:start + WINDOW])) for _, path, lines, start in best[:top_k]]
