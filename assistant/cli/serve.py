"""`assistant serve`: the language server over stdio (default) or TCP.

Over TCP the server has no authentication: whoever connects gets completions of the user's code (and can make
it read the workspace's files), so it listens on this machine's loopback only unless `--tcp-any-host` says
the network is trusted.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

from assistant.config import is_loopback
from assistant.errors import UserError
from assistant.logs import route_library_logs


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(
    tcp: str = typer.Option(None, "--tcp", help="Listen on HOST:PORT instead of stdio; HOST must be this machine's "
                            "loopback (127.0.0.1, ::1, localhost) unless --tcp-any-host is given."),
    tcp_any_host: bool = typer.Option(False, "--tcp-any-host", help="Let --tcp listen on an address other machines "
                                      "can reach. The server has no authentication: anyone who connects gets "
                                      "completions of your code."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <workspace>/.assistant/model)."),
    backend: str = typer.Option(None, "--backend", help="auto, transformers, llama-cpp or openai."),
    log_file: Path = typer.Option(None, "--log-file", help="Also write the server log to this file."),
    telemetry_dir: Path = typer.Option(None, "--telemetry-dir", help="Write telemetry here (default: "
                                       "<workspace>/.assistant/telemetry); sets server.telemetry_dir."),
    stdio: bool = typer.Option(False, "--stdio", help="Speak LSP over stdin/stdout: the default without --tcp "
                               "(accepted because editors' LSP clients pass it)."),
) -> None:
    """Run the completion language server (inline completions for VS Code, Neovim and other LSP clients)."""
    address = tcp_address(tcp, tcp_any_host) if tcp else None
    if tcp_any_host and not tcp:
        raise UserError("--tcp-any-host only applies with --tcp HOST:PORT; add --tcp or drop it")
    from server.lsp import create_server

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file))
        route_library_logs(handlers[-1])  # what transformers, llama.cpp, ... say goes to the file only
    logging.basicConfig(level=logging.INFO, handlers=handlers, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pygls").setLevel(logging.WARNING)
    overrides = {"server.model_dir": str(model_dir) if model_dir else None, "server.backend": backend,
                 "server.telemetry_dir": str(telemetry_dir) if telemetry_dir else None}
    server = create_server(overrides)
    if address is not None:
        server.start_tcp(*address)
        return
    # Anything a library prints must not corrupt the LSP stream: stdout is the protocol's alone.
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, stdout)


def tcp_address(value: str, any_host: bool) -> tuple[str, int]:
    """(host, port) of `--tcp HOST:PORT` (IPv6 in brackets: [::1]:2087), or UserError: not HOST:PORT, or a host
    other machines can reach without `any_host`."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UserError(f"--tcp {value!r} is not HOST:PORT (for example 127.0.0.1:2087)")
    if not any_host and not is_loopback(host):
        raise UserError(f"--tcp {value}: {host} can be reached from other machines and the server has no "
                        "authentication; listen on 127.0.0.1 (ssh -L forwards it), or add --tcp-any-host if you "
                        "trust every machine on that network")
    return host, int(port)
