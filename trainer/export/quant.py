"""Quantized GGUF copies, made by llama.cpp's own quantizer through llama-cpp-python's low-level API.

`checked_quants` validates the requested types (before any model is loaded: a typo fails in a second);
`quantize` turns an f16/f32 GGUF into q8_0, q4_k_m, ... Small matrices whose rows do not fit a k-quant's
256-wide blocks fall back to a compatible type (llama.cpp's rule), so every type works on every model.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from assistant.errors import UserError


def quant_types() -> dict[str, int]:
    """Quantization names (q8_0, q4_k_m, ...) -> llama.cpp file type, as this llama.cpp build offers them."""
    import llama_cpp

    prefix = "LLAMA_FTYPE_MOSTLY_"
    return {k[len(prefix):].lower(): int(getattr(llama_cpp, k)) for k in dir(llama_cpp)
            if k.startswith(prefix) and not k.endswith(("F16", "BF16", "GUESSED"))}


def checked_quants(names: list[str]) -> list[str]:
    """The requested quantization types, lower-cased, or UserError naming the unknown one and the choices."""
    if not names:
        return []
    try:
        known = quant_types()
    except ImportError as e:
        raise UserError("quantizing needs llama-cpp-python; install it with `.venv/bin/pip install -e '.[gguf]'` "
                        "or pass --quant none") from e
    out = []
    for name in names:
        kind = name.strip().lower()
        if kind not in known:
            raise UserError(f"unknown quantization {name!r}; choose from: {', '.join(sorted(known))}")
        if kind not in out:
            out.append(kind)
    return out


def quantize(source: Path, target: Path, kind: str, threads: int = 0) -> None:
    """llama.cpp's quantizer: `source` (f16/f32 GGUF) -> `target` as `kind` (e.g. q8_0, q4_k_m)."""
    import llama_cpp

    from assistant.llama import quiet_llama_logs

    quiet_llama_logs()  # its per-tensor log would bury our output
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = quant_types()[kind]
    params.nthread = threads
    rc = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if rc != 0:
        raise UserError(f"llama.cpp could not quantize {source.name} to {kind} (status {rc}); try another type")
