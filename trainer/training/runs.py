"""The pieces of one training run: run dir and resume, Trainer arguments, packing, sampling, the plan.

`.assistant/runs/<id>/` holds run.json (resolved config, status, time spent), checkpoints and, for the
tiny base, the tokenizer the run started with; `--resume` continues the newest unfinished run.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from rich.table import Table
from torch.utils.data import Dataset as TorchDataset
from torch.utils.data import WeightedRandomSampler
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from assistant.config import Config, TrainConfig, set_value, to_dict
from assistant.errors import UserError
from assistant.modeldir import atomic_write_text
from trainer.training.encoding import IGNORE, Encoded
from trainer.training.model_setup import Prepared, learning_rate
from trainer.training.progress import RichProgress, TimeLimit


class Run:
    def __init__(self, run_dir: Path, info: dict[str, Any]) -> None:
        self.dir = run_dir
        self.info = info

    @classmethod
    def create(cls, runs_dir: Path, cfg: Config) -> Run:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + os.urandom(2).hex()
        run = cls(runs_dir / run_id, {"status": "running", "config": to_dict(cfg), "seconds": 0.0,
                                      "started": datetime.now().isoformat(timespec="seconds")})
        run.dir.mkdir(parents=True)
        run._save()
        return run

    @classmethod
    def resume(cls, runs_dir: Path) -> Run:
        """The newest run that did not finish and has a checkpoint, or UserError."""
        candidates = sorted(runs_dir.glob("*/run.json"), reverse=True) if runs_dir.is_dir() else []
        for path in candidates:
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                continue
            run = cls(path.parent, info)
            if info.get("status") == "running" and run.last_checkpoint():
                return run
        raise UserError(f"no interrupted run with a checkpoint in {runs_dir}; start a new run without --resume")

    @property
    def config(self) -> Config:
        cfg = Config()
        for section, values in self.info["config"].items():
            for key, value in values.items():
                set_value(cfg, f"{section}.{key}", value, source=str(self.dir / "run.json"))
        return cfg

    def last_checkpoint(self) -> str | None:
        checkpoints = [p for p in self.dir.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
        if not checkpoints:
            return None
        return str(max(checkpoints, key=lambda p: int(p.name.split("-")[-1])))

    def previous_seconds(self) -> float:
        return float(self.info.get("seconds", 0.0))

    def checkpoint_time(self, seconds: float) -> None:
        self.info["seconds"] = seconds
        self._save()

    def finish(self, seconds: float) -> None:
        self.info.update(status="done", seconds=round(seconds, 1))
        self._save()

    def _save(self) -> None:
        atomic_write_text(self.dir / "run.json", json.dumps(self.info, indent=2) + "\n")


def intervals(cfg: TrainConfig, total: int, has_val: bool, validations: int = 10) -> tuple[int, int, int]:
    """Steps between evaluations, checkpoints and log lines for a schedule of `total` steps with about
    `validations` evaluations (unless the config sets the interval)."""
    eval_every = cfg.eval_every_steps or max(1, total // validations)
    save_every = cfg.save_every_steps or eval_every
    if has_val and save_every % eval_every:
        save_every = eval_every * max(1, round(save_every / eval_every))  # best-model tracking needs alignment
    return eval_every, save_every, max(1, min(10, total // 50))


def to_training_args(cfg: TrainConfig, method: str, run_dir: Path, n_train: int, has_val: bool,
                     bf16: bool) -> TrainingArguments:
    """Our config mapped onto the Trainer's (a pure function of its inputs)."""
    steps_per_epoch = math.ceil(math.ceil(n_train / cfg.batch_size) / cfg.grad_accum)
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    eval_every, save_every, log_every = intervals(cfg, total, has_val)
    return TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=learning_rate(cfg, method),
        lr_scheduler_type="cosine",
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=total,
        logging_steps=log_every,
        eval_strategy="steps" if has_val else "no",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=save_every,
        save_total_limit=2,
        load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None,
        greater_is_better=False if has_val else None,
        bf16=bf16,
        use_cpu=not torch.cuda.is_available(),
        seed=cfg.seed,
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=True,
        save_only_model=False,
    )


