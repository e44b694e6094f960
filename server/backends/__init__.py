"""Backends: one Protocol (`base.Backend`), one file per engine, chosen by `server.backend`.

`auto` (the default) picks llama-cpp when the model dir holds a GGUF export (`train` writes a q8_0 one for a
pretrained base) or `server.base` is a .gguf file, and llama-cpp-python is installed; transformers otherwise.

    transformers   the model dir's weights (+ LoRA adapter) in process with torch   transformers_backend.py
    llama-cpp      the model dir's GGUF export in process with llama.cpp          llamacpp_backend.py
    openai         any OpenAI-compatible /v1/completions server                   openai_backend.py

Engines are imported only when chosen: a machine serving with one does not need the others installed.
"""

from __future__ import annotations

from pathlib import Path

from assistant.config import ServerConfig
from assistant.errors import UserError
from server.backends.base import Backend


def chosen_backend(cfg: ServerConfig, model_dir: Path | None) -> str:
    """The engine `cfg.backend` names, with `auto` resolved for this model dir."""
    if cfg.backend != "auto":
        return cfg.backend
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        return "transformers"
    if model_dir is not None and (model_dir / "model.json").exists():
        from assistant.modeldir import read_manifest

        try:
            exported = bool(read_manifest(model_dir).gguf)
        except UserError:
            return "transformers"  # the transformers loader says what is wrong with the model dir
        return "llama-cpp" if exported else "transformers"
    return "llama-cpp" if cfg.base.endswith(".gguf") else "transformers"


def load_backend(cfg: ServerConfig, model_dir: Path | None) -> Backend:
    """Load the engine named by `cfg.backend` with the model dir's model (or `cfg.base` when there is none)."""
    backend = chosen_backend(cfg, model_dir)
    if backend == "transformers":
        trained = model_dir is not None and (model_dir / "model.json").exists()
        if not trained and not cfg.base:  # said before torch is imported (seconds) for nothing
            raise UserError(f"no model to serve: {model_dir or 'this workspace'} has no model dir; "
                            "run `assistant train --repo .` or set server.base")
        from assistant.models import load_base_for_inference, load_model_dir
        from server.backends.transformers_backend import TransformersBackend

        if trained and model_dir is not None:
            return TransformersBackend(load_model_dir(model_dir, cfg.profile), cfg.threads)
        return TransformersBackend(load_base_for_inference(cfg.base, cfg.profile), cfg.threads)
    if backend == "llama-cpp":
        _require("llama_cpp", "llama-cpp")
        from server.backends.llamacpp_backend import load_llamacpp

        return load_llamacpp(cfg, model_dir)
    if backend == "openai":
        from server.backends.openai_backend import load_openai

        return load_openai(cfg, model_dir)
    raise UserError(f"server.backend = {cfg.backend!r} is not available in this installation")


def _require(module: str, backend: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"the {backend} backend needs llama-cpp-python; install it with "
                        "`.venv/bin/pip install -e '.[gguf]'` (README, section GGUF, llama.cpp and Ollama)")
