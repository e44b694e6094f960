"""Writing GGUF files with the gguf package: a whole model (f16/f32) or a LoRA adapter.

`write_model` takes a merged transformers model and its tokenizer; `write_lora` a PEFT adapter dir.
Callers write to temporary names and rename after the parity check (`trainer.export.export`); quantized copies
come from `trainer.export.quant`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import torch

from assistant.errors import UserError
from assistant.profiles import Profile
from trainer.export.arch import Arch, lora_tensors, model_tensors, write_hparams
from trainer.export.vocab import vocab_from_tokenizer, write_vocab

FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16}


def write_model(path: Path, model: Any, tokenizer: Any, profile: Profile, arch: Arch, outtype: str,
                name: str) -> None:
    """The merged model, its hyperparameters and its full tokenizer as one GGUF file."""
    config = model.config
    vocab = vocab_from_tokenizer(tokenizer, profile, int(config.vocab_size))
    writer = gguf.GGUFWriter(str(path), arch.name)
    try:
        writer.add_name(name)
        write_hparams(writer, config, arch)
        writer.add_file_type(FILE_TYPES[outtype])
        write_vocab(writer, vocab)
        with torch.no_grad():
            for tensor_name, array in model_tensors(model.state_dict(), config, arch, outtype):
                writer.add_tensor(tensor_name, array)
        _finish(writer)
    finally:
        writer.close()


def write_lora(path: Path, adapter_dir: Path, config: Any, arch: Arch, outtype: str, name: str) -> dict[str, Any]:
    """The PEFT adapter in `adapter_dir` as a GGUF LoRA for a base of `config`. Returns what it wrote."""
    from safetensors.torch import load_file

    settings = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if settings.get("peft_type", "LORA") != "LORA" or settings.get("use_dora"):
        raise UserError(f"{adapter_dir} is not a plain LoRA adapter; export the merged model instead "
                        "(without --adapter-only)")
    if settings.get("rank_pattern") or settings.get("alpha_pattern"):
        raise UserError(f"{adapter_dir} uses per-module ranks or alphas, which a GGUF LoRA cannot express; "
                        "export the merged model instead (without --adapter-only)")
    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise UserError(f"{weights} is missing; retrain with `assistant train`")
    state = load_file(str(weights))
    r, alpha = int(settings["r"]), float(settings["lora_alpha"])
    # llama.cpp scales B·A by alpha / r; rank-stabilised LoRA scales by alpha / sqrt(r).
    gguf_alpha = alpha * r**0.5 if settings.get("use_rslora") else alpha
    writer = gguf.GGUFWriter(str(path), arch.name)
    try:
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_name(name)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, gguf_alpha)
        count = 0
        for tensor_name, array in lora_tensors(state, config, arch, outtype):
            writer.add_tensor(tensor_name, array)
            count += 1
        if not count:
            raise UserError(f"{adapter_dir} holds no LoRA weights; retrain with `assistant train`")
        _finish(writer)
    finally:
        writer.close()
    return {"rank": r, "alpha": alpha, "tensors": count}


def _finish(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
