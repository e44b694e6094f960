"""Batches for the Trainer: encoded examples as a dataset, packed (or padded) into rows by a collator.

`trainer_setup.build_trainer` picks `PackingCollator` when `train.packing` is on (the default) and
`PaddingCollator` otherwise; `bench/train.py` compares the two. `WIDTH_STEP` keeps the tensor shapes few.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset

from trainer.training.encoding import IGNORE, Encoded


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
