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


@pytest.fixture(scope="session")
def plain_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A nano Llama whose tokenizer has no FIM token (like SmolLM2, Llama or GPT-2), tied embeddings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("plain") / "plain-base"
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(CODE, trainers.BpeTrainer(vocab_size=400, min_frequency=2, special_tokens=[tiny.EOS],
                                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                      show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=tiny.EOS, clean_up_tokenization_spaces=False)
    model = tiny.build_model("nano", tok, seed=2)
    model.config.tie_word_embeddings = True
    model.tie_weights()
    model.save_pretrained(str(path))
    tok.save_pretrained(str(path))
    return path
