"""Plots people would rather look at than numbers: the loss curve of a run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt


def plot_loss(train: list[tuple[int, float]], val: list[tuple[int, float]], path: Path) -> None:
    """Training (and validation) loss against optimizer steps, saved as a PNG."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        ax.plot(*zip(*train, strict=True), label="train loss", color="#3b6ea8")
    if val:
        ax.plot(*zip(*val, strict=True), label="validation loss", color="#d0743c", marker="o")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (middle tokens only)")
    ax.set_title("training loss")
    ax.grid(alpha=0.3)
    if train or val:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
