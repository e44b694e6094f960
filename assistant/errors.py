"""Errors a user can act on.

A `UserError` carries one line that names the problem and the fix. The CLI prints it without a
traceback and exits with status 2; the server turns it into a `window/showMessage`.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message.strip().splitlines()[0] if message.strip() else message)