class EncodedDataset(TorchDataset):
    def __init__(self, rows: list[Encoded]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return {"input_ids": self.rows[i].input_ids, "labels": self.rows[i].labels}


WIDTH_STEP = 64


class PackingCollator:
    """Packs a batch of examples into as few rows of `capacity` tokens as fit, padding-free inside a row.

    Each example keeps its own position ids (restarting at 0), which is how the model's attention mask
    keeps examples apart (no attention across examples). Only the unused tail of a row is filled: its
    positions continue the row's last example, so a batch whose rows each hold one example keeps the plain
    causal mask (the fast attention path); the causal mask already hides the tail from real tokens, and the
    loss ignores it.
    """

    def __init__(self, capacity: int, pad_id: int) -> None:
        self.capacity = capacity
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        rows: list[list[dict[str, list[int]]]] = []
        space: list[int] = []
        for f in sorted(features, key=lambda f: -len(f["input_ids"])):  # first-fit decreasing
            n = len(f["input_ids"])
            for i, free in enumerate(space):
                if n <= free:
                    rows[i].append(f)
                    space[i] -= n
                    break
            else:
                rows.append([f])
                space.append(self.capacity - n)
        used = max(self.capacity - s for s in space)
        # Widths rounded up to a multiple of 64: a handful of tensor shapes instead of hundreds, so the
        # CPU's bf16 kernels (oneDNN, compiled per shape) are built once and reused.
        width = max(used, min(self.capacity, -(-used // WIDTH_STEP) * WIDTH_STEP))
        ids, labels, positions = [], [], []
        for row in rows:
            r_ids: list[int] = []
            r_labels: list[int] = []
            r_pos: list[int] = []
            for f in row:
                r_ids += f["input_ids"]
                r_labels += f["labels"]
                r_pos += range(len(f["input_ids"]))
            tail = width - len(r_ids)
            ids.append(r_ids + [self.pad_id] * tail)
            labels.append(r_labels + [IGNORE] * tail)
            positions.append(r_pos + list(range(r_pos[-1] + 1, r_pos[-1] + 1 + tail)))
        # The model builds the per-example mask from restarting position ids only when it keeps no KV cache,
        # and the Trainer does not turn the cache off: with it on, examples would attend to the ones before them.
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
                "position_ids": torch.tensor(positions), "use_cache": False}


class PaddingCollator:
    """The plain setup: each example its own row, padded to the longest in the batch (the baseline)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)
        ids = [f["input_ids"] + [self.pad_id] * (width - len(f["input_ids"])) for f in features]
        labels = [f["labels"] + [IGNORE] * (width - len(f["labels"])) for f in features]
        mask = [[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "attention_mask": torch.tensor(mask)}


class LabelledHead:
    """Runs the LM head only where a label follows (the middle), not over the prompt it would discard.

    Completion-only loss ignores most positions (prefix, suffix, sentinels); their logits (batch x length x
    vocabulary) cost compute and, for large vocabularies, most of the peak memory. A pre-hook on the output
    layer keeps just the labelled positions while `only_labelled` is active; the loss then reads `[1, N, V]`
    logits. Outside training the hook passes everything through.

    N is rounded up to a multiple of `HEAD_STEP` with unlabelled positions (their loss is ignored): a few
    tensor shapes, not one per batch, so the CPU's bf16 kernels are built once and reused.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.mask: torch.Tensor | None = None
        head = model.get_output_embeddings()  # type: ignore[operator]
        self.handle = head.register_forward_pre_hook(self._select)

    def _select(self, module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self.mask is None:
            return None
        hidden = args[0]  # [batch, length, hidden]
        return (hidden[self.mask.to(hidden.device)].unsqueeze(0), *args[1:])  # [1, selected, hidden]

    @contextlib.contextmanager
    def only_labelled(self, labels: torch.Tensor) -> Iterator[None]:
        self.mask = selected_positions(labels)
        try:
            yield
        finally:
            self.mask = None

    @staticmethod
    def loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
        """Cross-entropy of the labelled positions; the same value the model's own shifted loss would give."""
        target = next_labels(labels)[selected_positions(labels)].to(outputs["logits"].device)
        logits = outputs["logits"][0].float()  # [selected, vocab]
        total = torch.nn.functional.cross_entropy(logits, target, reduction="sum", ignore_index=IGNORE)
        count = int((target != IGNORE).sum())
        return total / (num_items_in_batch if num_items_in_batch is not None else max(1, count))


HEAD_STEP = 128


def next_labels(labels: torch.Tensor) -> torch.Tensor:
    """The label each position's logit predicts (the next token's), IGNORE past the end of a row."""
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], IGNORE)], dim=1)


