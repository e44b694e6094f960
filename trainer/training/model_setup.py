"""The model a run trains: tiny from scratch (full), or a pretrained base with LoRA / QLoRA.

QLoRA is LoRA plus a 4-bit base: `to_bnb_config` adds the quantized load, everything else is shared.
The mappers from our config to library configs are pure functions, tested on their own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from transformers import PreTrainedModel

from assistant.config import TrainConfig
from assistant.errors import UserError
from assistant.models import load_base, load_tokenizer, vocab_of
from assistant.profiles import Profile, resolve_profile
from trainer.training import tiny


@dataclass
class Prepared:
    model: PreTrainedModel
    tokenizer: Any
    profile: Profile
    method: str
    """'full', 'lora' or 'qlora'."""
    built_here: bool
    """True when the base (and its tokenizer) were made by this run (tiny)."""


def resolve_method(cfg: TrainConfig, cuda: bool | None = None) -> str:
    cuda = torch.cuda.is_available() if cuda is None else cuda
    if cfg.method != "auto":
        if cfg.base == "tiny" and cfg.method != "full":
            raise UserError(f"train.method = {cfg.method!r} needs a pretrained base; the tiny base trains in full "
                            "(use --method full, or --base with a Hugging Face model)")
        return cfg.method
    if cfg.base == "tiny":
        return "full"
    return "qlora" if cuda else "lora"


def learning_rate(cfg: TrainConfig, method: str) -> float:
    if cfg.learning_rate > 0:
        return cfg.learning_rate
    if method != "full":
        return 2e-4  # (Q)LoRA
    # From scratch a high rate; a pretrained model fine-tuned in full, a low one. (3e-3 for tiny reached a
    # lower validation loss at 64 steps here but a higher one, 5.81 against 5.28, over the 10-minute box.)
    return 1e-3 if cfg.base == "tiny" else 2e-5


def use_bf16(cfg: TrainConfig) -> bool:
    """bf16 autocast where the hardware runs it fast (CUDA with bf16, or a CPU with AMX/AVX512-BF16)."""
    if cfg.precision != "auto":
        return cfg.precision == "bf16"
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.backends.cpu.get_cpu_capability() in ("AVX512", "AMX") and _cpu_has_bf16()


def _cpu_has_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def to_lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    targets: str | list[str] = "all-linear" if cfg.lora_targets == ["all-linear"] else list(cfg.lora_targets)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM")


def to_bnb_config(cfg: TrainConfig) -> Any:
    """4-bit NF4 with double quantization, bf16 compute: the QLoRA base."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def check_base(cfg: TrainConfig) -> None:
    """Fail before any long work when the method does not fit the base or the base is not on this machine."""
    resolve_method(cfg)
    if cfg.base != "tiny":
        tokenizer = load_tokenizer(cfg.base)
        resolve_profile(cfg.profile, vocab_of(tokenizer), cfg.base)


def prepare(cfg: TrainConfig, corpus: Iterable[str]) -> Prepared:
    """Build or load the model to train. `corpus` (source texts) trains the tiny base's tokenizer."""
    method = resolve_method(cfg)
    if cfg.base == "tiny":
        tokenizer = tiny.train_tokenizer(corpus, tiny.SIZES[cfg.tiny_size].vocab)
        return Prepared(tiny.build_model(cfg.tiny_size, tokenizer, seed=cfg.seed), tokenizer, tiny.PROFILE,
                        method, built_here=True)
    tokenizer = load_tokenizer(cfg.base)
    profile = resolve_profile(cfg.profile, vocab_of(tokenizer), cfg.base)
    if method == "full":
        return Prepared(load_base(cfg.base), tokenizer, profile, method, built_here=False)
    model = load_base(cfg.base, quantization_config=to_bnb_config(cfg) if method == "qlora" else None)
    return Prepared(add_lora(model, cfg, quantized=method == "qlora"), tokenizer, profile, method, built_here=False)


def add_lora(model: PreTrainedModel, cfg: TrainConfig, quantized: bool) -> PreTrainedModel:
    from peft import get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, to_lora_config(cfg))
