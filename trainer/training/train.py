"""Training: mined examples in, a complete model dir out.

Run it with `assistant train --repo PATH [--base tiny|HF_ID|PATH]`. The steps, top to bottom:
mine (or reuse) the dataset, build or load the model, encode examples with loss only on the middle,
print the plan, train with the transformers Trainer (packed batches, recency-weighted sampling,
validation and early stopping, checkpoints for --resume), then publish the model dir atomically and
prune old runs (`train.keep_runs`). All of it holds the repository's lock: one writer at a time.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console

from assistant import __version__, workspace
from assistant.bases import describe_base
from assistant.config import Config, to_dict
from assistant.errors import UserError
from assistant.modeldir import Manifest, check_replaceable, staged_dir
from trainer.mining.examples import Example
from trainer.mining.git import Repo
from trainer.mining.mine import load_or_mine
from trainer.training.encoding import encode_all
from trainer.training.model_setup import Prepared, check_base, prepare, use_bf16
from trainer.training.plan import count_params, plan_table
from trainer.training.plots import plot_loss
from trainer.training.progress import GracefulStop, RichProgress, RunClock
from trainer.training.runs import Run, prune_runs
from trainer.training.time_box import fit_time_box, keep_schedule
from trainer.training.trainer_setup import build_trainer, to_training_args


@dataclass
class TrainResult:
    model_dir: Path
    manifest: Manifest
    heldout: list[Example]
    """The held-out examples (newest commits, never trained on) for the evaluation that follows."""


def train(repo_path: Path, cfg: Config, model_dir: Path | None = None, resume: bool = False,
          console: Console | None = None) -> TrainResult:
    console = console or Console(stderr=True)
    repo = Repo.open(repo_path)
    with workspace.repo_lock(repo.root, "train --resume" if resume else "train"):  # one writer per repository
        if not resume:
            check_base(cfg.train)
        model_dir = model_dir or workspace.model_dir(repo.root)
        check_replaceable(model_dir)  # before any long work, and never at the cost of a user's directory
        runs_dir = workspace.runs_dir(repo.root)
        run = Run.resume(runs_dir) if resume else Run.create(runs_dir, cfg)
        try:
            result = train_run(repo, run.config if resume else cfg, model_dir, run, console)
        finally:
            run.release()
        pruned = prune_runs(runs_dir, cfg.train.keep_runs)  # as the user's config says now, also on --resume
        if pruned:
            console.print(f"removed {len(pruned)} older run(s) from {runs_dir} (train.keep_runs)")
        return result


def train_run(repo: Repo, cfg: Config, model_dir: Path, run: Run, console: Console) -> TrainResult:
    """One run, from the dataset to the published model dir; `run` is new or the interrupted one resumed (whose
    own config `cfg` is: same data, same model, same schedule)."""
    dataset = load_or_mine(repo, cfg.mine, workspace.data_dir(repo.root), console)
    train_ex, val_ex = validation_split(dataset.train, cfg.train.val_fraction)
    prepared = prepare_or_reload(cfg, train_ex, run)
    enc_train = encode_all(train_ex, prepared.tokenizer, prepared.profile, cfg.train.max_seq_len,
                           cfg.server.suffix_share, cfg.server.snippet_share)
    enc_val = encode_all(val_ex, prepared.tokenizer, prepared.profile, cfg.train.max_seq_len,
                         cfg.server.suffix_share, cfg.server.snippet_share)
    if not enc_train:
        raise UserError("no training example fits in train.max_seq_len; raise it or mine more history")

    args = to_training_args(cfg.train, prepared.method, run.dir, len(enc_train), has_val=bool(enc_val),
                            bf16=use_bf16(cfg.train))
    progress = RichProgress(console)
    stop = GracefulStop(console)
    previous_seconds = run.previous_seconds()  # of an interrupted run being resumed; 0 for a new one
    trainer = build_trainer(prepared, cfg.train, args, enc_train, enc_val, progress,
                            extra_callbacks=[stop, RunClock(run.checkpoint_time, previous_seconds)])
    checkpoint = run.last_checkpoint()  # None for a new run
    if checkpoint:  # the interrupted run's schedule, as the time box fitted it then
        keep_schedule(args, Path(checkpoint))
    step_seconds, note = fit_time_box(trainer, replace(cfg.train, max_minutes=0) if checkpoint else cfg.train,
                                      enc_train)
    console.print(plan_table(prepared, cfg.train, args, enc_train, enc_val, step_seconds, note))
    if checkpoint:
        console.print(f"resuming {run.dir.name} from {Path(checkpoint).name}")
    started = time.monotonic()
    how_to_resume = f"continue with `assistant train --repo {repo.root} --resume`"
    try:
        result = trainer.train(resume_from_checkpoint=checkpoint)
    except KeyboardInterrupt:
        raise UserError(f"training aborted; {how_to_resume} (from the last interval checkpoint)") from None
    if stop.requested:
        raise UserError(f"training stopped at step {trainer.state.global_step} and saved a checkpoint; "
                        f"{how_to_resume}")
    wall = time.monotonic() - started + previous_seconds

    summary = {
        "method": prepared.method,
        "config": to_dict(cfg),
        "examples": {"train": len(enc_train), "validation": len(enc_val)},
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "steps": int(trainer.state.global_step),
        "wall_seconds": round(wall, 1),
        "final_train_loss": progress.train_loss[-1][1] if progress.train_loss else float(result.training_loss),
        "final_val_loss": progress.val_loss[-1][1] if progress.val_loss else None,
        "best_val_loss": trainer.state.best_metric,
        "precision": "bf16" if args.bf16 else "fp32",
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "params": dict(zip(("trainable", "total"), count_params(prepared.model), strict=True)),
        "tool_version": __version__,
    }
    manifest = publish(model_dir, prepared, cfg, summary, dataset.meta, progress)
    run.finish(wall)
    return TrainResult(model_dir, manifest, dataset.heldout)


def validation_split(examples: list[Example], fraction: float) -> tuple[list[Example], list[Example]]:
    """A deterministic slice of the training period for validation loss (by example id, not position)."""
    if fraction <= 0 or len(examples) < 20:
        return examples, []
    cut = int(fraction * 10_000)
    val = [ex for ex in examples if int(ex.key[:8], 16) % 10_000 < cut]
    train = [ex for ex in examples if int(ex.key[:8], 16) % 10_000 >= cut]
    return (train, val) if train and val else (examples, [])


def prepare_or_reload(cfg: Config, train_ex: list[Example], run: Run) -> Prepared:
    """The model to train; a resumed tiny run reuses the tokenizer saved when it started."""
    saved_tokenizer = run.dir / "tokenizer"
    if cfg.train.base == "tiny" and saved_tokenizer.is_dir():
        from assistant.models import load_tokenizer
        from trainer.training import tiny

        tokenizer = load_tokenizer(saved_tokenizer)
        model = tiny.build_model(cfg.train.tiny_size, tokenizer, seed=cfg.train.seed)
        return Prepared(model, tokenizer, tiny.PROFILE, "full", built_here=True)
    prepared = prepare(cfg.train, corpus_of(train_ex))
    if prepared.built_here:
        prepared.tokenizer.save_pretrained(str(saved_tokenizer))
    return prepared


def corpus_of(examples: list[Example]) -> list[str]:
    """One text per (file, commit): what the tiny tokenizer learns its vocabulary from."""
    texts: dict[tuple[str, str], str] = {}
    for ex in examples:
        texts.setdefault((ex.path, ex.commit), ex.prefix + ex.middle + ex.suffix)
    return list(texts.values())


def publish(model_dir: Path, prepared: Prepared, cfg: Config, summary: dict[str, Any], data_meta: dict[str, Any],
            progress: RichProgress) -> Manifest:
    """Write the model dir in a staging dir and swap it into place."""
    check_replaceable(model_dir)  # again: it may have changed during the run
    with staged_dir(model_dir) as tmp:
        model = prepared.model
        if prepared.method == "full":
            model.save_pretrained(str(tmp / "weights"), safe_serialization=True)
        else:
            # Rows for added tokens come with the adapter (trainable tokens); the resized embedding is not saved
            # whole: loading resizes the base the same way (`assistant.models`).
            model.save_pretrained(str(tmp / "adapter"), safe_serialization=True, save_embedding_layers=False)
        if prepared.tokenizer_changed:
            prepared.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        plot_loss(progress.train_loss, progress.val_loss, tmp / "loss.png")
        stats = data_meta.get("stats", {})
        manifest = Manifest(
            base=cfg.train.base if cfg.train.base != "tiny" else f"tiny-{cfg.train.tiny_size}",
            profile=prepared.profile.name,
            kind="full" if prepared.method == "full" else "adapter",
            adapter=None if prepared.method == "full" else "adapter",
            weights="weights" if prepared.method == "full" else None,
            tokenizer="tokenizer" if prepared.tokenizer_changed else None,
            base_source=describe_base(cfg.train.base),
            added_tokens=prepared.tokenizer.convert_ids_to_tokens(prepared.added_tokens),
            trained_on={
                "repo": data_meta.get("repo", ""),
                "head": data_meta.get("head", ""),
                "commit_range": data_meta.get("commit_range", {}),
                "examples": {"train": stats.get("train", 0), "heldout": stats.get("heldout", 0)},
            },
            training=summary,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        (tmp / "model.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest
