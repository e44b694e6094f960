"""Architecture mapping for GGUF export: hyperparameters and tensors under llama.cpp's names and layouts.

Supported: llama (the tiny base, CodeLlama, DeepSeek-Coder), qwen2 (Qwen2.5-Coder) and starcoder2. Tensor
names come from the gguf package's name maps (`gguf.get_tensor_name_map`); a tensor the map does not know
fails the export. The one layout change is llama's Q and K rows: transformers keeps each head's rotary
dimensions as two halves (rotated by `rotate_half`), while llama.cpp's llama rope (type "norm") rotates
adjacent pairs, so the rows are interleaved on the way out (`permute_qk`). qwen2 and starcoder2 use the
"neox" rope, which is the halves layout, and need no change.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np
import torch

from assistant.errors import UserError


@dataclass(frozen=True)
class Arch:
    model_type: str
    """transformers' `config.model_type`."""
    gguf_arch: gguf.MODEL_ARCH
    interleaved_rope: bool
    """llama.cpp rotates adjacent pairs (llama): Q/K rows must be permuted."""
    layer_norm: bool
    """LayerNorm with bias (starcoder2) instead of RMSNorm."""
    activations: tuple[str, ...]
    """`hidden_act` values llama.cpp's graph for the architecture computes."""

    @property
    def name(self) -> str:
        return gguf.MODEL_ARCH_NAMES[self.gguf_arch]


ARCHS: dict[str, Arch] = {
    "llama": Arch("llama", gguf.MODEL_ARCH.LLAMA, interleaved_rope=True, layer_norm=False, activations=("silu",)),
    "qwen2": Arch("qwen2", gguf.MODEL_ARCH.QWEN2, interleaved_rope=False, layer_norm=False, activations=("silu",)),
    "starcoder2": Arch("starcoder2", gguf.MODEL_ARCH.STARCODER2, interleaved_rope=False, layer_norm=True,
                       activations=("gelu_pytorch_tanh", "gelu_new", "gelu_fast")),
}


def arch_of(config: Any) -> Arch:
    """The supported architecture of a transformers config, or one UserError line."""
    arch = ARCHS.get(getattr(config, "model_type", ""))
    if arch is None:
        raise UserError(f"cannot export a {config.model_type!r} model to GGUF; supported architectures: "
                        f"{', '.join(ARCHS)}")
    act = getattr(config, "hidden_act", None)
    if act not in arch.activations:
        raise UserError(f"cannot export a {arch.model_type} model with activation {act!r} to GGUF; llama.cpp "
                        f"computes {', '.join(arch.activations)} for this architecture")
    if arch.model_type == "starcoder2" and not getattr(config, "use_bias", True):
        raise UserError("cannot export a starcoder2 model without biases (use_bias = false) to GGUF")
    return arch


def head_counts(config: Any) -> tuple[int, int, int]:
    """(query heads, key/value heads, head dim)."""
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return heads, kv_heads, head_dim


def write_hparams(writer: gguf.GGUFWriter, config: Any, arch: Arch) -> None:
    heads, kv_heads, head_dim = head_counts(config)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    if head_dim != config.hidden_size // heads:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    writer.add_rope_dimension_count(head_dim)
    theta, scaling = _rope(config)
    writer.add_rope_freq_base(theta)
    if scaling is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(scaling)
    if arch.layer_norm:
        writer.add_layer_norm_eps(float(config.norm_epsilon))
    else:
        writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))


def _rope(config: Any) -> tuple[float, float | None]:
    """(rope theta, linear scaling factor or None); other scalings are not exported."""
    params = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", None) or 10000.0)
    kind = params.get("rope_type", params.get("type", "default"))
    if kind == "default":
        return float(theta), None
    if kind == "linear":
        return float(theta), float(params["factor"])
    raise UserError(f"cannot export rope scaling {kind!r} to GGUF; supported: none, linear")


def permute_qk(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Per head, rows [x0..x(d/2-1), y0..y(d/2-1)] -> [x0, y0, x1, y1, ...] (halves to adjacent pairs).

    weight: (n_heads * head_dim, in_features) or a bias (n_heads * head_dim,).
    """
    rest = weight.shape[1:]
    per_head = weight.reshape(n_heads, 2, weight.shape[0] // n_heads // 2, *rest)  # (heads, half, d/2, ...)
    return per_head.transpose(1, 2).reshape(weight.shape)


def name_map(config: Any, arch: Arch) -> gguf.TensorNameMap:
    return gguf.get_tensor_name_map(arch.gguf_arch, int(config.num_hidden_layers))


def gguf_name(names: gguf.TensorNameMap, hf_name: str, arch: Arch) -> str:
    name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise UserError(f"cannot export tensor {hf_name!r}: llama.cpp's {arch.name} architecture has no place "
                        "for it (a modified model?)")
    return name


def model_tensors(state: dict[str, torch.Tensor], config: Any, arch: Arch, outtype: str
                  ) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, array) for every tensor of a merged model, in llama.cpp's layout and `outtype`."""
    names = name_map(config, arch)
    heads, kv_heads, _ = head_counts(config)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    for hf_name, tensor in state.items():
        if tied and hf_name == "lm_head.weight":
            continue  # llama.cpp reuses token_embd when output.weight is absent
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # recomputed by llama.cpp from rope theta
        data = tensor.detach().to(torch.float32)
        if arch.interleaved_rope:
            data = _to_interleaved(hf_name, data, heads, kv_heads)
        yield gguf_name(names, hf_name, arch), to_array(data, outtype)


def _to_interleaved(hf_name: str, data: torch.Tensor, heads: int, kv_heads: int) -> torch.Tensor:
    if hf_name.endswith(("q_proj.weight", "q_proj.bias")):
        return permute_qk(data, heads)
    if hf_name.endswith(("k_proj.weight", "k_proj.bias")):
        return permute_qk(data, kv_heads)
    return data


def to_array(data: torch.Tensor, outtype: str) -> np.ndarray:
    """Matrices in `outtype`; vectors (norms, biases) stay f32, as llama.cpp's kernels expect."""
    if outtype == "f16" and data.dim() >= 2:
        return data.to(torch.float16).numpy()
    return data.numpy()


def lora_tensors(adapter: dict[str, torch.Tensor], config: Any, arch: Arch, outtype: str
                 ) -> Iterator[tuple[str, np.ndarray]]:
    """(GGUF name, array) pairs `<base tensor>.lora_a` / `.lora_b` for a PEFT LoRA state dict.

    lora_A is (r, in) and lora_B (out, r), the shapes llama.cpp expects. For llama's Q and K the base rows
    are permuted, and W + B·A keeps that layout only if B's rows are permuted the same way.
    """
    names = name_map(config, arch)
    heads, kv_heads, _ = head_counts(config)
    for key in sorted(adapter):
        if ".lora_A." in key or ".lora_B." in key:
            continue
        raise UserError(f"the adapter holds {key!r}, which a GGUF LoRA cannot carry (trained embeddings, "
                        "DoRA or saved modules); export the merged model instead (without --adapter-only)")
    for key in sorted(k for k in adapter if ".lora_A." in k):
        module = key.split(".lora_A.")[0]
        b = adapter.get(key.replace(".lora_A.", ".lora_B."))
        if b is None:
            raise UserError(f"the adapter has {key!r} but no matching lora_B; it is damaged (retrain)")
        hf_name = module.removeprefix("base_model.model.") + ".weight"
        a32, b32 = adapter[key].to(torch.float32), b.to(torch.float32)
        if arch.interleaved_rope:
            b32 = _to_interleaved(hf_name, b32, heads, kv_heads)
        base = gguf_name(names, hf_name, arch)
        yield base + ".lora_a", to_array(a32, outtype)
        yield base + ".lora_b", to_array(b32, outtype)
