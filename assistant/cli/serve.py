"""`assistant serve`: the language server over stdio (default) or TCP."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from assistant.errors import UserError
from assistant.logs import route_library_logs


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    tcp: str = typer.Option(None, "--tcp", help="Listen on HOST:PORT instead of stdio."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <workspace>/.assistant/model)."),
    backend: str = typer.Option(None, "--backend", help="transformers, llama-cpp or openai."),
    log_file: Path = typer.Option(None, "--log-file", help="Also write the server log to this file."),
    stdio: bool = typer.Option(False, "--stdio", help="Speak LSP over stdin/stdout: the default without --tcp "
                               "(accepted because editors' LSP clients pass it)."),
) -> None:
    """Run the completion language server (inline completions for VS Code, Neovim and other LSP clients)."""
    from server.lsp import create_server

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
        route_library_logs(handlers[-1])  # what transformers, llama.cpp, ... say goes to the file only
    logging.basicConfig(level=logging.INFO, handlers=handlers, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pygls").setLevel(logging.WARNING)
    overrides = {"server.model_dir": str(model_dir) if model_dir else None, "server.backend": backend}
    server = create_server(overrides)
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"--tcp {tcp!r} is not HOST:PORT (for example 127.0.0.1:2087)")
        server.start_tcp(host, int(port))
        return
    # Anything a library prints must not corrupt the LSP stream: stdout is the protocol's alone.
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, stdout)