def selected_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions whose logits the loss needs, plus the first unlabelled ones up to a multiple of HEAD_STEP."""
    mask = next_labels(labels) != IGNORE
    wanted = min(mask.numel(), -(-int(mask.sum()) // HEAD_STEP) * HEAD_STEP)
    fill = wanted - int(mask.sum())
    if fill > 0:
        flat = mask.view(-1)
        flat[(~flat).nonzero().squeeze(1)[:fill]] = True
    return mask


class WeightedTrainer(Trainer):
    """The Trainer, sampling examples in proportion to their recency weight, with logits only where labelled."""

    def __init__(self, *args: Any, sample_weights: list[float] | None = None, **kwargs: Any) -> None:
        self.head = LabelledHead(kwargs["model"])
        kwargs["compute_loss_func"] = LabelledHead.loss
        super().__init__(*args, **kwargs)
        self.sample_weights = sample_weights

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        with self.head.only_labelled(inputs["labels"]):
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        weights = self.sample_weights
        if not weights or max(weights) == min(weights):
            return super()._get_train_sampler(train_dataset)
        generator = torch.Generator().manual_seed(self.args.seed)
        return WeightedRandomSampler(weights, num_samples=len(weights), replacement=True, generator=generator)


def build_trainer(prepared: Prepared, cfg: TrainConfig, args: TrainingArguments, enc_train: list[Encoded],
                  enc_val: list[Encoded], progress: RichProgress, packing: bool | None = None,
                  extra_callbacks: Sequence[TrainerCallback] = ()) -> Trainer:
    pad_id = prepared.tokenizer.pad_token_id
    packing = cfg.packing if packing is None else packing
    collator = PackingCollator(cfg.max_seq_len, pad_id) if packing else PaddingCollator(pad_id)
    callbacks: list[Any] = [progress, TimeLimit(cfg.max_minutes), *extra_callbacks]
    if enc_val and cfg.patience > 0:
        # An improvement smaller than 1e-3 nats is noise, not progress worth waiting for.
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience, early_stopping_threshold=1e-3))
    trainer = WeightedTrainer(
        model=prepared.model,
        args=args,
        train_dataset=EncodedDataset(enc_train),
        eval_dataset=EncodedDataset(enc_val) if enc_val else None,
        data_collator=collator,
        processing_class=prepared.tokenizer,
        callbacks=callbacks,
        sample_weights=[e.weight for e in enc_train],
    )
    trainer.remove_callback(PrinterCallback)  # the rich progress shows loss; no raw dicts on the terminal
    return trainer


def count_params(model: torch.nn.Module) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def fit_time_box(trainer: Trainer, cfg: TrainConfig, enc_train: list[Encoded]) -> tuple[float, str]:
    """Measure a micro-step here, and shorten the schedule so that the run fits `cfg.max_minutes`.

    Warmup and cosine decay then complete inside the time box instead of stopping halfway at a high learning
    rate (TimeLimit still stops a run that goes slower than measured). Returns the seconds of a micro-step
    and a note for the plan ('' when nothing was cut).
    """
    sample = enc_train[: cfg.batch_size]
    measure_step_seconds(trainer, sample)  # the first step pays one-time costs (allocations, kernel choice)
    step_seconds = measure_step_seconds(trainer, sample)
    args = trainer.args
    planned = args.max_steps
    if cfg.max_minutes <= 0:
        return step_seconds, ""
    validation = trainer.eval_dataset
    fits, validations = steps_that_fit(cfg, step_seconds,
                                       len(validation) if isinstance(validation, EncodedDataset) else 0)
    if fits >= planned:
        return step_seconds, ""
    if cfg.max_steps:  # asked for by number: kept, but the time box still ends the run
        return step_seconds, (f"about {fits:,} fit in train.max_minutes = {cfg.max_minutes:g}, where training "
                              "stops; --max-minutes 0 runs them all")
    args.max_steps = fits  # the Trainer builds its schedule from these when training starts
    # (checkpoints kept on evaluation steps whether or not there is a validation slice: ten without one)
    args.eval_steps, args.save_steps, args.logging_steps = intervals(cfg, fits, has_val=True,
                                                                     validations=validations or 10)
    return step_seconds, (f"cut from {planned:,} to fit train.max_minutes = {cfg.max_minutes:g} "
                          f"({fits / planned:.0%} of {cfg.epochs:g} epochs; --max-minutes 0 runs them all)")


VALIDATION_SHARE = 0.15
"""Most of a time box validations may take; fewer than ten validations run when they would take more."""


def steps_that_fit(cfg: TrainConfig, step_seconds: float, n_val: int) -> tuple[int, int]:
    """Optimizer steps that fit in `cfg.max_minutes`, and how many validations on `n_val` examples run in it.

    A validation batch is a forward pass, about a third of a measured forward and backward. Validations run up
    to ten times, within `VALIDATION_SHARE` of the box (at least once); 90% of the box is planned, for the
    optimizer steps, checkpoints and log lines outside the measurement.
    """
    box = cfg.max_minutes * 60
    one = math.ceil(n_val / cfg.batch_size) * step_seconds / 3
    validations = 0 if n_val == 0 else max(1, min(10, int(box * VALIDATION_SHARE / one)))
    budget = box * 0.9 - validations * one
    return max(1, int(budget / (step_seconds * cfg.grad_accum))), validations


def keep_schedule(args: TrainingArguments, checkpoint: Path) -> None:
    """Resume on the schedule the interrupted run had (its step count may have been fitted to a time box)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    for key in ("max_steps", "eval_steps", "save_steps", "logging_steps"):
        if isinstance(state.get(key), int) and state[key] > 0:
            setattr(args, key, state[key])


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


def measure_step_seconds(trainer: Trainer, sample: list[Encoded]) -> float:
    """Time one forward and backward pass of a real batch (gradients discarded)."""
    model = trainer.model
    assert model is not None and trainer.data_collator is not None
    batch = trainer.data_collator([{"input_ids": e.input_ids, "labels": e.labels} for e in sample])
    batch = {k: v.to(trainer.args.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    model.train()
    dtype = torch.bfloat16 if trainer.args.bf16 else torch.float32
    started = time.perf_counter()
    with torch.autocast(device_type=trainer.args.device.type, dtype=dtype, enabled=trainer.args.bf16):
        loss = trainer.compute_loss(model, batch)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    seconds = time.perf_counter() - started
    model.zero_grad(set_to_none=True)
    return seconds


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

