"""The Trainer a run trains with: our config mapped onto `TrainingArguments`, and the Trainer assembled.

`train.py` calls `to_training_args` and then `build_trainer`; `intervals` spaces evaluations, checkpoints and
log lines (the time box calls it again when it shortens the schedule). `WeightedTrainer` samples examples by
recency weight and runs the LM head only where labelled (`labelled_head`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import WeightedRandomSampler
from transformers import EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from assistant.config import TrainConfig
from trainer.training.batches import EncodedDataset, PackingCollator, PaddingCollator
from trainer.training.encoding import Encoded
from trainer.training.labelled_head import LabelledHead
from trainer.training.model_setup import Prepared, learning_rate
from trainer.training.progress import RichProgress, TimeLimit


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
