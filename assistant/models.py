"""Loading models with transformers and peft: bases for training, model dirs for serving and export.

Every failure a user can cause (a base that is not on this machine, a corrupt adapter, a wrong path)
becomes one `UserError` line that says what to do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from assistant.bases import local_base
from assistant.errors import UserError
from assistant.modeldir import Manifest, read_manifest
from assistant.network import offline_hint
from assistant.profiles import LEFT_TO_RIGHT, Profile, get_profile, resolve_profile


@dataclass
class Loaded:
    model: PreTrainedModel
    tokenizer: Any
    profile: Profile
    manifest: Manifest | None = None
    name: str = ""


def vocab_of(tokenizer: Any) -> set[str]:
    """Every token string of a tokenizer, special ones included (what profile detection looks at)."""
    vocab = set(tokenizer.get_vocab())
    vocab.update(getattr(tokenizer, "all_special_tokens", []))
    return vocab


def _offline_hint(base: str) -> str:
    if Path(base).exists():
        return f"{base} is not a loadable model directory (config.json and safetensors weights expected)"
    return offline_hint(base)


def load_tokenizer(source: str | Path) -> Any:
    """The tokenizer of a base (any kind `assistant.bases` knows) or of a model dir's tokenizer/."""
    source = local_base(str(source))
    try:
        tok = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise UserError(_offline_hint(str(source)) + f" ({type(e).__name__})") from e
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(base: str, dtype: torch.dtype = torch.float32, quantization_config: Any = None) -> PreTrainedModel:
    """A pretrained causal LM by HF id, path, GGUF file or Ollama name, loaded from this machine only when offline."""
    base = local_base(base)
    kwargs: dict[str, Any] = {"dtype": dtype, "use_safetensors": True}  # a pickled .bin can run code when loaded
    if quantization_config is not None:
        kwargs["quantization_config"] = quantization_config
    try:
        return AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except (OSError, ValueError, json.JSONDecodeError) as e:
        raise UserError(_offline_hint(base) + f" ({type(e).__name__})") from e


def load_model_dir(model_dir: Path, profile_setting: str = "auto") -> Loaded:
    """The tuned model of a model dir: full weights, or the base with its LoRA adapter applied."""
    manifest = read_manifest(model_dir)
    tok_dir = model_dir / manifest.tokenizer if manifest.tokenizer else None
    model: PreTrainedModel
    if manifest.kind == "full":
        weights = model_dir / (manifest.weights or "weights")
        if not (weights / "config.json").is_file():
            raise UserError(f"{model_dir}: weights are missing ({weights}); retrain with `assistant train`")
        try:
            model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=torch.float32, use_safetensors=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise UserError(f"{weights} is corrupt ({type(e).__name__}); retrain with `assistant train`") from e
        tokenizer = load_tokenizer(tok_dir or weights)
    else:
        tokenizer = load_tokenizer(tok_dir or manifest.base)
        model = _with_adapter(_fitted(load_base(manifest.base), tokenizer), model_dir / (manifest.adapter or "adapter"))
    model.eval()
    profile = (get_profile(manifest.profile) if profile_setting == "auto"
               else resolve_profile(profile_setting, vocab_of(tokenizer), manifest.base))
    return Loaded(model, tokenizer, profile, manifest, name=f"{manifest.base} + {model_dir}")


def _fitted(model: PreTrainedModel, tokenizer: Any) -> PreTrainedModel:
    """The base with embedding rows for every token of the tuned tokenizer (training added the generic profile's;
    their trained values come with the adapter)."""
    weight = model.get_input_embeddings().weight
    if isinstance(weight, torch.Tensor) and len(tokenizer) > weight.shape[0]:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    return model


def _with_adapter(model: PreTrainedModel, adapter_dir: Path) -> PreTrainedModel:
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise UserError(f"{adapter_dir} holds no adapter (adapter_config.json missing); "
                        "retrain with `assistant train`")
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise UserError(f"{adapter_dir} has no adapter_model.safetensors (this tool loads safetensors only: a pickled "
                        ".bin can run code when loaded); retrain with `assistant train`")
    try:
        return PeftModel.from_pretrained(model, str(adapter_dir))  # type: ignore[return-value]
    except Exception as e:  # peft raises many types for a damaged adapter; all mean the same to a user
        raise UserError(f"{adapter_dir} is a corrupt or mismatched adapter ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:120] if str(e) else ''}); retrain with `assistant train`") from e


def load_base_for_inference(base: str, profile_setting: str = "auto") -> Loaded:
    """A plain base model (no model dir): what the server runs in a workspace not trained yet."""
    tokenizer = load_tokenizer(base)
    model = load_base(base)
    model.eval()
    profile = resolve_profile(profile_setting, vocab_of(tokenizer), base, fallback=LEFT_TO_RIGHT)
    return Loaded(model, tokenizer, profile, name=base)
