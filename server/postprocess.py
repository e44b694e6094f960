"""Postprocessing: an ordered list of named filters from raw model text to the ghost text shown.

Each filter takes the text and the context and returns the text to keep (empty: show nothing).
"""

from __future__ import annotations

from collections.abc import Callable

from server.context import Context

Filter = Callable[[str, Context], str]


def trim_trailing_whitespace(text: str, ctx: Context) -> str:
    """No trailing spaces on any line, and no blank lines at the end."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def drop_whitespace_only(text: str, ctx: Context) -> str:
    return text if text.strip() else ""


FILTERS: tuple[Filter, ...] = (trim_trailing_whitespace, drop_whitespace_only)


def postprocess(text: str, ctx: Context, filters: tuple[Filter, ...] = FILTERS) -> str:
    for f in filters:
        text = f(text, ctx)
        if not text:
            return ""
    return text
