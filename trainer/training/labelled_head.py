"""The LM head run only at labelled positions: the loss of completion-only training without the logits it discards.

`trainer_setup.WeightedTrainer` installs a `LabelledHead` on the model it trains and computes its loss with
`LabelledHead.loss`; `selected_positions` says which positions reach the head.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from trainer.training.encoding import IGNORE


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
