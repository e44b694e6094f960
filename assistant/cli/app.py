"""The `assistant` command line: one typer app, one module per command in `assistant.cli`.

Errors a user can fix print one line and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import errno
import os
import sys

import typer

from assistant.errors import UserError
from assistant.logs import quiet_libraries
from assistant.network import enforce_offline

app = typer.Typer(
    name="assistant",
    help="A local coding assistant that learns your repository (train, complete, serve).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from assistant import __version__

        print(f"repo-assistant {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit."),
          verbose: bool = typer.Option(False, "--verbose",
                                       help="Let the libraries underneath (transformers, peft, llama.cpp, ...) print "
                                            "their warnings and logs. Accepted anywhere on the command line.")) -> None:
    """A local coding assistant that learns your repository (train, complete, serve)."""


def _register() -> None:
    from assistant.cli import bench, complete, config, export, mine, pull, serve, stats, train
    from assistant.cli import eval as evaluate

    for module in (mine, train, evaluate, complete, serve, config, export, stats, bench, pull):
        module.register(app)


def _take_verbose(argv: list[str]) -> bool:
    """Whether `--verbose` is on the command line; it is moved before the command, where typer reads it, so that
    `assistant train --repo . --verbose` works as users type it."""
    head, sep, tail = (argv[:argv.index("--")], ["--"], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [], [])
    if "--verbose" not in head:
        return False
    argv[:] = ["--verbose", *[a for a in head if a != "--verbose"], *sep, *tail]
    return True


def main() -> None:
    # Other libraries' chatter stays off the terminal (unless --verbose); stdout is for results and the LSP stream.
    args = sys.argv[1:]
    quiet_libraries(verbose=_take_verbose(args))
    enforce_offline(args)  # before any Hugging Face library is imported: they read the switch once
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # oneDNN keeps up to 1024 compiled bf16 kernels by default, one per tensor shape: with packed rows of
    # changing width that cache, not the model, becomes the largest thing in memory. 16 shapes are plenty.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "16")
    _register()
    try:
        rc = app(args=args, standalone_mode=False)
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            print(f"error: disk full while writing {e.filename or 'output'}; free some space and run again "
                  "(nothing was half-written)", file=sys.stderr)
            sys.exit(2)
        raise
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except typer.TyperException as e:  # usage errors (bad option values, unknown options) in non-standalone mode
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
