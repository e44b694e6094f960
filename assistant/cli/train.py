"""`assistant train`: mine the repository, fine-tune, publish the model dir (and evaluate it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import typer

from assistant.cli.common import console, resolve_config
from assistant.config import Config


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    repo: Path = typer.Option(Path("."), "--repo", help="Repository to learn from."),
    base: str = typer.Option(None, "--base", help="'tiny', a Hugging Face model id or a local model path."),
    method: str = typer.Option(None, "--method", help="auto, full, lora or qlora."),
    tiny_size: str = typer.Option(None, "--tiny-size", help="nano, micro, small or base (with --base tiny)."),
    profile: str = typer.Option(None, "--profile", help="Prompt profile; default: detected from the tokenizer."),
    epochs: float = typer.Option(None, "--epochs", help="Passes over the training examples."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps."),
    max_minutes: float = typer.Option(None, "--max-minutes", help="Stop after this many minutes."),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate."),
    batch_size: int = typer.Option(None, "--batch-size", help="Examples per step."),
    grad_accum: int = typer.Option(None, "--grad-accum", help="Gradient accumulation steps."),
    seq_len: int = typer.Option(None, "--seq-len", help="Longest training sequence in tokens."),
    lora_r: int = typer.Option(None, "--lora-r", help="LoRA rank."),
    lora_alpha: int = typer.Option(None, "--lora-alpha", help="LoRA alpha."),
    precision: str = typer.Option(None, "--precision", help="auto, fp32 or bf16."),
    seed: int = typer.Option(None, "--seed", help="Random seed."),
    model_dir: Path = typer.Option(None, "--model-dir", help="Where to write the model dir "
                                   "(default: <repo>/.assistant/model)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the last interrupted run from its checkpoint."),
    evaluate: bool = typer.Option(None, "--eval/--no-eval", help="Compare base and tuned on held-out commits "
                                  "after training (default: on)."),
) -> None:
    """Fine-tune a code model on the repository's git history and write its model dir."""
    from assistant import workspace
    from trainer.mining.git import Repo

    root = Repo.open(repo).root  # fail fast, before the heavy imports, on a path that is not a usable repository
    cfg = resolve_config(repo, {
        "train.base": base, "train.method": method, "train.tiny_size": tiny_size, "train.profile": profile,
        "train.epochs": epochs, "train.max_steps": max_steps, "train.max_minutes": max_minutes,
        "train.learning_rate": lr, "train.batch_size": batch_size, "train.grad_accum": grad_accum,
        "train.max_seq_len": seq_len, "train.lora_r": lora_r, "train.lora_alpha": lora_alpha,
        "train.precision": precision, "train.seed": seed, "train.evaluate": evaluate,
    })
    if cfg.train.gguf and cfg.train.base != "tiny" and importlib.util.find_spec("llama_cpp") is not None:
        from trainer.export.quant import checked_quants

        checked_quants([cfg.train.gguf])  # a misspelt type fails now, not after the training it would follow
    # and on a repository in use; held through the evaluation, which writes into the model dir too
    with workspace.repo_lock(root, "train --resume" if resume else "train"):
        train_and_evaluate(repo, cfg, model_dir, resume)


def train_and_evaluate(repo: Path, cfg: Config, model_dir: Path | None, resume: bool) -> None:
    from trainer.training.train import train as run_training

    result = run_training(repo, cfg, model_dir=model_dir, resume=resume, console=console)
    t = result.manifest.training
    console.print(f"[bold green]model dir written:[/] {result.model_dir}  ({t['steps']} steps, "
                  f"{t['tokens_seen']:,} tokens, {t['wall_seconds']:.0f} s, final loss {t['final_train_loss']:.3f})")
    export_gguf(result.model_dir, cfg)
    from assistant.cli.complete import show_sample

    show_sample(result.model_dir, cfg)
    if cfg.train.evaluate:
        if result.heldout:
            from trainer.evaluation.evaluate import evaluate as run_eval
            from trainer.evaluation.report import one_line, table, write_report

            outcome = run_eval(result.heldout, result.model_dir, cfg, console)
            console.print(table(outcome))
            write_report(result.model_dir, outcome)
            console.print(f"[bold]{one_line(outcome)}[/]  (report: {result.model_dir / 'eval' / 'report.md'})")
        else:
            console.print("no held-out commits to evaluate on: the history is too short to hold any out")
    console.print(
        "Next: `assistant complete FILE --line L --col C` in the terminal, or connect an editor to the language "
        "server `assistant serve` (README, section Editors)."
    )


def export_gguf(model_dir: Path, cfg: Config) -> None:
    """The GGUF `train.gguf` names, written into the model dir of a pretrained base for llama.cpp to serve.

    Skipped for tiny (transformers runs it in a few ms) and when llama-cpp-python is missing; a failed export
    (its parity check, a full disk) is reported and leaves a model dir served by transformers."""
    from dataclasses import replace

    from assistant.errors import UserError

    if cfg.train.base == "tiny" or not cfg.train.gguf:
        return
    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gguf") is None:
        console.print("no GGUF written: llama-cpp-python is not installed (`.venv/bin/pip install -e '.[gguf]'`); "
                      "serving uses transformers, slower on a CPU")
        return
    from trainer.export.export import export

    console.print(f"exporting {cfg.train.gguf} GGUF for llama.cpp (train.gguf) ...")
    exported = replace(cfg, export=replace(cfg.export, quant=[cfg.train.gguf]))
    try:
        result = export(model_dir, exported, console=console, keep_unquantized=False)
    except UserError as e:
        console.print(f"[yellow]no GGUF written[/]: {e}; serving uses transformers (retry with `assistant export`)")
        return
    console.print(f"GGUF written: {', '.join(f['file'] for f in result.files)} (served by llama.cpp)")
