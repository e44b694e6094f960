"""Snippets of other files as context: 20-line windows ranked by Jaccard similarity of identifier tokens.

Written once, used by both sides so that a model sees context of the same kind in training and in use: the
server ranks the windows of the other open documents for every request (`select_snippets`, documents kept
built while their text is unchanged), the miner ranks the other files changed in an example's commit
(`SnippetIndex` over the commit's files, for thousands of examples), and the trainer budgets the chosen
snippets into a prompt with the same `select_snippets`.

The ranking: each document is cut into windows of `WINDOW` lines every `STRIDE` lines; the query is the
identifier set of the last `QUERY_LINES` lines before the cursor; a window scores the Jaccard similarity of
its identifier set and the query's; each document keeps its best window (the first of equal ones), those of
at least `MIN_SCORE` are ranked best first, then by path. Identifiers are collected per line and remembered
across versions of a file, which share most lines; a window's set is a mask of bits (see `_FileBits`), so
scoring is a few integer operations. `tests/snippet_oracle.py` holds the same rule written plainly, and the
tests check that this module ranks as it does.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from itertools import repeat
from operator import add, or_, sub, truediv

from assistant.prompt import Snippet

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

MIN_SCORE = 0.05
"""Windows scoring below this are never context."""

TOP_K = 2
"""Snippets a prompt gets at most (served and trained alike)."""

QUERY_CHARS = 40_000
"""The query's lines are looked for within this many characters before the cursor."""


def identifiers(text: str) -> frozenset[str]:
    """The set of identifier-like tokens in `text` (keywords included: cheap and good enough)."""
    return frozenset(_IDENT.findall(text))


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
"""Windows of 20 lines every 10 lines (each one two blocks of 10 lines); the last 20 lines of the prefix are
the query."""


def _tail(text: str, newlines: int) -> str:
    """The end of `text` from its `newlines`-th last "\\n" (or all of it): it holds at least the last
    `newlines - 1` lines however `str.splitlines` cuts them (other line breaks only make lines shorter),
    so the query is the same as for the whole prefix, without splitting 4,000 characters."""
    pos = len(text)
    for _ in range(newlines):
        pos = text.rfind("\n", 0, pos)
        if pos < 0:
            return text
    return text[pos + 1:]


def query_ids(prefix: str) -> frozenset[str]:
    """The identifiers of the last `QUERY_LINES` lines of `prefix`, from the remembered identifiers of each line."""
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
    """Identifier masks of the windows starting at lines 0, 10, 20, ... (a file of at most `WINDOW` lines is one
    window). All-blank windows are in, with no identifiers: they score 0 and so never reach a `min_score`
    above 0."""
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
        # Jaccard: |q & W| / |q | W|, from bit counts.
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

    @classmethod
    def of(cls, docs: list[_Doc]) -> SnippetIndex:
        """An index over documents already made (and perhaps built) elsewhere."""
        index = cls([])
        index._docs = docs
        return index

    def rank(self, prefix: str, top_k: int, exclude: str = "", min_score: float = MIN_SCORE) -> list[Snippet]:
        """The `top_k` best windows for the code before the cursor (`prefix`), over the documents other than
        `exclude`: one window per document, best score first, then by path."""
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
            if top >= min_score:  # the first window with the top score
                best.append((top, doc.path, doc.lines, start))
        best.sort(key=lambda b: (-b[0], b[1]))
        return [Snippet(path, "\n".join(lines[start:start + WINDOW])) for _, path, lines, start in best[:top_k]]


CACHED_CHARS = 4_000_000
"""Documents kept built between requests, in characters of their text (the least recently used go first)."""

_built: OrderedDict[tuple[str, str], _Doc] = OrderedDict()
_built_chars = 0
_lock = threading.Lock()


def _cached_doc(path: str, text: str) -> _Doc:
    """The document, built once per text while it stays among the recently ranked ones (call with `_lock`)."""
    global _built_chars
    key = (path, text)
    doc = _built.get(key)
    if doc is not None:
        _built.move_to_end(key)
        return doc
    doc = _built[key] = _Doc(path, text)
    _built_chars += len(text)
    while _built_chars > CACHED_CHARS and len(_built) > 1:
        (_, old_text), _ = _built.popitem(last=False)
        _built_chars -= len(old_text)
    return doc


def rank_documents(prefix: str, documents: tuple[tuple[str, str], ...] | list[tuple[str, str]],
                   top_k: int = TOP_K) -> list[Snippet]:
    """The best windows of `documents` ((path, text) pairs) for the code before the cursor; an unchanged
    document is not cut into windows again."""
    with _lock:
        return SnippetIndex.of([_cached_doc(path, text) for path, text in documents]).rank(prefix[-QUERY_CHARS:], top_k)


def select_snippets(before: str, documents: tuple[tuple[str, str], ...], count_tokens: Callable[[str], int],
                    budget: int) -> tuple[tuple[Snippet, ...], int]:
    """The best snippets of `documents` for the code before the cursor that fit in `budget` tokens, and their
    cost: the server's choice for a request and the trainer's for an example, the same way."""
    if not documents or budget <= 0:
        return (), 0
    chosen: list[Snippet] = []
    used = 0
    for snippet in rank_documents(before, documents, TOP_K):
        cost = count_tokens(f"{snippet.path}\n{snippet.text}\n") + 1  # + the file separator token
        if used + cost <= budget:
            chosen.append(snippet)
            used += cost
    return tuple(chosen), used
