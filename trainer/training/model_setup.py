"""The model a run trains: tiny from scratch (full), or a pretrained base with LoRA / QLoRA.

QLoRA is LoRA plus a 4-bit base: `to_bnb_config` adds the quantized load, everything else is shared.
The mappers from our config to library configs are pure functions, tested on their own. A base without FIM
tokens gets the `generic` profile's as new special tokens (`add_profile_tokens`): new embedding rows start at
the mean embedding and are trained with the adapter (peft's trainable tokens, which follow tied weights).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PreTrainedModel

from assistant.config import TrainConfig
from assistant.errors import UserError
from assistant.models import load_base, load_tokenizer, vocab_of
from assistant.profiles import GENERIC, Profile, missing_tokens, resolve_profile
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
    added_tokens: list[int] = field(default_factory=list)
    """Ids of the profile's tokens this run added to the base's tokenizer (the generic profile)."""

    @property
    def tokenizer_changed(self) -> bool:
        """The model dir must carry the tokenizer: it was built here or tokens were added to it."""
        return self.built_here or bool(self.added_tokens)


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


def to_lora_config(cfg: TrainConfig, trainable_tokens: list[int] | None = None) -> Any:
    """LoRA on the configured modules; `trainable_tokens` are embedding rows trained in full beside it."""
    from peft import LoraConfig

    targets: str | list[str] = "all-linear" if cfg.lora_targets == ["all-linear"] else list(cfg.lora_targets)
    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=targets, bias="none", task_type="CAUSAL_LM",
                      trainable_token_indices=list(trainable_tokens) if trainable_tokens else None)


def to_bnb_config(cfg: TrainConfig) -> Any:
    """4-bit NF4 with double quantization, bf16 compute: the QLoRA base."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def check_base(cfg: TrainConfig) -> None:
    """Fail before any long work when the method does not fit the base, the base is not on this machine, or the
    profile needs tokens the base's tokenizer lacks (a run that could never be served or exported)."""
    resolve_method(cfg)
    if cfg.base != "tiny":
        base_profile(cfg, load_tokenizer(cfg.base))


def base_profile(cfg: TrainConfig, tokenizer: Any) -> Profile:
    """The profile to train a pretrained base with: its family's, else `generic` (tokens added)."""
    vocab = vocab_of(tokenizer)
    profile = resolve_profile(cfg.profile, vocab, cfg.base, fallback=GENERIC)
    missing = [] if profile.adds_tokens else missing_tokens(profile, vocab)
    if missing:
        raise UserError(f"train.profile = {profile.name!r} needs tokens the tokenizer of {cfg.base} does not have as "
                        f"one token ({', '.join(missing)}); use --profile auto (or generic, which adds its own)")
    return profile


def prepare(cfg: TrainConfig, corpus: Iterable[str]) -> Prepared:
    """Build or load the model to train. `corpus` (source texts) trains the tiny base's tokenizer."""
    method = resolve_method(cfg)
    if cfg.base == "tiny":
        tokenizer = tiny.train_tokenizer(corpus, tiny.SIZES[cfg.tiny_size].vocab)
        return Prepared(tiny.build_model(cfg.tiny_size, tokenizer, seed=cfg.seed), tokenizer, tiny.PROFILE,
                        method, built_here=True)
    tokenizer = load_tokenizer(cfg.base)
    profile = base_profile(cfg, tokenizer)
    model = load_base(cfg.base, quantization_config=to_bnb_config(cfg) if method == "qlora" else None)
    added = add_profile_tokens(model, tokenizer, profile) if profile.adds_tokens else []
    if method != "full":
        model = add_lora(model, cfg, quantized=method == "qlora", trainable_tokens=added)
    return Prepared(model, tokenizer, profile, method, built_here=False, added_tokens=added)


def add_lora(model: PreTrainedModel, cfg: TrainConfig, quantized: bool,
             trainable_tokens: list[int] | None = None) -> PreTrainedModel:
    from peft import get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, to_lora_config(cfg, trainable_tokens))


def add_profile_tokens(model: PreTrainedModel, tokenizer: Any, profile: Profile) -> list[int]:
    """Add the profile's tokens the tokenizer lacks as special tokens; their new embedding rows (input, and
    output where it is not tied) start at the mean of the existing rows. Returns their ids."""
    new = [t for t in profile.tokens if t not in tokenizer.get_vocab()]
    if not new:
        return []
    tokenizer.add_tokens(new, special_tokens=True)
    ids = [int(i) for i in tokenizer.convert_tokens_to_ids(new)]
    rows = embedding_rows(model)
    if max(ids) >= rows:
        model.resize_token_embeddings(max(ids) + 1, mean_resizing=False)
    layers = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    with torch.no_grad():
        for weight in {id(m.weight): m.weight for m in layers}.values():  # once per tensor: tied ones share one
            assert isinstance(weight, torch.Tensor)  # (vocab, hidden)
            weight[ids] = weight[:rows].float().mean(dim=0).to(weight.dtype)
    return ids


def embedding_rows(model: PreTrainedModel) -> int:
    """How many token rows the model's input embedding has (at least the tokenizer's length, often more)."""
    weight = model.get_input_embeddings().weight
    assert isinstance(weight, torch.Tensor)
    return int(weight.shape[0])
