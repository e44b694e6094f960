"""Context: what the model sees around the cursor, cut to the token budget at line boundaries.

`build_context` is the first step of the pipeline (context -> prompt -> generate -> postprocess). It is
pure: a document, a cursor and the other open documents in, a `Context` out. The token trimming is the
one the trainer uses (`assistant.prompt.trim_context`), and snippets of other open documents are chosen
and budgeted as the trainer chooses them from the other files of an example's commit
(`assistant.snippets.select_snippets`: 20-line windows, the best 2), so that served prompts look like the
prompts the model was trained on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from assistant.config import ServerConfig
from assistant.languages import language_from_lsp_id
from assistant.prompt import FimInput, trim_context
from assistant.snippets import select_snippets

MAX_CHARS_PER_TOKEN = 64
"""No token covers more characters than this; lets a huge document be cut before it is split into lines."""

MOVE_SHARE = 0.25
"""A window above the cursor placed afresh leaves this share of the budget free, so that typing fills it before
the window has to move (`steady_start`)."""

OPENERS = (":", "{", "(", "[", "=>", "->", " do", " then", "begin")
"""Line endings that start a block: the one place a multi-line completion is offered."""


@dataclass(frozen=True)
class CompletionRequest:
    """A document and a cursor: `offset` indexes `text` in code points."""

    text: str
    offset: int
    path: str = ""
    language_id: str = ""
    open_documents: tuple[tuple[str, str], ...] = ()
    """(path, text) of other open documents, most recently used first: where snippets come from."""
    window_start: int | None = None
    """The line the last prompt's window for this document started at (`Context.window_start`), if any: kept
    while the window from there still fits the budget (`steady_start`)."""
    fresh_tokens: int | None = None
    """Most tokens of the part above the cursor when its window is placed afresh (the server's estimate of what the
    engine evaluates quickly enough); None: no limit beyond the budget's."""


@dataclass(frozen=True)
class Context:
    fim: FimInput
    line_prefix: str
    """The cursor's line up to the cursor."""
    line_suffix: str
    """The cursor's line after the cursor."""
    block_indent: int | None = None
    """Indentation of the line that opens a block right before the cursor; None when no block starts here."""
    in_comment_or_string: bool = False
    """The cursor is inside a line comment or a string of its line: completions stay on that line."""
    window_start: int = 0
    """The document's line (from 0) the prefix starts at."""

    @property
    def max_lines(self) -> int | None:
        """How many lines a completion may have here: the rest of the line in a comment or a string and in the
        middle of a line; the next line too at the end of a line; a block's body where a block starts (None)."""
        if self.in_comment_or_string:
            return 1
        if self.block_indent is not None:
            return None
        return 2 if self.line_prefix.strip() and not self.line_suffix.strip() else 1


def build_context(req: CompletionRequest, count_tokens: Callable[[str], int], cfg: ServerConfig) -> Context:
    count_tokens = functools.cache(count_tokens)  # trimming and `steady_start` count the same lines
    offset = max(0, min(req.offset, len(req.text)))
    before, after = req.text[:offset], req.text[offset:]
    lang = language_from_lsp_id(req.language_id, req.path)
    snippets, used = select_snippets(before, req.open_documents, count_tokens,
                                     int(cfg.context_tokens * cfg.snippet_share))
    budget = cfg.context_tokens - used
    prefix, suffix = trim_context(_tail_lines(before, budget * MAX_CHARS_PER_TOKEN),
                                  _head_lines(after, budget * MAX_CHARS_PER_TOKEN), count_tokens, budget,
                                  cfg.suffix_share)
    prefix, start = steady_start(before, prefix, count_tokens, req.window_start, req.fresh_tokens)
    fim = FimInput(prefix=prefix, suffix=suffix, path=req.path, language=lang.name if lang else "",
                   snippets=snippets)
    line_prefix = before[before.rfind("\n") + 1:]
    line_suffix = after.split("\n", 1)[0].rstrip("\r")
    return Context(fim=fim, line_prefix=line_prefix, line_suffix=line_suffix,
                   block_indent=block_indent(before, line_prefix, line_suffix),
                   in_comment_or_string=in_comment_or_string(line_prefix, lang.line_comment if lang else None),
                   window_start=start)


