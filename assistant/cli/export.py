"""`assistant export`: GGUF files (and an Ollama Modelfile) from a model dir, checked against transformers."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from assistant.cli.common import console, git_root_of, resolve_config


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    model_dir: Path = typer.Option(None, "--model-dir", help="Model dir (default: <repo>/.assistant/model)."),
    repo: Path = typer.Option(Path("."), "--repo", help="Repository whose model dir and config to use."),
    quant: str = typer.Option(None, "--quant", help="Quantized files to write, comma-separated (q8_0,q4_k_m,...); "
                              "'none' for none."),
    outtype: str = typer.Option(None, "--outtype", help="Precision of the unquantized GGUF: f16 or f32."),
    adapter_only: bool = typer.Option(False, "--adapter-only", help="Write the LoRA adapter as a GGUF LoRA for a "
                                      "base GGUF, instead of the merged model."),
) -> None:
    """Write the model as GGUF for llama.cpp and Ollama (merged and quantized, or as a LoRA), after a parity check."""
    from assistant import workspace

    root = git_root_of(model_dir.resolve()) if model_dir is not None else git_root_of(repo.resolve())
    quants = "" if quant is not None and quant.strip().lower() == "none" else quant
    cfg = resolve_config(root, {"export.quant": quants, "export.outtype": outtype})
    chosen = model_dir or (Path(cfg.server.model_dir) if cfg.server.model_dir else None)
    if chosen is None:
        chosen = workspace.model_dir(root or repo.resolve())
    from trainer.export.export import export as run_export

    # A model dir in its repository's .assistant/ is locked with that repository, so no train swaps it
    # mid-export; one elsewhere (--model-dir DIR) belongs to no repository and has no lock to take.
    owner = workspace.repo_of(chosen.absolute())
    if owner is not None and not workspace.assistant_dir(owner).is_dir():
        owner = None
    with workspace.repo_lock(owner, "export") if owner is not None else contextlib.nullcontext():
        result = run_export(chosen, cfg, adapter_only=adapter_only, console=console)
    for f in result.files:
        console.print(f"[bold green]wrote[/] {chosen / f['file']}  ({f['type']}, {f['size'] / 1e6:.1f} MB)")
    console.print(f"[bold green]wrote[/] {result.modelfile}  (Ollama: ollama create NAME -f {result.modelfile})")
    console.print("Serve it with `assistant serve --backend llama-cpp` (README, section GGUF, llama.cpp and Ollama).")
