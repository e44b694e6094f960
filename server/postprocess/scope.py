"""Filters that decide how far a completion may reach: one line, or the body of the block that starts here."""

from __future__ import annotations

import re

from server.context import Context
from server.postprocess.base import indent_of, suffix_lines

_CLOSER_LINE = re.compile(r"^(?:[)\]}]+[;,]?|end)$")
"""A line that only closes a block: `}`, `});`, `]`, `end`."""


def single_line_in_comment_or_string(text: str, ctx: Context) -> str:
    """Inside a comment or a string the completion ends with the line: prose, not code, follows."""
    return text.split("\n", 1)[0] if ctx.in_comment_or_string else text


def lines_for_the_place(text: str, ctx: Context) -> str:
    """Several lines only where a block's body starts (after `:`, `{`, ...); at the end of a line, that line's
    rest and the next line (what comes after an accepted line); elsewhere the rest of the line."""
    return text if ctx.max_lines is None else "\n".join(text.split("\n")[:ctx.max_lines])


def stop_at_block_end(text: str, ctx: Context) -> str:
    """A multi-line completion ends where its block does: at the first line indented no deeper than the opener.

    A line that only closes the block (`}`) at the opener's indentation is kept, unless the code after the
    cursor already closes it.
    """
    if ctx.block_indent is None:
        return text
    lines = text.split("\n")
    for k in range(1, len(lines)):
        line = lines[k]
        if not line.strip() or indent_of(line) > ctx.block_indent:
            continue
        closer = line.strip()
        if (indent_of(line) == ctx.block_indent and _CLOSER_LINE.match(closer)
                and closer not in suffix_lines(ctx, 1)):
            return "\n".join(lines[:k + 1])
        return "\n".join(lines[:k])
    return text
