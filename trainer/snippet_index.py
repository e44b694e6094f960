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
from itertools import accumulate, compress, repeat
from operator import add, gt, sub, truediv
from typing import Any

from assistant.prompt import Snippet
from assistant.snippets import identifiers, query_of

LINES_REMEMBERED = 200_000
BLOCKS_REMEMBERED = 30_000
"""Up to ~40 MB of identifier sets; a 10-line block recurs in later versions of its file until an edit
above it shifts it."""


class _LineIds(dict[str, frozenset[str]]):
    """Identifiers per line, computed on first lookup and remembered (emptied when full)."""

    def __missing__(self, line: str) -> frozenset[str]:
        if len(self) >= LINES_REMEMBERED:
            self.clear()
        ids = self[line] = identifiers(line)
        return ids


class _BlockIds(dict[tuple[str, ...], frozenset[str]]):
    """Identifiers per block of lines: those of its lines (an identifier never spans a line end)."""

    def __missing__(self, block: tuple[str, ...]) -> frozenset[str]:
        if len(self) >= BLOCKS_REMEMBERED:
            self.clear()
        ids = self[block] = frozenset().union(*map(_line_ids.__getitem__, block))
        return ids


_line_ids = _LineIds()
_block_ids = _BlockIds()


WINDOW = 20
STRIDE = 10
"""`rank_snippets`' defaults: windows of 20 lines every 10 lines, so each window is two 10-line blocks."""


WINDOW = 20
STRIDE = 10
"""`rank_snippets`' defaults: windows of 20 lines every 10 lines, so each window is two 10-line blocks."""


QUERY_LINES = 20
"""`query_of`'s default: the query is the last 20 lines of the prefix."""


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


@dataclass
class _Doc:
    path: str
    text: str
    lines: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    """First line of each window, as `assistant.snippets.windows` cuts them (all-blank windows left out)."""
    blocks: list[frozenset[str]] = field(default_factory=list)
    """Identifiers of lines [10k, 10k + 10), for k = 0 .. one past the last window's second block."""
    sizes: list[int] = field(default_factory=list)
    """Identifiers in each window."""
    _second_blocks: list[frozenset[str]] = field(default_factory=list)
    built: bool = False

    def build(self) -> None:
        lines = self.lines = self.text.splitlines()
        if len(lines) <= WINDOW:  # as `assistant.snippets.windows`: a short file is one window
            starts = [0] if self.text.strip() else []
        else:
            # Leave out all-blank windows, found from running counts of non-blank lines.
            filled = list(accumulate(map(bool, map(str.strip, lines)), initial=0))
            begins = range(0, len(lines) - WINDOW + STRIDE, STRIDE)
            ends = (filled[min(b + WINDOW, len(lines))] for b in begins)
            starts = list(compress(begins, map(gt, ends, (filled[b] for b in begins))))
        self.starts = starts
        self.blocks = [_block_ids[tuple(lines[b:b + STRIDE])] for b in range(0, len(lines) + STRIDE, STRIDE)]
        first, second = self._pairs(self.blocks)
        self._second_blocks = second
        overlap = map(len, map(frozenset.intersection, first, second))
        self.sizes = list(map(sub, map(add, map(len, first), map(len, second)), overlap))
        self.built = True

    def _pairs(self, per_block: list[Any]) -> tuple[list[Any], list[Any]]:
        """(value for each window's first block, value for its second block), in window order."""
        n = len(self.starts)
        if n == 0 or self.starts[-1] == (n - 1) * STRIDE:  # no window left out: plain slices
            return per_block[:n], per_block[1:n + 1]
        ks = [s // STRIDE for s in self.starts]
        return [per_block[k] for k in ks], [per_block[k + 1] for k in ks]

    def best(self, q: frozenset[str]) -> tuple[float, int]:
        """(top Jaccard score of a window with `q`, start of the first window with it)."""
        in_block = list(map(q.intersection, self.blocks))
        first, second = self._pairs(in_block)
        second_blocks = self._second_blocks
        both = map(len, map(frozenset.intersection, first, second_blocks))
        common = list(map(sub, map(add, map(len, first), map(len, second)), both))
        # Jaccard as `assistant.snippets.jaccard` computes it, |q & W| / |q | W|, from the same integers.
        scores = list(map(truediv, common, map(sub, map(add, repeat(len(q)), self.sizes), common)))
        top = max(scores)
        return top, self.starts[scores.index(top)]


class SnippetIndex:
    """The windows of a fixed set of (path, text) documents, ready to rank against many queries.

    A window's identifiers are those of its two blocks (an identifier never spans a line end), so the
    counts Jaccard needs come from the blocks by inclusion-exclusion, with no set built per window:
    |W| = |A| + |B| - |A & B| and |q & W| = |q & A| + |q & B| - |q & A & B|. A document is indexed the
    first time a query needs it.
    """

    def __init__(self, documents: list[tuple[str, str]]) -> None:
        self._docs = [_Doc(path, text) for path, text in documents]

    def rank(self, prefix: str, top_k: int, exclude: str = "", min_score: float = 0.05) -> list[Snippet]:
        """`rank_snippets(query_of(prefix), documents, top_k)` over the documents other than `exclude`."""
        q = identifiers(query_of(_tail(prefix, QUERY_LINES + 1)))
        if not q:
            return []
        best: list[tuple[float, str, list[str], int]] = []
        for doc in self._docs:
            if doc.path == exclude:
                continue
            if not doc.built:
                doc.build()
            if doc.starts:
                top, start = doc.best(q)
                if top >= min_score:  # the first window with the top score, as rank_snippets keeps it
                    best.append((top, doc.path, doc.lines, start))
        best.sort(key=lambda b: (-b[0], b[1]))
        return [Snippet(path, "\n".join(lines[start:start + WINDOW])) for _, path, lines, start in best[:top_k]]
