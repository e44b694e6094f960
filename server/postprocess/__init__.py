"""Postprocessing: an ordered list of named filters from the model's raw text to the ghost text shown.

Each filter takes the text and the `Context` and returns the text to keep (empty: show nothing). They run
in the order of `FILTERS`; each lives in a module of this package by concern (scope, repetition, brackets,
whitespace) and has golden cases in tests/server/test_postprocess.py written as source text with the
cursor and the completion marked.
"""

from __future__ import annotations

from server.context import Context
from server.postprocess.base import Filter
from server.postprocess.brackets import no_duplicate_closing_brackets
from server.postprocess.repetition import drop_repetitive_loops, drop_suffix_repeat, line_loop_end
from server.postprocess.scope import (
    lines_for_the_place,
    single_line_in_comment_or_string,
    stop_at_block_end,
)
from server.postprocess.whitespace import drop_whitespace_only, trim_trailing_whitespace

FILTERS: tuple[Filter, ...] = (
    single_line_in_comment_or_string,
    lines_for_the_place,
    stop_at_block_end,
    drop_repetitive_loops,
    drop_suffix_repeat,
    no_duplicate_closing_brackets,
    trim_trailing_whitespace,
    drop_whitespace_only,
)


def postprocess(text: str, ctx: Context, filters: tuple[Filter, ...] = FILTERS) -> str:
    for f in filters:
        text = f(text, ctx)
        if not text:
            return ""
    return text


SETTLING: tuple[Filter, ...] = (lines_for_the_place, stop_at_block_end, drop_repetitive_loops)
"""The filters whose cut, once made in whole lines, no later text can undo (it can only come earlier)."""


def settled(text: str, ctx: Context) -> bool:
    """True when the ghost text can no longer grow, whatever the model writes next: generation may stop.

    That is when the filters cut the text's complete lines (a block ended, the lines repeat) or its last,
    unfinished line loops on itself. Generating on would only make text that postprocessing drops.
    """
    end = text.rfind("\n")
    if line_loop_end(text[end + 1:]) is not None:
        return True
    if end < 0:
        return False
    complete = text[:end]  # whole lines only: an unfinished line may still become anything
    kept = complete
    for f in SETTLING:
        kept = f(kept, ctx)
    return len(kept) < len(complete)


__all__ = ["FILTERS", "Filter", "postprocess", "settled"]