def steady_start(before: str, prefix: str, count_tokens: Callable[[str], int], previous: int | None = None,
                 fresh_tokens: int | None = None) -> tuple[str, int]:
    """`prefix` (a tail of `before` in whole lines that fits the budget) cut to start at a steady line, and that
    line's number in the document.

    The prompt's start is what lets the backend reuse its KV cache for everything up to the cursor, so the window
    stays put while the user types instead of moving down a line with every line typed:
    - `previous` (the line the document's last window started at) is kept while the window from there fits and
      holds at least half the lines a window placed afresh would. A token count that goes down and up again as a
      word is typed therefore never moves the window back and forth, and a cold prompt is evaluated once.
    - Otherwise the window is placed afresh: from the top of the document when all of it fits; else it leaves
      `MOVE_SHARE` of the budget free for typing, and holds at most `fresh_tokens` tokens. It then grows as the
      user types on, until it no longer fits.
    """
    cursor_line = before.count("\n")
    dropped = before.count("\n", 0, len(before) - len(prefix))  # lines above the fitted window
    lines = prefix.split("\n")
    costs = [count_tokens(line + "\n") for line in lines[:-1]] + [count_tokens(lines[-1])]
    total = sum(costs)
    if dropped == 0 and (fresh_tokens is None or total <= fresh_tokens):
        fresh = 0
    else:
        cap = total * (1 - MOVE_SHARE) if dropped else total
        cap = min(cap, fresh_tokens) if fresh_tokens is not None else cap
        kept, used = 1, costs[-1]  # the cursor's line always stays
        while kept < len(costs) and used + costs[-1 - kept] <= cap:
            used += costs[-1 - kept]
            kept += 1
        fresh = dropped + len(costs) - kept
    start = fresh
    if previous is not None and dropped <= previous <= min(cursor_line, (fresh + cursor_line) // 2 + 1):
        start = previous
    return _drop_lines(prefix, start - dropped), start


def _drop_lines(text: str, count: int) -> str:
    """`text` without its first `count` lines."""
    at = 0
    for _ in range(count):
        at = text.index("\n", at) + 1
    return text[at:]


def block_indent(before: str, line_prefix: str, line_suffix: str) -> int | None:
    """Indentation of the block opener right before the cursor, if the cursor is where a block's body starts."""
    if line_suffix.strip():
        return None  # mid-line: the rest of the line is already written
    if line_prefix.strip():
        return _indent(line_prefix) if _opens_block(line_prefix) else None
    end = len(before) - len(line_prefix) - 1  # the newline ending the previous line
    while end > 0:
        start = before.rfind("\n", 0, end) + 1
        line = before[start:end]
        if line.strip():
            return _indent(line) if _opens_block(line) else None
        end = start - 1
    return None


def in_comment_or_string(line_prefix: str, comment: str | None) -> bool:
    """Whether the cursor, at the end of `line_prefix`, is inside a line comment or a string literal."""
    quote = ""
    i = 0
    while i < len(line_prefix):
        ch = line_prefix[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif comment and line_prefix.startswith(comment, i):
            return True
        elif ch in "\"'`":
            quote = ch
        i += 1
    return bool(quote)


def _opens_block(line: str) -> bool:
    return line.rstrip().endswith(OPENERS)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _tail_lines(text: str, limit: int) -> str:
    """The whole lines of `text` within its last `limit` characters (all of it when short)."""
    if len(text) <= limit:
        return text
    cut = text.find("\n", len(text) - limit)
    return text[cut + 1:] if cut >= 0 else text[-limit:]


def _head_lines(text: str, limit: int) -> str:
    """The whole lines of `text` within its first `limit` characters (all of it when short)."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    return text[:cut + 1] if cut >= 0 else text[:limit]
