"""The time box: a run's schedule shortened, before it starts, to fit `train.max_minutes`.

`train.py` calls `fit_time_box` on the assembled Trainer (it measures a micro-step with
`measure_step_seconds` and plans with `steps_that_fit`); a resumed run first takes back its interrupted
schedule with `keep_schedule` and is not fitted again.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainingArguments

from assistant.config import TrainConfig
from trainer.training.batches import EncodedDataset
from trainer.training.encoding import Encoded
from trainer.training.trainer_setup import intervals


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
