"""Filters against repetition: the model looping on itself, or rewriting code that already follows the cursor."""

from __future__ import annotations

import re

from server.context import Context
from server.postprocess.base import suffix_lines

MAX_PERIOD = 4
"""Longest block of lines (in lines) recognised as a loop."""

_LINE_LOOP = re.compile(r"(.{2,24}?)\1{4,}")
"""A unit of 2-24 characters written 5 or more times in a row within a line."""


def drop_repetitive_loops(text: str, ctx: Context) -> str:
    """Cut where the model starts looping: a block of lines written three times in a row, or a unit repeated
    within a line, keeps its first occurrence only."""
    lines = text.split("\n")
    whole = [ctx.line_prefix + lines[0], *lines[1:]]  # the first line as it will read, indentation included
    for i in range(len(lines)):
        for period in range(1, MAX_PERIOD + 1):
            if i + 3 * period > len(lines):
                break
            block = whole[i:i + period]
            if (any(line.strip() for line in block) and whole[i + period:i + 2 * period] == block
                    and whole[i + 2 * period:i + 3 * period] == block):
                return "\n".join(lines[:i + period])
    for k, line in enumerate(lines):
        end = line_loop_end(line)
        if end is not None:
            lines[k] = line[:end]
            return "\n".join(lines[:k + 1])
    return text


def line_loop_end(line: str) -> int | None:
    """Where the first occurrence of a unit that `line` then repeats 4 more times ends, or None."""
    for loop in _LINE_LOOP.finditer(line):
        if any(ch.isalpha() or ch == "_" for ch in loop.group(1)):  # not a row of numbers or a ruler of dashes
            return loop.start() + len(loop.group(1))
    return None


def drop_suffix_repeat(text: str, ctx: Context) -> str:
    """Drop the lines from where the completion starts rewriting the lines that follow the cursor.

    The completion's first line counts only when it is a whole line (the cursor is at the line's
    indentation); when it is the rest of a line, matching starts at its second line.
    """
    lines = text.split("\n")
    following = suffix_lines(ctx, 3)
    if not following:
        return text
    first = 0 if not ctx.line_prefix.strip() else 1
    for k in range(first, len(lines)):
        ahead = [line.strip() for line in lines[k:] if line.strip()]
        if not lines[k].strip() or not ahead:
            continue
        n = min(len(ahead), len(following))
        if ahead[:n] == following[:n]:
            return "\n".join(lines[:k])
    return text
