"""The `tiny` base: a small Llama-architecture code model built here from scratch.

It makes the whole pipeline run offline, on a CPU, in minutes: a byte-level BPE tokenizer is trained on
the repository's own code (with FIM, end and pad special tokens), then a randomly initialised Llama of
one of `SIZES` is trained in full on the mined examples.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from assistant.profiles import PROFILES

EOS = "<|endoftext|>"
PAD = "<pad>"
PROFILE = PROFILES["tiny-spm"]
"""How a tiny base is prompted (model dirs made before it record the older "tiny", prefix first)."""
SPECIAL_TOKENS = [EOS, PAD, "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"]


@dataclass(frozen=True)
class TinySize:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int


SIZES: dict[str, TinySize] = {
    # ~0.3M parameters: trains in seconds, for tests.
    "nano": TinySize(hidden=64, layers=2, heads=4, intermediate=192, vocab=2048),
    # ~1.5M: a quick look at a repository.
    "micro": TinySize(hidden=128, layers=4, heads=4, intermediate=384, vocab=4096),
    # ~7M: the default, learns a repository's idioms in a few minutes on a CPU.
    "small": TinySize(hidden=256, layers=6, heads=8, intermediate=768, vocab=8192),
    # ~35M: a fast CPU student for distillation from a large teacher.
    "base": TinySize(hidden=512, layers=8, heads=8, intermediate=1536, vocab=16384),
}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer learned from `texts`, with the tiny profile's special tokens."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=SPECIAL_TOKENS[2:],
        clean_up_tokenization_spaces=False,
    )


def build_model(size: str, tokenizer: PreTrainedTokenizerFast, seed: int = 0,
                max_positions: int = 4096) -> LlamaForCausalLM:
    """A randomly initialised Llama of the named size, its vocabulary matching `tokenizer`."""
    s = SIZES[size]
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden,
        intermediate_size=s.intermediate,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        num_key_value_heads=s.heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)
