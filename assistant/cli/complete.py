"""`assistant complete`: the completion at a position of a file, printed to stdout.

It runs the same pipeline as the language server, so it prints what an editor would show.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from assistant import workspace
from assistant.cli.common import console, git_root_of, resolve_config
from assistant.config import Config
from assistant.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("complete")(complete)


def complete(
    file: Path = typer.Argument(..., help="Source file to complete in."),
    line: int = typer.Option(..., "--line", help="Cursor line, 1-based."),
    col: int = typer.Option(..., "--col", help="Cursor column, 1-based, in characters."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <repo>/.assistant/model)."),
    max_tokens: int = typer.Option(None, "--max-tokens", help="Most tokens to generate."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with the completion and timing."),
) -> None:
    """Print the completion at FILE:LINE:COL."""
    from server.backends import load_backend
    from server.context import CompletionRequest
    from server.pipeline import Completer

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {file} ({e.__class__.__name__}); pass a readable UTF-8 source file") from e
    root = git_root_of(file.resolve())
    cfg = resolve_config(root, {"server.max_new_tokens": max_tokens})
    offset = offset_of(text, line, col)
    chosen = model_dir or (Path(cfg.server.model_dir) if cfg.server.model_dir else None)
    if chosen is None and root is not None:
        chosen = workspace.model_dir(root)
    backend = load_backend(cfg.server, chosen)
    completer = Completer(backend, cfg.server)
    path = file.resolve().relative_to(root).as_posix() if root else file.name
    result = completer.complete(CompletionRequest(text=text, offset=offset, path=path, language_id=""))
    if as_json:
        print(json.dumps({"completion": result.text, "finish": result.generation.finish,
                          "tokens": result.generation.tokens, "seconds": round(result.generation.seconds, 4),
                          "model": backend.name}))
    else:
        print(result.text)


def offset_of(text: str, line: int, col: int) -> int:
    """Code-point offset of 1-based (line, col); a column past the line's end means its end."""
    lines = text.split("\n")
    if line < 1 or line > len(lines):
        raise UserError(f"--line {line} is outside the file (1..{len(lines)})")
    if col < 1:
        raise UserError(f"--col {col} must be 1 or more")
    start = sum(len(x) + 1 for x in lines[: line - 1])
    return start + min(col - 1, len(lines[line - 1]))


def show_sample(model_dir: Path, cfg: Config) -> None:
    """Complete one held-out example with the new model and print it: a first look at what it learned."""
    from assistant.modeldir import read_manifest
    from server.backends import load_backend
    from server.context import CompletionRequest
    from server.pipeline import Completer
    from trainer.mining.examples import read_dataset

    manifest = read_manifest(model_dir)
    data_dir = workspace.data_beside(model_dir)
    try:
        dataset = read_dataset(data_dir)
    except UserError:
        return
    pool = dataset.heldout or dataset.train
    candidates = [ex for ex in pool if "\n" in ex.prefix and len(ex.middle.strip()) > 3]
    if not candidates:
        return
    ex = candidates[len(candidates) // 2]
    server_cfg = cfg.server
    server_cfg.model_dir = str(model_dir)
    completer = Completer(load_backend(server_cfg, model_dir), server_cfg)
    result = completer.complete(CompletionRequest(text=ex.prefix + ex.suffix, offset=len(ex.prefix), path=ex.path,
                                                  language_id=ex.language))
    before = "\n".join(ex.prefix.split("\n")[-6:])
    after = "\n".join(ex.suffix.split("\n")[:2])
    console.rule(f"a completion by {manifest.base} in {ex.path}")
    console.print(before, style="dim", end="", markup=False)
    console.print(result.text or "(nothing)", style="bold green", end="", markup=False)
    console.print(after, style="dim", markup=False)
    console.rule(f"the author wrote: {ex.middle.strip()[:80]!r}")
