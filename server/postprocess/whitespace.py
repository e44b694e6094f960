"""Whitespace filters: no trailing spaces or blank lines at the end, and nothing shown for a blank result."""

from __future__ import annotations

from server.context import Context


def trim_trailing_whitespace(text: str, ctx: Context) -> str:
    """No trailing spaces on any line, and no blank lines at the end."""
    return "\n".join(line.rstrip() for line in text.split("\n")).rstrip()


def drop_whitespace_only(text: str, ctx: Context) -> str:
    """An empty or whitespace-only completion shows nothing."""
    return text if text.strip() else ""
