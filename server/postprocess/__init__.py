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
from server.postprocess.repetition import drop_repetitive_loops, drop_suffix_repeat
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


__all__ = ["FILTERS", "Filter", "postprocess"]
