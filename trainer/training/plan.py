"""The plan printed before training: what is about to happen, with estimates of memory and time.

`train.py` prints `plan_table` after the time box has fixed the schedule, and records `count_params` in
the model's manifest; `estimate_memory_bytes` is a rough sum, not a measurement.
"""

from __future__ import annotations

import torch
from rich.table import Table
from transformers import TrainingArguments

from assistant.config import TrainConfig
from trainer.training.encoding import Encoded
from trainer.training.model_setup import Prepared


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def plan_table(prepared: Prepared, cfg: TrainConfig, args: TrainingArguments, enc_train: list[Encoded],
               enc_val: list[Encoded], step_seconds: float, note: str = "") -> Table:
    """What is about to happen, with estimates of memory and time measured on this machine."""
    trainable, total = count_params(prepared.model)
    tokens = sum(len(e.input_ids) for e in enc_train)
    steps = args.max_steps
    tokens_per_step = tokens / max(1, len(enc_train)) * cfg.batch_size * cfg.grad_accum
    table = Table(title="training plan", show_header=False, box=None)
    rows = [
        ("base", f"{cfg.base}{' (' + cfg.tiny_size + ')' if cfg.base == 'tiny' else ''}"),
        ("method", f"{prepared.method}  profile {prepared.profile.name}"),
        ("parameters", f"{trainable:,} trainable of {total:,} ({100 * trainable / max(1, total):.2f}%)"),
        ("examples", f"{len(enc_train):,} train, {len(enc_val):,} validation"),
        ("tokens", f"{tokens:,} per epoch, {tokens_per_step:,.0f} per step"),
        ("steps", f"{steps:,} (batch {cfg.batch_size} x accumulation {cfg.grad_accum}, lr {args.learning_rate:g})"
                  + (f"; {note}" if note else "")),
        ("precision", "bf16 autocast" if args.bf16 else "fp32"),
        ("memory", f"~{estimate_memory_bytes(prepared.model, cfg) / 2**30:.2f} GiB estimated"),
        ("time", f"~{_fmt_seconds(step_seconds * steps * cfg.grad_accum)} estimated "
                 f"({step_seconds:.2f} s per micro-step, measured)"),
    ]
    for k, v in rows:
        table.add_row(f"[bold]{k}", v)
    return table


def estimate_memory_bytes(model: torch.nn.Module, cfg: TrainConfig) -> int:
    """Weights + gradients and AdamW state of trainable parameters + activations of one packed batch."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    config = getattr(model, "config", None)
    hidden = getattr(config, "hidden_size", 0) or 0
    layers = getattr(config, "num_hidden_layers", 0) or 0
    heads = getattr(config, "num_attention_heads", 1) or 1
    tokens = cfg.batch_size * cfg.max_seq_len
    # Per layer and token: ~34 hidden-sized activations kept for backward, plus the attention scores.
    activations = layers * tokens * (34 * hidden + 5 * heads * cfg.max_seq_len) * 2
    return int(weights + trainable * 4 * 3 + activations)


def _fmt_seconds(s: float) -> str:
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"
