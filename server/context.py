"""Context: what the model sees around the cursor, cut to the token budget at line boundaries.

`build_context` is the first step of the pipeline (context -> prompt -> generate -> postprocess). It is
pure: a document, a cursor and the other open documents in, a `Context` out. The token trimming is the
one the trainer uses (`assistant.prompt.trim_context`), and snippets of other open documents are chosen
and budgeted as the trainer chooses them from the other files of an example's commit
(`assistant.snippets.select_snippets`: 20-line windows, the best 2), so that served prompts look like the
prompts the model was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.config import ServerConfig
from assistant.languages import language_from_lsp_id
from assistant.prompt import FimInput, trim_context
from assistant.snippets import select_snippets

MAX_CHARS_PER_TOKEN = 64
"""No token covers more characters than this; lets a huge document be cut before it is split into lines."""

STEADY_LINES = 8
"""The window above the cursor starts at a multiple of this many lines (`steady_start`)."""

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
    offset = max(0, min(req.offset, len(req.text)))
    before, after = req.text[:offset], req.text[offset:]
    lang = language_from_lsp_id(req.language_id, req.path)
    snippets, used = select_snippets(before, req.open_documents, count_tokens,
                                     int(cfg.context_tokens * cfg.snippet_share))
    budget = cfg.context_tokens - used
    prefix, suffix = trim_context(_tail_lines(before, budget * MAX_CHARS_PER_TOKEN),
                                  _head_lines(after, budget * MAX_CHARS_PER_TOKEN), count_tokens, budget,
                                  cfg.suffix_share)
    prefix = steady_start(before, prefix)
    fim = FimInput(prefix=prefix, suffix=suffix, path=req.path, language=lang.name if lang else "",
                   snippets=snippets)
    line_prefix = before[before.rfind("\n") + 1:]
    line_suffix = after.split("\n", 1)[0].rstrip("\r")
    return Context(fim=fim, line_prefix=line_prefix, line_suffix=line_suffix,
                   block_indent=block_indent(before, line_prefix, line_suffix),
                   in_comment_or_string=in_comment_or_string(line_prefix, lang.line_comment if lang else None))


def steady_start(before: str, prefix: str) -> str:
    """`prefix` (a tail of `before` in whole lines) cut to start at a line number that is a multiple of
    `STEADY_LINES`, when it does not already start at the top of the document.

    The window's first line then stays put while the user types on (instead of moving down a line with every
    line typed), so the prompt's start stays the same and the backend reuses its KV cache for everything up to
    the cursor. It costs at most `STEADY_LINES - 1` lines of the oldest context.
    """
    dropped = before.count("\n", 0, len(before) - len(prefix))
    extra = -dropped % STEADY_LINES
    if dropped == 0 or extra == 0:
        return prefix
    lines = prefix.splitlines(keepends=True)
    return "".join(lines[min(extra, len(lines) - 1):])  # the cursor's line always stays


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
