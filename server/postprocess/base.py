"""What a postprocessing filter is, and the small text helpers the filters share."""

from __future__ import annotations

from collections.abc import Callable

from server.context import Context

Filter = Callable[[str, Context], str]
"""(raw or partly filtered completion, context) -> the completion to keep; empty means show nothing."""


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def suffix_lines(ctx: Context, count: int) -> list[str]:
    """The first `count` non-blank lines after the cursor's line, stripped."""
    out = []
    for line in ctx.fim.suffix.split("\n")[1:]:
        if line.strip():
            out.append(line.strip())
            if len(out) == count:
                break
    return out
