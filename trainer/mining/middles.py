"""Where the middles are: what an author added in a commit, located in the file as it stood afterwards.

Every middle is a `Cut`, a character range of the file's text after the commit; the example's prefix and
suffix are the text around it, cut at line boundaries to about `context_chars` each (`window`).

From one hunk of a `-U0` diff (the lines it removes, then the lines it adds):
- when every added line is an edit *inside* its old line (same count of old and new lines, each new line
  keeping the old one's start or end), each edit's inserted text is a 'span' middle;
- otherwise the added lines are a 'hunk' middle (whole lines), in pieces of at most `max_middle_lines`.
Deleted lines, and hunks that add only blank lines, give nothing. Lines are split on "\\n" only, as git
counts them. `random_cuts` draws 'random' middles for coverage: the rest of a line, or a run of lines.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from itertools import accumulate, repeat
from operator import add

from trainer.mining.history import Hunk


@dataclass(frozen=True)
class Cut:
    begin: int
    end: int
    kind: str
    """'hunk', 'span' or 'random'."""


def line_starts(text: str, lines: list[str] | None = None) -> list[int]:
    """Offset of the start of each line (git's lines: split on "\\n" only); one more entry for the end.

    `lines` may give `text.split("\\n")` when the caller has it already."""
    lines = lines if lines is not None else text.split("\n")
    starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=0))
    starts[-1] = len(text)  # the last line has no "\n" after it (it is empty when the text ends with one)
    if len(starts) > 1 and starts[-2] == len(text):
        starts.pop()
    return starts


def authored_cuts(text: str, starts: list[int], hunks: list[Hunk], max_middle_lines: int) -> list[Cut]:
    """The middles the author wrote in these hunks; `text` is the file after the commit, `starts` its
    `line_starts`."""
    cuts: list[Cut] = []
    for hunk in hunks:
        first = hunk.new_start - 1  # 0-based index of the first added line
        if hunk.new_count == 0 or first + hunk.new_count >= len(starts):
            continue  # a pure deletion, or a hunk that does not fit this text (never from git itself)
        spans = _inline_edits(text, starts, hunk)
        cuts += spans if spans is not None else _line_cuts(text, starts, first, hunk.new_count, max_middle_lines)
    return cuts


def _line_text(text: str, starts: list[int], i: int) -> str:
    return text[starts[i]:starts[i + 1]].rstrip("\n")


def _inline_edits(text: str, starts: list[int], hunk: Hunk) -> list[Cut] | None:
    """'span' cuts when every new line is its old line with text inserted or replaced inside, else None."""
    if len(hunk.removed) != hunk.new_count:
        return None
    cuts = []
    for k, old_raw in enumerate(hunk.removed):
        i = hunk.new_start - 1 + k
        old, new = old_raw.decode("utf-8", "replace"), _line_text(text, starts, i)
        p = _common_prefix(old, new)
        s = _common_prefix(old[p:][::-1], new[p:][::-1])
        # An edit inside a line keeps a real piece of it (two or more non-blank characters) at the start or
        # the end; `foo(1)` -> `bar(2)` keeps only ")" and counts as a rewritten line.
        anchored = len(old[:p].strip()) >= 2 or len(old[len(old) - s:].strip()) >= 2
        if not anchored:
            return None  # the line was rewritten: a whole-line middle
        if new[p:len(new) - s].strip():
            cuts.append(Cut(starts[i] + p, starts[i] + len(new) - s, "span"))
    return cuts


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _line_cuts(text: str, starts: list[int], first: int, count: int, max_lines: int) -> list[Cut]:
    """Whole added lines, in pieces of at most `max_lines`; all-blank pieces are left out.

    Blank lines at either end of a piece stay in the prefix or suffix: an author types those before a
    suggestion is worth asking for, and a middle starting with them would ask the model for empty lines.
    """

    def blank(i: int) -> bool:
        return not text[starts[i]:starts[i + 1]].strip()

    cuts = []
    for lo in range(first, first + count, max_lines):
        hi = min(lo + max_lines, first + count)
        while lo < hi and blank(lo):
            lo += 1
        while hi > lo and blank(hi - 1):
            hi -= 1
        if lo < hi:
            cuts.append(Cut(starts[lo], starts[hi], "hunk"))
    return cuts


def window(starts: list[int], cut: Cut, context_chars: int) -> tuple[int, int]:
    """(start of prefix, end of suffix): about `context_chars` each side of the cut, at line boundaries.

    `starts` is `line_starts(text)`. The prefix starts at the first line start within reach, the suffix
    ends at the last line end within reach; with no boundary in reach (one long line) the cut falls inside.
    """
    lo = max(0, cut.begin - context_chars)
    i = bisect.bisect_left(starts, lo)
    start = starts[i] if i < len(starts) and starts[i] <= cut.begin else lo
    hi = min(starts[-1], cut.end + context_chars)
    j = bisect.bisect_right(starts, hi) - 1
    end = starts[j] if starts[j] >= cut.end else hi
    return start, end


def random_cuts(text: str, count: int, max_middle_lines: int, rng: random.Random) -> list[Cut]:
    """`count` random middles as a user would type them: the rest of a line, or a run of whole lines."""
    starts = line_starts(text)
    n_lines = len(starts) - 1
    cuts: list[Cut] = []
    for _ in range(count * 4):  # some draws land on blank lines; try a few times per wanted cut
        if len(cuts) == count or n_lines == 0:
            break
        i = rng.randrange(n_lines)
        line = _line_text(text, starts, i)
        if not line.strip():
            continue
        if rng.random() < 0.5:
            indent = len(line) - len(line.lstrip())
            col = rng.randrange(indent, len(line))
            cut = Cut(starts[i] + col, starts[i] + len(line), "random")
        else:
            n = rng.randint(1, min(max_middle_lines, n_lines - i))
            cut = Cut(starts[i], starts[i + n], "random")
        if text[cut.begin:cut.end].strip():
            cuts.append(cut)
    return cuts
