"""Fixtures for trainer tests: a small "pretrained" base saved to disk like a Hugging Face model dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.training import tiny

CODE = ["def add(a, b):\n    return a + b\n", "class Box:\n    def __init__(self, v):\n        self.v = v\n"] * 30


@pytest.fixture(scope="session")
def pretrained_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nano Llama with a FIM tokenizer, saved as `save_pretrained` would save a downloaded model."""
    path = tmp_path_factory.mktemp("base") / "nano-base"
    tok = tiny.train_tokenizer(CODE, 400)
    model = tiny.build_model("nano", tok, seed=1)
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
