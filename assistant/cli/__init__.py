"""The top layer: the `assistant` command line (typer), one module per command.

`app.py` holds the typer app and `main` (the console script); every other module here registers one command
and calls into `trainer/` and `server/`. Nothing below this package imports it.
"""

from assistant.cli.app import main

__all__ = ["main"]
